// Package testenv finds the real services tests run against (started by hack/).
// A test that needs one fails when CI=true and it is missing, and skips on a
// developer's machine.
package testenv

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/maptask/maptask/store/s3" // S3URL's stores: every test that uses one links the driver
)

// Require fails the test under CI, or skips it elsewhere, when a service is missing.
func Require(t testing.TB, service, how string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available: %s", service, how)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var seq atomic.Int64

// S3URL returns a store URL in the test S3 server's bucket, under a prefix of
// its own, from $MAPTASK_TEST_S3_URL (set by `eval "$(hack/s3.sh start)"`).
func S3URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("MAPTASK_TEST_S3_URL")
	if base == "" {
		Require(t, "an S3-compatible server", "run `eval \"$(hack/s3.sh start)\"` or `make test`")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("MAPTASK_TEST_S3_URL: %v", err)
	}
	q := u.Query()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	q.Set("prefix", fmt.Sprintf("t/%s-%d-%d/", name, time.Now().UnixNano(), seq.Add(1)))
	u.RawQuery = q.Encode()
	return u.String()
}
