package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/engine"
)

// Batches of attempts keep the early stop as tight as one attempt at a time:
// a batch stops short at a failure, so nothing begins after the verdict
// beyond what other slots were running, and the deciding failure's retries
// come before the rest of its batch.
func TestBatchesKeepTheEarlyStop(t *testing.T) {
	for _, c := range []int{1, 2, 4} {
		plan := make([]string, 2000)
		plan[1500] = "p"
		s := &script{plan: plan}
		observe := func(ev engine.Event) {
			if ev.Kind == engine.EventFinished && ev.Attempt.Index == 1500 {
				s.verdict.Store(true)
			}
		}
		e, sum := runBatches(t, engine.Config{Concurrency: c, Observe: observe}, s, inprocess.MaxBatch)
		if !errors.Is(sum.Cause, engine.ErrStopped) || sum.Success || sum.Failed != 1 {
			t.Fatalf("c=%d: summary %+v", c, sum)
		}
		if got := s.late.Load(); got > int64(c) {
			t.Fatalf("c=%d: %d attempts began after the verdict was known, at most %d allowed", c, got, c)
		}
		if sum.Succeeded+sum.Failed+sum.NotRun != len(plan) || sum.NotRun == 0 {
			t.Fatalf("c=%d: counts %+v", c, sum)
		}
		for i := range len(plan) {
			el := e.Element(i)
			if el.State == engine.NotRun && (el.Attempts != 0 || !errors.Is(el.Err, engine.ErrNotRun)) {
				t.Fatalf("c=%d: element %d, never begun: %+v", c, i, el)
			}
		}
	}
}

// Retries, losses (a worker goroutine that exits under its task) and the
// concurrency bound hold with batches, and every attempt is counted once.
func TestBatchesRetryAndBound(t *testing.T) {
	plan := make([]string, 3000)
	for i := range plan {
		plan[i] = []string{"", "", "f", "", "l", "", "fl"}[i%7]
	}
	s := &script{plan: plan}
	e, sum := runBatches(t, engine.Config{Concurrency: 3, Retries: 1, SystemRetries: 1, SystemBackoff: -1}, s, inprocess.MaxBatch)
	if !sum.Success || sum.Succeeded != len(plan) {
		t.Fatalf("summary %+v", sum)
	}
	if s.most.Load() > 3 {
		t.Fatalf("%d attempts at once, concurrency 3", s.most.Load())
	}
	attempts := 0
	for i := range plan {
		el := e.Element(i)
		if want := len(plan[i]) + 1; el.Attempts != want {
			t.Fatalf("element %d (%q): %d attempts, want %d", i, plan[i], el.Attempts, want)
		}
		attempts += el.Attempts
	}
	if int(s.started.Load()) != attempts {
		t.Fatalf("%d attempts began, records count %d", s.started.Load(), attempts)
	}
}

// With Forget, finished elements keep only their state; failures keep their
// record; counts, the verdict and events are as without it.
func TestForget(t *testing.T) {
	const n = 3*4096 + 100
	plan := make([]string, n)
	for i := 0; i < n; i += 997 {
		plan[i] = "p"
	}
	finished := make([]engine.Element, n)
	observe := func(ev engine.Event) {
		if ev.Kind == engine.EventFinished {
			finished[ev.Attempt.Index] = ev.Element
		}
	}
	s := &script{plan: plan}
	e, sum := runBatches(t, engine.Config{Concurrency: 2, Forget: true, RunAll: true, Observe: observe}, s, 16)
	if sum.Failed != (n+996)/997 || sum.Succeeded != n-sum.Failed || sum.Success {
		t.Fatalf("summary %+v", sum)
	}
	for i := range n {
		el, ev := e.Element(i), finished[i]
		if ev.Attempts != 1 {
			t.Fatalf("element %d: event's record %+v", i, ev)
		}
		switch {
		case plan[i] == "p":
			if el.State != engine.Failed || el.Err == nil || el.Attempts != 1 {
				t.Fatalf("failed element %d: %+v", i, el)
			}
		case el.State != engine.Succeeded:
			t.Fatalf("element %d: %+v", i, el)
		}
	}
	failed := 0
	e.States(func(i int, el engine.Element) {
		if plan[i] != "p" || el.State != engine.Failed {
			t.Errorf("States: element %d %+v", i, el)
		}
		failed++
	})
	if failed != sum.Failed {
		t.Fatalf("States gave %d failures, want %d", failed, sum.Failed)
	}
}

// A streaming run reads at most ReadAhead elements ahead of what it has
// handed out, and nothing holds the producer once the run stops.
func TestReadAhead(t *testing.T) {
	e, err := engine.New(engine.Config{Streaming: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	added := make(chan int, 1)
	go func() {
		i := 0
		for ; i < engine.ReadAhead+10; i++ {
			e.Add(false)
		}
		added <- i
	}()
	select {
	case i := <-added:
		t.Fatalf("added %d elements with none handed out", i)
	case <-time.After(100 * time.Millisecond):
	}
	e.Halt(errors.New("stop"))
	if i := <-added; i != engine.ReadAhead+10 {
		t.Fatalf("added %d", i)
	}
	_ = e.Seal()
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: 1, Invoker: &script{}})
	if sum.NotRun != engine.ReadAhead+10 {
		t.Fatalf("summary %+v", sum)
	}
}

// snapshotter records the most running attempts Snapshot reports.
type snapshotter struct {
	e    *engine.Engine
	most atomic.Int64
}

func (s *snapshotter) Invoke(context.Context, backend.Attempt) error {
	for r := int64(s.e.Snapshot().Running); ; {
		m := s.most.Load()
		if r <= m || s.most.CompareAndSwap(m, r) {
			return nil
		}
	}
}

// Attempts a worker holds in its batch have not begun: Snapshot counts one
// running per batch, within the bound.
func TestBatchesRunningWithinTheBound(t *testing.T) {
	e, err := engine.New(engine.Config{N: 20000, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshotter{e: e}
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: 3, Invoker: s, BatchSize: inprocess.MaxBatch})
	if !sum.Success {
		t.Fatalf("summary %+v", sum)
	}
	if m := s.most.Load(); m < 1 || m > 3 {
		t.Fatalf("Snapshot said %d running at most, concurrency 3", m)
	}
	if c := e.Snapshot(); c.Running != 0 || c.Succeeded != 20000 {
		t.Fatalf("after the run: %+v", c)
	}
}
