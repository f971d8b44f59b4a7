package inprocess_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/engine"
)

// gate is an Invoker whose attempts run until the test releases them, so
// that the test knows exactly how many run at any moment.
type gate struct {
	mu      sync.Mutex
	cond    sync.Cond
	running int
	peak    int
	release int // attempts allowed to return
}

func newGate() *gate {
	g := &gate{}
	g.cond.L = &g.mu
	return g
}

func (g *gate) Invoke(ctx context.Context, a backend.Attempt) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running++
	g.peak = max(g.peak, g.running)
	g.cond.Broadcast()
	for g.release == 0 && ctx.Err() == nil {
		g.cond.Wait()
	}
	if g.release > 0 {
		g.release--
	}
	g.running--
	g.cond.Broadcast()
	return nil
}

// finish lets one running attempt return.
func (g *gate) finish() {
	g.mu.Lock()
	g.release++
	g.cond.Broadcast()
	g.mu.Unlock()
}

// settle waits until exactly want attempts run and then checks that no more
// start for a while: a launch beyond the bound would show up here.
func (g *gate) settle(t testing.TB, want int, step string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	g.mu.Lock()
	for g.running != want || g.release != 0 {
		if time.Now().After(deadline) {
			got := g.running
			g.mu.Unlock()
			t.Fatalf("%s: %d attempts running, want %d", step, got, want)
		}
		g.mu.Unlock()
		time.Sleep(time.Millisecond)
		g.mu.Lock()
	}
	g.peak = g.running
	g.mu.Unlock()
	time.Sleep(15 * time.Millisecond)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.peak != want {
		t.Fatalf("%s: %d attempts ran at once, want %d", step, g.peak, want)
	}
}

// liveRun drives a map of n elements on the in-process backend through ops:
// each op either changes the concurrency bound (0-6, 0 unbounded) or lets
// one running attempt finish. After each op the number of running attempts
// must be exactly what the rule says: a lower bound launches nothing until
// fewer than it run and stops nothing running; a higher one launches at
// once.
func liveRun(t testing.TB, n, start int, ops []byte) {
	g := newGate()
	eng, err := engine.New(engine.Config{N: n, Concurrency: start})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan engine.Summary, 1)
	go func() {
		done <- eng.Run(context.Background(), inprocess.New(), &backend.Job{Task: "gate", Concurrency: start, Invoker: g, N: n})
	}()
	limit, running, pending := start, 0, n
	launch := func() {
		room := pending
		if limit > 0 {
			room = min(max(limit-running, 0), pending)
		}
		running += room
		pending -= room
	}
	launch()
	g.settle(t, running, "start")
	for k, op := range ops {
		var step string
		if op%2 == 0 {
			limit = int(op/2) % 7
			step = fmt.Sprintf("op %d: concurrency %d", k, limit)
			if err := eng.Update(engine.Change{Concurrency: &limit}); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		} else {
			if running == 0 {
				continue
			}
			step = fmt.Sprintf("op %d: one of %d finishes (bound %d)", k, running, limit)
			g.finish()
			running--
		}
		launch()
		g.settle(t, running, step)
	}
	// The rest run to the end under the last bound.
	for running > 0 {
		g.finish()
		running--
		launch()
	}
	sum := <-done
	if !sum.Success || sum.Succeeded != n {
		t.Fatalf("verdict %+v, want all %d succeeded", sum, n)
	}
}

func TestLiveConcurrencyChanges(t *testing.T) {
	// 4 running; lowered to 2: none stops, none starts until below 2.
	liveRun(t, 30, 4, []byte{4, 1, 1, 1, 1, 12, 1, 0, 1, 1, 2, 1})
}

// FuzzLiveConcurrency changes a running map's bound at random moments: the
// bound is never exceeded by a launch after the change, and a raise fills
// the new room at once.
func FuzzLiveConcurrency(f *testing.F) {
	f.Add(uint8(20), uint8(3), []byte{4, 1, 1, 1, 12, 1, 1, 0, 1, 1})
	f.Add(uint8(10), uint8(0), []byte{2, 1, 1, 1, 1, 1, 8, 1})
	f.Add(uint8(40), uint8(6), []byte{2, 1, 1, 1, 1, 1, 1, 1, 12, 1, 4, 1})
	f.Fuzz(func(t *testing.T, n, start uint8, ops []byte) {
		if len(ops) > 24 {
			ops = ops[:24]
		}
		liveRun(t, int(n%50)+1, int(start%7), ops)
	})
}
