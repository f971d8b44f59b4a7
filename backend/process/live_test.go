package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/process"
)

// gated runs in a worker process: it marks its start in dir, then waits for
// its go file.
type gatedInput struct {
	Dir string
	X   int
}

var gated = maptask.NewTask("process_test.gated", func(ctx context.Context, in gatedInput) (int, error) {
	if err := os.WriteFile(filepath.Join(in.Dir, "start-"+strconv.Itoa(in.X)), nil, 0o600); err != nil {
		return 0, err
	}
	for {
		if _, err := os.Stat(filepath.Join(in.Dir, "go-"+strconv.Itoa(in.X))); err == nil {
			return in.X, nil
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
})

// A running map's bound changed through a Control: the process backend
// starts more worker processes at once on a raise, and on a lower bound lets
// the running ones finish and starts nothing until fewer run.
func TestLiveConcurrencyChange(t *testing.T) {
	dir := t.TempDir()
	inputs := make([]gatedInput, 12)
	for i := range inputs {
		inputs[i] = gatedInput{dir, i}
	}
	var c maptask.Control
	done := make(chan error, 1)
	go func() {
		_, err := maptask.Map(context.Background(), gated, inputs, maptask.Backend(process.New()), maptask.StoreURL(t.TempDir()),
			maptask.Concurrency(1), maptask.BatchSize(1), maptask.WithControl(&c))
		done <- err
	}()
	started := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "start-*"))
		return len(m)
	}
	release := func(xs ...int) {
		for _, x := range xs {
			if err := os.WriteFile(filepath.Join(dir, "go-"+strconv.Itoa(x)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	settle := func(want int, step string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for started() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d started, want %d", step, started(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // a launch beyond the bound would show here
		if got := started(); got != want {
			t.Fatalf("%s: %d started, want %d", step, got, want)
		}
	}
	settle(1, "bound 1")
	if err := c.SetConcurrency(4); err != nil { // the map runs: one element started
		t.Fatal(err)
	}
	settle(4, "raised to 4")
	if err := c.SetConcurrency(2); err != nil {
		t.Fatal(err)
	}
	release(0, 1) // 2 of the 4 end: 2 still run, which the bound allows, so none starts
	settle(4, "lowered to 2, two ended")
	release(2) // 1 runs: one more starts
	settle(5, "lowered to 2, three ended")
	release(3, 4, 5, 6, 7, 8, 9, 10, 11)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
