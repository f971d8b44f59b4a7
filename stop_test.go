package maptask_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
)

// brokenBackend fails at once, before it takes any attempt.
type brokenBackend struct{}

func (brokenBackend) Name() string { return "broken" }
func (brokenBackend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	return errors.New("boom")
}

// A MapSeq whose backend fails: the producer goes on adding elements after
// Run has sealed the stream and decided the verdict, so Seal takes them in
// afterwards. They stay Pending, with no error, and end up in
// MapError.Failures (beyond Total) with a nil error: Error() panics.
func TestMapSeqBackendErrorFailures(t *testing.T) {
	seq := func(yield func(int) bool) {
		for i := range 5 {
			if !yield(i) {
				return
			}
		}
	}
	_, err := maptask.MapSeq(context.Background(), counted, seq, maptask.Backend(brokenBackend{}))
	var me *maptask.MapError
	if !errors.As(err, &me) {
		t.Fatalf("err %v, want a *MapError", err)
	}
	for i, ferr := range me.Failures {
		if i >= me.Total || ferr == nil {
			t.Errorf("Failures[%d] = %v with Total %d: an element beyond the map, or without an error", i, ferr, me.Total)
		}
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("MapError.Error() panicked: %v", p)
			}
		}()
		_ = me.Error()
	}()
}

var cancelAfter atomic.Int64

var cancelRunTask = maptask.NewTask("test.stop.cancel", func(ctx context.Context, x int) (int, error) {
	if ctx.Err() != nil {
		cancelAfter.Add(1) // launched after the map was cancelled
	}
	if f, ok := ctx.Value(cancelRunKey{}).(func()); ok && x == 50000 {
		f()
	}
	return x, nil
})

type cancelRunKey struct{}

// Cancelling a map stops launching: an in-process worker running a batch of
// short attempts must not start the rest of its run of 64 (InvokeRun) after
// the cancellation. Each worker may have one attempt past its check.
func TestCancelStopsRunOfShortAttempts(t *testing.T) {
	const workers = 4
	for round := range 3 {
		cancelAfter.Store(0)
		ctx, cancel := context.WithCancel(context.Background())
		ctx = context.WithValue(ctx, cancelRunKey{}, func() { cancel() })
		in := make([]int, 200000)
		for i := range in {
			in[i] = i
		}
		_, err := maptask.Map(ctx, cancelRunTask, in, maptask.Concurrency(workers))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: err %v, want a cancellation", round, err)
		}
		if n := cancelAfter.Load(); n > workers {
			t.Fatalf("round %d: %d attempts launched after the map was cancelled (at most %d expected)", round, n, workers)
		}
	}
}
