package inprocess_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/engine"
)

// lowerer lowers the bound to 1 from inside the attempt of element k of
// each round, and counts the attempts that start while it still runs.
type lowerer struct {
	eng      *engine.Engine
	ks       map[int]bool
	inK      atomic.Bool
	launched atomic.Int64 // attempts started while an element of ks ran at bound 1
}

func (l *lowerer) Invoke(ctx context.Context, a backend.Attempt) error {
	if !l.ks[a.Index] {
		if l.inK.Load() {
			l.launched.Add(1)
		}
		// A short attempt (well under the batch threshold), so that the
		// other worker is almost always inside a batch.
		for t := time.Now(); time.Since(t) < 2*time.Microsecond; {
		}
		return nil
	}
	one, two := 1, 2
	if err := l.eng.Update(engine.Change{Concurrency: &one}); err != nil {
		return err
	}
	before := l.launched.Load()
	l.inK.Store(true)
	// The other worker may finish the attempt it had begun; it must start no
	// other while this one runs (1 running, bound 1).
	deadline := time.Now().Add(100 * time.Millisecond)
	for l.launched.Load()-before < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	l.inK.Store(false)
	return l.eng.Update(engine.Change{Concurrency: &two})
}

// A lower bound launches nothing until fewer than it run: a worker holding a
// batch of short attempts must not go on starting them once the bound is
// lowered below the attempts running.
func TestLowerBoundStopsBatches(t *testing.T) {
	const n = 100000
	eng, err := engine.New(engine.Config{N: n, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	l := &lowerer{eng: eng, ks: map[int]bool{20000: true, 50000: true, 80000: true}}
	sum := eng.Run(context.Background(), inprocess.New(), &backend.Job{Task: "lower", Concurrency: 2, Invoker: l, N: n, BatchSize: inprocess.MaxBatch})
	if !sum.Success {
		t.Fatalf("verdict %+v", sum)
	}
	// Each round, the other worker may have one attempt past its last look at the bound.
	if got := l.launched.Load(); got > int64(len(l.ks)) {
		t.Fatalf("%d attempts started after the bound was lowered to 1 while 1 ran (at most %d expected)", got, len(l.ks))
	}
}
