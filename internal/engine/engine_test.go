package engine_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script is an Invoker whose element i fails, is lost, or succeeds by attempt,
// following plan[i]: a string of 'f' (fail), 'p' (permanent fail), 'l' (lost),
// then success once the string is used up.
type script struct {
	plan     []string
	inflight atomic.Int64
	most     atomic.Int64
	started  atomic.Int64
	verdict  atomic.Bool  // set by an observer when the deciding element finished
	late     atomic.Int64 // attempts begun after that
}

func (s *script) Invoke(ctx context.Context, a backend.Attempt) error {
	s.started.Add(1)
	if s.verdict.Load() {
		s.late.Add(1)
	}
	cur := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.most.Load()
		if cur <= m || s.most.CompareAndSwap(m, cur) {
			break
		}
	}
	runtime.Gosched()
	p := s.plan[a.Index]
	if a.Number > len(p) {
		return nil
	}
	switch p[a.Number-1] {
	case 'f':
		return errors.New("fail")
	case 'p':
		return permanent{}
	case 'l':
		runtime.Goexit()
	case 'w':
		time.Sleep(time.Millisecond)
	}
	return nil
}

type permanent struct{}

func (permanent) Error() string   { return "permanent" }
func (permanent) Permanent() bool { return true }

func run(t *testing.T, cfg engine.Config, s *script) (*engine.Engine, engine.Summary) {
	t.Helper()
	return runBatches(t, cfg, s, 1)
}

// runBatches is run with in-process workers taking up to batch attempts at
// once (engine.Exchange).
func runBatches(t *testing.T, cfg engine.Config, s *script, batch int) (*engine.Engine, engine.Summary) {
	t.Helper()
	cfg.N = len(s.plan)
	if cfg.SystemBackoff == 0 {
		cfg.SystemBackoff = time.Millisecond
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: cfg.Concurrency, Invoker: s, BatchSize: batch})
	return e, sum
}

func TestRatioRequiredIsCeil(t *testing.T) {
	for _, c := range []struct {
		ratio float64
		n     int
		want  int
	}{
		{0.7, 10, 7}, {0.71, 10, 8}, {0.75, 10, 8}, {0.65, 10, 7}, {0.5, 3, 2}, {0.1, 3, 1},
		{1, 7, 7}, {0.3, 10, 3}, {0.9, 1_000_000, 900_000}, {0.999999, 1_000_000, 999_999}, {0.01, 1, 1}, {0.5, 0, 0},
	} {
		if got := engine.RatioRequired(c.ratio, c.n); got != c.want {
			t.Errorf("RatioRequired(%v, %d) = %d, want %d", c.ratio, c.n, got, c.want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []engine.Config{
		{N: 1, Concurrency: -1}, {N: 1, Retries: -1}, {N: 1, SystemRetries: -2}, {N: -1},
		{N: 3, Required: func(int) int { return 4 }},
	} {
		if _, err := engine.New(cfg); err == nil {
			t.Errorf("engine.New(%+v) accepted", cfg)
		}
	}
}

func TestLostDoesNotSpendUserRetries(t *testing.T) {
	s := &script{plan: []string{"llf", "lll"}}
	e, sum := run(t, engine.Config{Retries: 1, SystemRetries: 2, Concurrency: 1, Required: func(int) int { return 0 }}, s)
	if el := e.Element(0); el.State != engine.Succeeded || el.Attempts != 4 || el.UserFails != 1 || el.Lost != 2 {
		t.Fatalf("element 0: %+v", el)
	}
	if el := e.Element(1); el.State != engine.Failed || el.Attempts != 3 || el.UserFails != 0 {
		t.Fatalf("element 1 (lost 3 times, system budget 2): %+v", el)
	}
	if sum.Succeeded != 1 || sum.Failed != 1 {
		t.Fatalf("summary %+v", sum)
	}
}

func TestEarlyStopLaunchesNothingMore(t *testing.T) {
	for _, c := range []int{1, 2, 4, 8} {
		plan := make([]string, 200)
		for i := range plan {
			plan[i] = "w"
		}
		plan[0] = "p"
		s := &script{plan: plan}
		observe := func(ev engine.Event) {
			if ev.Kind == engine.EventFinished && ev.Attempt.Index == 0 {
				s.verdict.Store(true)
			}
		}
		e, sum := run(t, engine.Config{Concurrency: c, Observe: observe}, s)
		if !errors.Is(sum.Cause, engine.ErrStopped) || sum.Success {
			t.Fatalf("c=%d: summary %+v", c, sum)
		}
		// Element 0 decides the verdict. Attempts handed out before it was known may
		// still begin afterwards, at most one per slot; nothing new is launched.
		if got := s.late.Load(); got > int64(c) {
			t.Fatalf("c=%d: %d attempts began after the verdict was known, at most %d allowed", c, got, c)
		}
		if s.started.Load() == 200 {
			t.Fatalf("c=%d: every element ran despite the early stop", c)
		}
		if el := e.Element(199); el.State != engine.NotRun || !errors.Is(el.Err, engine.ErrNotRun) {
			t.Fatalf("c=%d: last element %+v", c, el)
		}
		if sum.Succeeded+sum.Failed+sum.NotRun != 200 {
			t.Fatalf("c=%d: counts %+v", c, sum)
		}
	}
}

func TestConcurrencyBound(t *testing.T) {
	plan := make([]string, 500)
	for i := range plan {
		plan[i] = []string{"", "f", "l"}[i%3]
	}
	s := &script{plan: plan}
	_, sum := run(t, engine.Config{Concurrency: 3, Retries: 1, SystemRetries: 1}, s)
	if !sum.Success || s.most.Load() > 3 {
		t.Fatalf("summary %+v, %d in flight at most", sum, s.most.Load())
	}
}

func TestStreaming(t *testing.T) {
	e, err := engine.New(engine.Config{Streaming: true, Concurrency: 2, Required: func(n int) int { return engine.RatioRequired(0.5, n) }})
	if err != nil {
		t.Fatal(err)
	}
	s := &script{plan: make([]string, 100)}
	for i := range s.plan {
		if i%2 == 0 {
			s.plan[i] = "p"
		}
	}
	go func() {
		for range 100 {
			e.Add(false)
		}
		_ = e.Seal()
	}()
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: 2, Invoker: s})
	if !sum.Success || sum.N != 100 || sum.Required != 50 || sum.Succeeded != 50 {
		t.Fatalf("summary %+v", sum)
	}
}

// FuzzVerdict checks the engine's verdict and counts against a plain oracle that
// decides each element alone: with retries r and system budget k, an element
// succeeds iff its plan reaches the end before r+1 failures, a permanent
// failure, or k+1 losses.
func FuzzVerdict(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03ffl\x00pp"), uint8(2), uint8(1), uint8(1), uint8(70))
	f.Add([]byte("lllll\x00f\x00ffff"), uint8(0), uint8(0), uint8(3), uint8(100))
	f.Add([]byte{}, uint8(1), uint8(1), uint8(1), uint8(1))
	f.Add([]byte("\x00\x00ff\x00l\x00\x00\x00p\x00\x00\x00lfl\x00\x00"), uint8(1), uint8(1), uint8(17), uint8(80))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), uint8(0), uint8(0), uint8(38), uint8(100))
	f.Fuzz(func(t *testing.T, raw []byte, retries, sys, conc, pct uint8) {
		// raw splits at NUL bytes into element plans over the alphabet f, p, l.
		var plan []string
		cur := []byte{}
		for _, b := range raw {
			if b == 0 || len(plan) >= 64 {
				plan = append(plan, string(cur))
				cur = cur[:0]
				continue
			}
			cur = append(cur, "fpl"[int(b)%3])
		}
		plan = append(plan, string(cur))
		r, k := int(retries%4), int(sys%4)
		ratio := float64(pct%100+1) / 100
		oracle := make([]bool, len(plan))
		oks := 0
		for i, p := range plan {
			fails, losses := 0, 0
			ok := true
			for _, c := range p {
				if c == 'p' || (c == 'f' && fails+1 > r) || (c == 'l' && losses+1 > k) {
					ok = false
					break
				}
				if c == 'f' {
					fails++
				} else {
					losses++
				}
			}
			oracle[i] = ok
			if ok {
				oks++
			}
		}
		required := engine.RatioRequired(ratio, len(plan))
		s := &script{plan: plan}
		// conc's higher digits choose how many attempts a worker takes at once.
		batch := 1 << (conc / 5 % 4)
		e, sum := runBatches(t, engine.Config{Concurrency: int(conc % 5), Retries: r, SystemRetries: k,
			Required: func(n int) int { return engine.RatioRequired(ratio, n) }}, s, batch)
		if sum.Required != required || sum.N != len(plan) {
			t.Fatalf("required %d of %d, want %d of %d", sum.Required, sum.N, required, len(plan))
		}
		if sum.Success != (oks >= required) {
			t.Fatalf("success %v, oracle %d of %d ok with %d required", sum.Success, oks, len(plan), required)
		}
		if sum.Succeeded+sum.Failed+sum.NotRun != len(plan) {
			t.Fatalf("counts %+v do not add up to %d", sum, len(plan))
		}
		if oks >= required && (sum.Succeeded != oks || sum.NotRun != 0) {
			t.Fatalf("successful map: %+v, oracle %d ok", sum, oks)
		}
		for i, el := range e.Elements() {
			if el.State == engine.Succeeded && !oracle[i] || el.State == engine.Failed && oracle[i] {
				t.Fatalf("element %d (%q): %v, oracle ok=%v", i, plan[i], el.State, oracle[i])
			}
		}
	})
}

// batchBackend launches attempts in batches through NextBatch, running each
// batch's attempts one after the other, as a remote worker does.
type batchBackend struct {
	size      int
	batches   atomic.Int64
	mostSlots atomic.Int64
}

func (b *batchBackend) Name() string { return "batch" }

func (b *batchBackend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	var slots atomic.Int64
	done := make(chan struct{})
	for range job.Concurrency {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				batch, ok := q.NextBatch(b.size)
				if !ok {
					return
				}
				b.batches.Add(1)
				cur := slots.Add(1)
				for m := b.mostSlots.Load(); cur > m && !b.mostSlots.CompareAndSwap(m, cur); m = b.mostSlots.Load() {
				}
				for _, a := range batch {
					err := job.Invoker.Invoke(ctx, a)
					st, perm := backend.Classify(ctx, ctx, err)
					q.Report(backend.Outcome{Attempt: a, Status: st, Permanent: perm, Err: err})
				}
				slots.Add(-1)
			}
		}()
	}
	for range job.Concurrency {
		<-done
	}
	return nil
}

func TestBatchesHoldOneSlot(t *testing.T) {
	plan := make([]string, 103)
	for i := range plan {
		if i%10 == 3 {
			plan[i] = "f"
		}
	}
	s := &script{plan: plan}
	b := &batchBackend{size: 10}
	e, err := engine.New(engine.Config{N: len(plan), Concurrency: 3, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	sum := e.Run(context.Background(), b, &backend.Job{Concurrency: 3, Invoker: s})
	if !sum.Success || sum.Succeeded != 103 {
		t.Fatalf("summary %+v", sum)
	}
	// 103 first attempts need at least 11 batches of 10; retries come in more.
	if n := b.batches.Load(); n < 11 || n > 30 {
		t.Fatalf("%d batches", n)
	}
	if m := b.mostSlots.Load(); m > 3 {
		t.Fatalf("%d batches in flight at once, concurrency 3", m)
	}
}

// selfRetrying reports every element failed after the backend itself retried
// it prior times (as a Kubernetes Job retries an index), with the attempt
// number it reached.
type selfRetrying struct {
	prior    int
	launched atomic.Int64
}

func (b *selfRetrying) Name() string { return "self-retrying" }

func (b *selfRetrying) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	for {
		a, ok := q.Next()
		if !ok {
			return nil
		}
		b.launched.Add(1)
		q.Report(backend.Outcome{Attempt: backend.Attempt{Index: a.Index, Number: a.Number + b.prior},
			Status: backend.Failed, Err: errors.New("boom"), PriorFailures: b.prior})
	}
}

// Failures a backend retried by itself spend the element's retries: the
// engine retries only what is left, and counts every attempt.
func TestPriorFailuresSpendRetries(t *testing.T) {
	for _, c := range []struct {
		prior, launches, attempts int
	}{
		{prior: 0, launches: 3, attempts: 3}, // the engine makes all 3 attempts
		{prior: 1, launches: 2, attempts: 4}, // 2 attempts per launch: the second launch spends the last retry
		{prior: 2, launches: 1, attempts: 3}, // the backend spent both retries
	} {
		b := &selfRetrying{prior: c.prior}
		e, err := engine.New(engine.Config{N: 1, Concurrency: 1, Retries: 2})
		if err != nil {
			t.Fatal(err)
		}
		sum := e.Run(context.Background(), b, &backend.Job{Concurrency: 1})
		el := e.Element(0)
		if sum.Failed != 1 || int(b.launched.Load()) != c.launches || el.Attempts != c.attempts {
			t.Errorf("prior %d: failed %d, launched %d (want %d), attempts %d (want %d)",
				c.prior, sum.Failed, b.launched.Load(), c.launches, el.Attempts, c.attempts)
		}
	}
}

// diedInBatch hands out one batch of every element and then plays a worker
// that died on the batch's first element: that one is lost, the rest never
// started. Later rounds succeed.
type diedInBatch struct{ rounds int }

func (b *diedInBatch) Name() string { return "batch" }
func (b *diedInBatch) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	for {
		batch, ok := q.NextBatch(job.N)
		if !ok {
			return nil
		}
		b.rounds++
		for k, a := range batch {
			switch {
			case b.rounds > 1:
				q.Report(backend.Outcome{Attempt: a, Status: backend.Succeeded})
			case k == 0:
				q.Report(backend.Outcome{Attempt: a, Status: backend.Lost})
			default:
				q.Report(backend.Outcome{Attempt: a, Status: backend.Lost, Unstarted: true})
			}
		}
	}
}

// A worker killed in a batch spends the system budget of the element it was
// running only: the others had not started.
func TestUnstartedAttemptsSpendNoBudget(t *testing.T) {
	e, err := engine.New(engine.Config{N: 4, Concurrency: 1, SystemRetries: 1, SystemBackoff: -1})
	if err != nil {
		t.Fatal(err)
	}
	sum := e.Run(context.Background(), &diedInBatch{}, &backend.Job{N: 4, Concurrency: 1})
	if !sum.Success || sum.Succeeded != 4 {
		t.Fatalf("summary %+v", sum)
	}
	for i, el := range e.Elements() {
		wantLost, wantAttempts := int32(0), 1
		if i == 0 {
			wantLost, wantAttempts = 1, 2
		}
		if el.Lost != wantLost || el.Attempts != wantAttempts {
			t.Errorf("element %d: lost %d attempts %d, want %d %d", i, el.Lost, el.Attempts, wantLost, wantAttempts)
		}
	}
}

// A lost attempt runs again only after the backoff.
func TestSystemRetriesBackOff(t *testing.T) {
	const backoff = 200 * time.Millisecond
	var lostAt, retriedAt time.Time
	s := &script{plan: []string{"l"}}
	e, err := engine.New(engine.Config{N: 1, Concurrency: 1, SystemRetries: 1, SystemBackoff: backoff,
		Observe: func(ev engine.Event) {
			switch {
			case ev.Kind == engine.EventRetrying:
				lostAt = time.Now()
			case ev.Kind == engine.EventStarted && ev.Attempt.Number == 2:
				retriedAt = time.Now()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{N: 1, Concurrency: 1, Invoker: s})
	if !sum.Success {
		t.Fatalf("summary %+v", sum)
	}
	if gap := retriedAt.Sub(lostAt); gap < backoff/2 {
		t.Fatalf("retried %v after the loss, want at least %v", gap, backoff/2)
	}
}
