package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/process"
	"github.com/maptask/maptask/internal/testenv"
)

// TestMain makes this test binary its own worker: a process the backend starts
// runs its elements inside maptask.Init and exits.
func TestMain(m *testing.M) {
	maptask.Init()
	// The S3 client's idle keep-alive connections belong to the HTTP transport.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
	os.Exit(0)
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return process.New() })
}

// TestConformanceS3 runs the suite with the store in a real S3-compatible
// server: the driver and every worker process read and write through it.
func TestConformanceS3(t *testing.T) {
	testenv.S3URL(t) // fails under CI when the server is missing
	backendtest.RunWithStore(t, func(*testing.T) backend.Backend { return process.New() }, func(t *testing.T) string { return testenv.S3URL(t) })
}

var innerTask = maptask.NewTask("process_test.inner", func(_ context.Context, x int) (int, error) { return x, nil })

// nested runs in a worker: it reports what of the worker protocol it can see,
// and tries to start a map on a worker backend of its own.
var nested = maptask.NewTask("process_test.nested", func(ctx context.Context, _ int) (string, error) {
	for _, v := range []string{"MAPTASK_WORKER", "MAPTASK_STORE_URL", "MAPTASK_WRITER", "AWS_SECRET_ACCESS_KEY"} {
		if val, ok := os.LookupEnv(v); ok {
			return "", fmt.Errorf("the task sees %s=%s", v, val)
		}
	}
	if _, err := maptask.Map(ctx, innerTask, []int{1}); err != nil {
		return "", fmt.Errorf("an in-process map in a worker failed: %w", err)
	}
	_, err := maptask.Map(ctx, innerTask, []int{1}, maptask.Backend(process.New()))
	if err == nil {
		return "", errors.New("a nested map on the process backend was started")
	}
	return err.Error(), nil
})

// A task in a worker sees neither the worker protocol's variables nor the
// store's credentials, may map in-process, and cannot start a worker backend.
func TestWorkerTasksAreContained(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-for-tasks")
	res, err := maptask.Map(context.Background(), nested, []int{0}, maptask.Backend(process.New()),
		maptask.StoreURL(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.At(0).Value; !strings.Contains(got, "cannot start a map on a worker backend") {
		t.Fatalf("nested map: %q", got)
	}
}

// TestDefaultBatchSize: about two batches per slot of the concurrency, at
// least one element, at most 65,536.
func TestDefaultBatchSize(t *testing.T) {
	b := &process.Backend{MaxProcesses: 4}
	for _, c := range []struct{ n, concurrency, want int }{
		{100_000, 8, 6250},
		{100_001, 8, 6251},
		{10, 8, 1},
		{0, 8, 1},
		{-1, 8, 1},
		{1000, 0, 125}, // unbounded: MaxProcesses slots
		{100_000_000, 8, 1 << 16},
	} {
		if got := b.DefaultBatchSize(c.n, c.concurrency); got != c.want {
			t.Errorf("DefaultBatchSize(%d, %d) = %d, want %d", c.n, c.concurrency, got, c.want)
		}
		if got := backend.BatchSizeFor(b, c.n, c.concurrency); got != c.want {
			t.Errorf("BatchSizeFor(%d, %d) = %d, want %d", c.n, c.concurrency, got, c.want)
		}
	}
}
