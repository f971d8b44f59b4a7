package engine_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/engine"
)

// Add publishes most elements without the engine's lock and takes it only
// to wake idle workers. A producer that pauses at random, so that workers
// keep going idle and waking, must never leave an element unrun or a run
// hung, whatever the bound and batch size; every element runs exactly
// once, cached ones never.
func TestStreamingProducerPauses(t *testing.T) {
	rounds := 150
	if testing.Short() {
		rounds = 30
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range rounds {
		n := rng.IntN(3000)
		conc := rng.IntN(9) // 0: unbounded
		batch := []int{1, 16, 256}[rng.IntN(3)]
		pauseEvery := 1 + rng.IntN(200)
		cached := make([]bool, n)
		for i := range cached {
			cached[i] = rng.IntN(20) == 0
		}
		var finished atomic.Int64
		e, err := engine.New(engine.Config{Streaming: true, Concurrency: conc,
			Observe: func(ev engine.Event) {
				if ev.Kind == engine.EventFinished {
					finished.Add(1)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		s := &countingScript{runs: make([]atomic.Int32, n), cached: cached}
		pauses := rng.Uint64()
		go func() {
			p := rand.New(rand.NewPCG(pauses, 1))
			for i := range n {
				if got := e.Add(cached[i]); got != i {
					t.Errorf("round %d: Add returned %d for element %d", round, got, i)
				}
				if p.IntN(pauseEvery) == 0 {
					if p.IntN(4) == 0 {
						time.Sleep(time.Duration(p.IntN(200)) * time.Microsecond)
					} else {
						runtime.Gosched()
					}
				}
			}
			_ = e.Seal()
		}()
		sum, ok := startRun(e, conc, batch, s)(30 * time.Second)
		if !ok {
			t.Fatalf("round %d (n %d, concurrency %d, batch %d): the run hung with %d of %d elements finished",
				round, n, conc, batch, finished.Load(), n)
		}
		if !sum.Success || sum.N != n || sum.Succeeded != n {
			t.Fatalf("round %d (n %d, concurrency %d, batch %d): summary %+v", round, n, conc, batch, sum)
		}
		for i := range s.runs {
			want := int32(1)
			if cached[i] {
				want = 0
			}
			if got := s.runs[i].Load(); got != want {
				t.Fatalf("round %d: element %d ran %d times, want %d", round, i, got, want)
			}
		}
	}
}

// startRun runs e on in-process workers and returns a function that waits
// up to d for its summary; false when the run did not end in time.
func startRun(e *engine.Engine, conc, batch int, inv backend.Invoker) func(d time.Duration) (engine.Summary, bool) {
	done := make(chan engine.Summary, 1)
	go func() {
		done <- e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: conc, Invoker: inv, BatchSize: batch})
	}()
	return func(d time.Duration) (engine.Summary, bool) {
		select {
		case sum := <-done:
			return sum, true
		case <-time.After(d):
			return engine.Summary{}, false
		}
	}
}

type countingScript struct {
	runs   []atomic.Int32
	cached []bool
}

func (s *countingScript) Invoke(_ context.Context, a backend.Attempt) error {
	s.runs[a.Index].Add(1)
	return nil
}

// An element added while every worker waits for one starts at once: the
// producer here adds the next element only after the last one ran, so a
// lost wake-up leaves the run waiting for ever.
func TestStreamingIdleWorkersWake(t *testing.T) {
	for _, c := range []struct{ conc, batch int }{{1, 1}, {4, 256}, {0, 1}, {8, 16}} {
		e, err := engine.New(engine.Config{Streaming: true, Concurrency: c.conc})
		if err != nil {
			t.Fatal(err)
		}
		ran := make(chan int, 1)
		s := &pingScript{ran: ran}
		wait := startRun(e, c.conc, c.batch, s)
		const n = 2000
		for i := range n {
			e.Add(false)
			select {
			case got := <-ran:
				if got != i {
					t.Fatalf("concurrency %d: element %d ran, want %d", c.conc, got, i)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("concurrency %d, batch %d: element %d, added while the workers waited, did not start in 10s", c.conc, c.batch, i)
			}
		}
		_ = e.Seal()
		if sum, ok := wait(30 * time.Second); !ok || !sum.Success || sum.N != n {
			t.Fatalf("summary %+v (ended: %v)", sum, ok)
		}
	}
}

type pingScript struct{ ran chan int }

func (s *pingScript) Invoke(_ context.Context, a backend.Attempt) error {
	s.ran <- a.Index
	return nil
}
