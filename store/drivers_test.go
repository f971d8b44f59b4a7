package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/maptask/maptask/store"
)

// A cloud URL whose driver the program does not link is an error naming the
// import that links it. (This test binary links s3, through testenv; gs is
// linked by nothing in the module.)
func TestOpenWithoutDriver(t *testing.T) {
	_, err := store.Open(context.Background(), "gs://bucket/prefix")
	if !errors.Is(err, store.ErrNoDriver) || !strings.Contains(err.Error(), `import _ "gocloud.dev/blob/gcsblob"`) ||
		!strings.Contains(err.Error(), "gs://bucket/prefix") {
		t.Fatalf("Open: %v", err)
	}
}
