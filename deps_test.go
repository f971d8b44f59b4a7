package maptask_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/store"
)

// A program that imports only maptask links no cloud SDK: the S3 driver is
// opt-in (package store/s3), and an s3:// store without it is an error naming
// the import to add.
func TestS3DriverIsOptIn(t *testing.T) {
	res, err := maptask.Map(context.Background(), counted, []int{1}, maptask.Execution("x"),
		maptask.StoreURL("s3://bucket?region=us-east-1"))
	if !errors.Is(err, store.ErrNoDriver) || !strings.Contains(err.Error(), `import _ "github.com/maptask/maptask/store/s3"`) {
		t.Fatalf("err %v", err)
	}
	if res == nil || res.Len() != 0 {
		t.Fatalf("results %v, want empty", res)
	}

	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the package's dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/maptask/maptask").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/aws/") || strings.HasPrefix(p, "gocloud.dev/blob/s3blob") ||
			strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "github.com/spf13/cobra") {
			t.Errorf("package maptask depends on %s", p)
		}
	}
}
