package engine_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/engine"
)

// oneThenWait takes one attempt, tells the test, and holds it until the run
// is cancelled: meanwhile nobody parks in Next, so Add takes its fast path
// and nothing absorbs what it publishes.
type oneThenWait struct{ took chan struct{} }

func (oneThenWait) Name() string { return "one-then-wait" }
func (b oneThenWait) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	a, ok := q.Next()
	close(b.took)
	<-ctx.Done()
	if ok {
		q.Report(backend.Outcome{Attempt: a, Status: backend.Cancelled, ExitCode: -1})
	}
	return nil
}

// Elements Add published (and returned indexes for) before the run was
// cancelled belong to the run: the summary counts them, and each ends NotRun.
// Run seals without taking in what Add published without the lock.
func TestCancelledRunCountsPublishedElements(t *testing.T) {
	e, err := engine.New(engine.Config{Streaming: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := oneThenWait{took: make(chan struct{})}
	done := make(chan engine.Summary, 1)
	go func() { done <- e.Run(ctx, b, &backend.Job{Concurrency: 1}) }()
	e.Add(false) // 0: under the lock
	<-b.took
	for want := 1; want <= 3; want++ {
		if got := e.Add(false); got != want {
			t.Fatalf("Add returned %d, want %d", got, want)
		}
	}
	cancel()
	var sum engine.Summary
	select {
	case sum = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run hung")
	}
	if sum.N != 4 || sum.NotRun != 4 {
		t.Errorf("summary N %d NotRun %d, want 4 and 4: the elements Add published were left out", sum.N, sum.NotRun)
	}
	_ = e.Seal() // as the root's producer does once its loop ends
	for i := range 4 {
		if st := e.Element(i).State; st != engine.NotRun {
			t.Errorf("element %d: %v after the run, want not run", i, st)
		}
	}
	if n, s := e.N(), e.Snapshot(); n != sum.N || s.Total != sum.N {
		t.Errorf("after Seal: N %d, Snapshot total %d, summary N %d", n, s.Total, sum.N)
	}
}

// A stream with live changes of the bound (and a lowered bar): every
// element runs exactly once, cached ones never, and the run ends.
func TestStreamingLiveChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for round := range 60 {
		n := rng.IntN(5000)
		conc := 1 + rng.IntN(4)
		batch := []int{1, 16, 256}[rng.IntN(3)]
		cached := make([]bool, n)
		for i := range cached {
			cached[i] = rng.IntN(10) == 0
		}
		e, err := engine.New(engine.Config{Streaming: true, Concurrency: conc})
		if err != nil {
			t.Fatal(err)
		}
		s := &countingScript{runs: make([]atomic.Int32, n), cached: cached}
		stop := make(chan struct{})
		changer := make(chan struct{})
		seed := rng.Uint64()
		go func() {
			defer close(changer)
			p := rand.New(rand.NewPCG(seed, 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := p.IntN(6)
				_ = e.Update(engine.Change{Concurrency: &c})
				_ = e.Snapshot()
				time.Sleep(time.Duration(p.IntN(300)) * time.Microsecond)
			}
		}()
		go func() {
			for i := range n {
				e.Add(cached[i])
			}
			_ = e.Seal()
		}()
		sum, ok := startRun(e, conc, batch, s)(30 * time.Second)
		if !ok {
			t.Fatalf("round %d: hung", round)
		}
		close(stop)
		<-changer
		if !sum.Success || sum.N != n || sum.Succeeded != n {
			t.Fatalf("round %d: summary %+v", round, sum)
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
