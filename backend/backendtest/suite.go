package backendtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
)

// Run runs the whole conformance suite against the backends newBackend makes
// (one per check), with a fresh local-directory store for each check.
func Run(t *testing.T, newBackend func(*testing.T) backend.Backend) {
	RunWithStore(t, newBackend, nil)
}

// RunWithStore is Run with the store of each check made by newStore (an S3
// bucket prefix, say); nil means a local directory.
func RunWithStore(t *testing.T, newBackend func(*testing.T) backend.Backend, newStore func(*testing.T) string) {
	checks := []struct {
		name string
		fn   func(*testing.T, *Setup)
	}{
		{"AllSucceed", testAllSucceed},
		{"Empty", testEmpty},
		{"ConcurrencyBound", testConcurrencyBound},
		{"Retries", testRetries},
		{"RetriesSpent", testRetriesSpent},
		{"Permanent", testPermanent},
		{"Panic", testPanic},
		{"LostSpendsSystemBudget", testLostSpendsSystemBudget},
		{"LostTooOften", testLostTooOften},
		{"Timeout", testTimeout},
		{"MinSuccessRatioCeil", testMinSuccessRatioCeil},
		{"MinSuccesses", testMinSuccesses},
		{"EarlyStop", testEarlyStop},
		{"Cancel", testCancel},
		{"Resume", testResume},
		{"Cache", testCache},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s := setup(t, newBackend)
			if newStore != nil {
				s.Store = newStore(t)
			}
			c.fn(t, s)
		})
	}
}

func mapFaults(t *testing.T, s *Setup, task *maptask.Task[Fault, int], in []Fault, opts ...maptask.MapOption) (*maptask.Results[int], error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return maptask.Map(ctx, task, in, append([]maptask.MapOption{maptask.Backend(s.Backend), maptask.StoreURL(s.Store), maptask.SystemRetryBackoff(50 * time.Millisecond)}, opts...)...)
}

func mustSucceed(t *testing.T, res *maptask.Results[int], err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	for i, r := range res.All() {
		if r.Err != nil || r.Value != 2*i {
			t.Fatalf("element %d: value %d err %v, want %d", i, r.Value, r.Err, 2*i)
		}
	}
}

func mapError(t *testing.T, err error) *maptask.MapError {
	t.Helper()
	var me *maptask.MapError
	if !errors.As(err, &me) {
		t.Fatalf("want a *MapError, got %v", err)
	}
	return me
}

func testAllSucceed(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task, faults(s, 25, nil), maptask.Concurrency(4))
	mustSucceed(t, res, err)
	if res.Len() != 25 || res.Succeeded() != 25 {
		t.Fatalf("Len %d Succeeded %d, want 25 25", res.Len(), res.Succeeded())
	}
	for i, r := range res.All() {
		if r.Attempts != 1 || r.Cached {
			t.Fatalf("element %d: attempts %d cached %v", i, r.Attempts, r.Cached)
		}
		if runs(t, s.Dir, i, "") != 1 {
			t.Fatalf("element %d ran %d times", i, runs(t, s.Dir, i, ""))
		}
	}
}

func testEmpty(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task, nil, maptask.MinSuccessRatio(0.5))
	if err != nil || res.Len() != 0 || len(res.Values()) != 0 {
		t.Fatalf("empty map: len %d err %v", res.Len(), err)
	}
}

func testConcurrencyBound(t *testing.T, s *Setup) {
	const n, c = 12, 3
	res, err := mapFaults(t, s, Task, faults(s, n, func(i int, f *Fault) { f.Sleep = 50 * time.Millisecond }), maptask.Concurrency(c))
	mustSucceed(t, res, err)
	if got := maxOverlap(t, s.Dir, n); got > c || got < 2 {
		t.Fatalf("at most %d attempts ran at once; want between 2 and %d", got, c)
	}
}

func testRetries(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task.WithOverrides(maptask.Retries(2)), faults(s, 6, func(i int, f *Fault) { f.Fail = i % 3 }))
	mustSucceed(t, res, err)
	for i, r := range res.All() {
		if want := i%3 + 1; r.Attempts != want || runs(t, s.Dir, i, "") != want {
			t.Fatalf("element %d: %d attempts (%d recorded), want %d", i, r.Attempts, runs(t, s.Dir, i, ""), want)
		}
	}
}

func testRetriesSpent(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task.WithOverrides(maptask.Retries(1)), faults(s, 3, func(i int, f *Fault) {
		if i == 1 {
			// Slow failures: the others finish first, however slowly their
			// workers start (the verdict is known at the second failure).
			f.Fail, f.Sleep = 2, 300*time.Millisecond
		}
	}))
	me := mapError(t, err)
	if me.Succeeded != 2 || me.Required != 3 || len(me.Failures) != 1 || me.Failures[1] == nil {
		t.Fatalf("MapError %+v", me)
	}
	if r := res.At(1); r.Attempts != 2 || !strings.Contains(r.Err.Error(), "injected failure 2") {
		t.Fatalf("element 1: %+v", r)
	}
	if res.At(0).Value != 0 || res.At(2).Value != 4 {
		t.Fatal("succeeded elements lost their values")
	}
}

func testPermanent(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task.WithOverrides(maptask.Retries(5)), faults(s, 2, func(i int, f *Fault) {
		if i == 0 {
			f.Fail, f.Permanent = 1, true
		}
	}), maptask.MinSuccesses(1))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.At(0); r.Err == nil || r.Attempts != 1 || runs(t, s.Dir, 0, "") != 1 {
		t.Fatalf("permanent failure: %+v, %d runs", r, runs(t, s.Dir, 0, ""))
	}
}

func testPanic(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task.WithOverrides(maptask.Retries(1)), faults(s, 2, func(i int, f *Fault) { f.Panic = 1 + i }), maptask.MinSuccesses(1))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.At(0); r.Err != nil || r.Attempts != 2 {
		t.Fatalf("element 0 panicked once then succeeded: %+v", r)
	}
	r := res.At(1)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "injected panic in element 1") {
		t.Fatalf("element 1 error %v, want the panic", r.Err)
	}
}

func testLostSpendsSystemBudget(t *testing.T, s *Setup) {
	// No user retries at all: only the system budget can bring these elements home.
	res, err := mapFaults(t, s, Task.WithOverrides(maptask.Retries(0)), faults(s, 3, func(i int, f *Fault) { f.Lose = i }),
		maptask.SystemRetries(2))
	mustSucceed(t, res, err)
	for i, r := range res.All() {
		if r.Attempts != i+1 {
			t.Fatalf("element %d: %d attempts, want %d", i, r.Attempts, i+1)
		}
	}
	// A lost attempt before a real failure leaves the user's retry intact.
	res, err = mapFaults(t, s, Task.WithOverrides(maptask.Retries(1)), faults(s, 1, func(i int, f *Fault) { f.Lose, f.Fail = 1, 1 }),
		maptask.SystemRetries(1))
	mustSucceed(t, res, err)
}

func testLostTooOften(t *testing.T, s *Setup) {
	res, err := mapFaults(t, s, Task.WithOverrides(maptask.Retries(3)), faults(s, 1, func(i int, f *Fault) { f.Lose = 3 }),
		maptask.SystemRetries(1))
	mapError(t, err)
	if r := res.At(0); r.Attempts != 2 || !strings.Contains(r.Err.Error(), "lost") {
		t.Fatalf("element lost twice with a system budget of 1: %+v", r)
	}
}

func testTimeout(t *testing.T, s *Setup) {
	task := Task.WithOverrides(maptask.Timeout(300*time.Millisecond), maptask.Retries(1))
	res, err := mapFaults(t, s, task, faults(s, 2, func(i int, f *Fault) {
		f.Sleep = time.Minute
		f.SleepOnly = 1 + i // element 0 hangs once, element 1 every time
	}), maptask.MinSuccesses(1))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.At(0); r.Err != nil || r.Attempts != 2 {
		t.Fatalf("element 0: %+v", r)
	}
	if r := res.At(1); !errors.Is(r.Err, context.DeadlineExceeded) || r.Attempts != 2 {
		t.Fatalf("element 1: %+v, want DeadlineExceeded after 2 attempts", r)
	}
}

func testMinSuccessRatioCeil(t *testing.T, s *Setup) {
	in := faults(s, 10, func(i int, f *Fault) {
		if i < 3 {
			f.Fail, f.Permanent = 1, true
		}
	})
	// 0.7 × 10 needs 7: exactly met.
	if _, err := mapFaults(t, s, Task, in, maptask.MinSuccessRatio(0.7)); err != nil {
		t.Fatalf("ratio 0.7 with 7 of 10: %v", err)
	}
	// 0.71 × 10 = 7.1 needs ceil = 8 (floor or round would say 7).
	_, err := mapFaults(t, s, Task, in, maptask.MinSuccessRatio(0.71))
	if me := mapError(t, err); me.Required != 8 || me.Total != 10 {
		t.Fatalf("ratio 0.71 of 10: required %d, want 8", me.Required)
	}
	// 0.65 × 10 = 6.5 needs 7 (floor says 6): 6 successes fail.
	in[3].Fail, in[3].Permanent = 1, true
	_, err = mapFaults(t, s, Task, in, maptask.MinSuccessRatio(0.65))
	// The map stops once 7 is out of reach, so at most 6 succeeded.
	if me := mapError(t, err); me.Required != 7 || me.Succeeded > 6 {
		t.Fatalf("ratio 0.65 of 10: %+v", me)
	}
}

func testMinSuccesses(t *testing.T, s *Setup) {
	in := faults(s, 5, func(i int, f *Fault) {
		if i%2 == 0 {
			f.Fail = 1
		}
	})
	if _, err := mapFaults(t, s, Task, in, maptask.MinSuccesses(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := mapFaults(t, s, Task, in, maptask.MinSuccesses(0)); err != nil {
		t.Fatal(err)
	}
}

func testEarlyStop(t *testing.T, s *Setup) {
	const n, c = 40, 2
	res, err := mapFaults(t, s, Task, faults(s, n, func(i int, f *Fault) {
		f.Sleep = 500 * time.Millisecond
		if i == 0 {
			f.Sleep, f.Fail, f.Permanent = 0, 1, true
		}
	}), maptask.Concurrency(c), maptask.BatchSize(1)) // a batch is one launch: count elements
	me := mapError(t, err)
	if !errors.Is(err, maptask.ErrStopped) {
		t.Fatalf("error %v does not say the map stopped early", err)
	}
	started := 0
	for i := range n {
		if runs(t, s.Dir, i, "") > 0 {
			started++
		}
	}
	// Element 0 decides the verdict; besides it, at most c elements may have
	// been in flight when the engine learned of it, and nothing starts after.
	if started > 1+c {
		t.Fatalf("%d elements started: more than the deciding one and %d in flight", started, c)
	}
	if len(me.Failures) != n-res.Succeeded() {
		t.Fatalf("%d failures reported for %d unsucceeded elements", len(me.Failures), n-res.Succeeded())
	}
	if r := res.At(n - 1); !errors.Is(r.Err, maptask.ErrNotRun) {
		t.Fatalf("last element: %v, want ErrNotRun", r.Err)
	}
}

func testCancel(t *testing.T, s *Setup) {
	const n = 30
	ctx, cancel := context.WithCancel(context.Background())
	in := faults(s, n, func(i int, f *Fault) {
		if i >= 2 {
			f.Sleep = time.Minute
		}
	})
	go func() {
		for runs(t, s.Dir, 0, "succeeded") == 0 || runs(t, s.Dir, 1, "succeeded") == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	res, err := maptask.Map(ctx, Task, in, maptask.Backend(s.Backend), maptask.Concurrency(4))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if res.At(0).Value != 0 || res.At(1).Value != 2 || res.At(1).Err != nil {
		t.Fatalf("finished elements lost: %+v %+v", res.At(0), res.At(1))
	}
	if res.At(n-1).Err == nil {
		t.Fatal("an element that never ran has no error")
	}
}

func testResume(t *testing.T, s *Setup) {
	flag := filepath.Join(s.Dir, "..", "fail-flag")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	in := faults(s, 8, func(i int, f *Fault) {
		if i%4 == 1 {
			f.FailIf = flag
		}
	})
	res, err := mapFaults(t, s, Task, in, maptask.Execution("resume-1"), maptask.MinSuccessRatio(0.5))
	if err != nil || res.Succeeded() != 6 {
		t.Fatalf("first run: %d succeeded, err %v", res.Succeeded(), err)
	}
	os.Remove(flag)
	res, err = mapFaults(t, s, Task, in, maptask.Execution("resume-1"))
	mustSucceed(t, res, err)
	for i, r := range res.All() {
		want := 1
		if i%4 == 1 {
			want = 2
		}
		if got := runs(t, s.Dir, i, ""); got != want {
			t.Fatalf("element %d ran %d times over two runs, want %d", i, got, want)
		}
		if r.Cached != (i%4 != 1) {
			t.Fatalf("element %d: Cached %v", i, r.Cached)
		}
	}
}

func testCache(t *testing.T, s *Setup) {
	task := Task.WithOverrides(maptask.Cache("v1"))
	in := faults(s, 6, nil)
	res, err := mapFaults(t, s, task, in)
	mustSucceed(t, res, err)
	res, err = mapFaults(t, s, task, in, maptask.Execution("cache-2"))
	mustSucceed(t, res, err)
	for i, r := range res.All() {
		if !r.Cached || runs(t, s.Dir, i, "") != 1 {
			t.Fatalf("element %d: cached %v, ran %d times", i, r.Cached, runs(t, s.Dir, i, ""))
		}
	}
	// Another cache version recomputes.
	res, err = mapFaults(t, s, Task.WithOverrides(maptask.Cache("v2")), in)
	mustSucceed(t, res, err)
	if runs(t, s.Dir, 0, "") != 2 || res.At(0).Cached {
		t.Fatal("cache version v2 reused v1's result")
	}
}
