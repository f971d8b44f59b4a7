package maptask_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var calls atomic.Int64

var counted = maptask.NewTask("test.counted", func(_ context.Context, x int) (int, error) {
	calls.Add(1)
	if x < 0 {
		return 0, maptask.Permanent(errors.New("negative"))
	}
	return x + 1, nil
})

func storeURL(t *testing.T) string { return "file://" + t.TempDir() }

func TestBadInputFailsBeforeAnythingRuns(t *testing.T) {
	ctx := context.Background()
	in := []int{1, 2, 3}
	for name, opts := range map[string][]maptask.MapOption{
		"MinSuccessRatio 0":     {maptask.MinSuccessRatio(0)},
		"MinSuccessRatio 1.5":   {maptask.MinSuccessRatio(1.5)},
		"MinSuccessRatio NaN":   {maptask.MinSuccessRatio(math.NaN())},
		"MinSuccessRatio -0.1":  {maptask.MinSuccessRatio(-0.1)},
		"Concurrency -1":        {maptask.Concurrency(-1)},
		"MinSuccesses -1":       {maptask.MinSuccesses(-1)},
		"MinSuccesses 4":        {maptask.MinSuccesses(4)},
		"both ratio and count":  {maptask.MinSuccessRatio(0.5), maptask.MinSuccesses(1)},
		"SystemRetries -1":      {maptask.SystemRetries(-1)},
		"execution id ../x":     {maptask.Execution("../x"), maptask.StoreURL(storeURL(t))},
		"execution id with a /": {maptask.Execution("a/b"), maptask.StoreURL(storeURL(t))},
		"nil codec":             {maptask.WithCodec(nil)},
		"store URL scheme":      {maptask.Execution("x"), maptask.StoreURL("nosuchscheme://bucket")},
	} {
		calls.Store(0)
		res, err := maptask.Map(ctx, counted, in, opts...)
		if err == nil || res == nil || res.Len() != 0 {
			t.Errorf("%s: accepted (err %v)", name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "maptask: ") && !strings.HasPrefix(err.Error(), "task ") && !strings.HasPrefix(err.Error(), "store: ") {
			t.Errorf("%s: error %q lacks a prefix", name, err)
		}
		if calls.Load() != 0 {
			t.Errorf("%s: the task ran %d times", name, calls.Load())
		}
	}
	for name, task := range map[string]*maptask.Task[int, int]{
		"Retries -1":      counted.WithOverrides(maptask.Retries(-1)),
		"Timeout -1s":     counted.WithOverrides(maptask.Timeout(-time.Second)),
		"empty cache":     counted.WithOverrides(maptask.Cache("")),
		"bad cpu request": counted.WithOverrides(maptask.Resources(maptask.ResourceSpec{Requests: maptask.ResourceList{CPU: "two"}})),
	} {
		if _, err := maptask.Map(ctx, task, in); err == nil || !strings.Contains(err.Error(), "maptask: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
	if _, err := maptask.Map[int, int](ctx, nil, in); err == nil || !strings.Contains(err.Error(), "nil task") {
		t.Errorf("nil task: %v", err)
	}
	// The message names the field and the value.
	_, err := maptask.Map(ctx, counted, in, maptask.MinSuccessRatio(1.5))
	if err == nil || err.Error() != "maptask: MinSuccessRatio 1.5: must be in (0, 1]" {
		t.Errorf("ratio 1.5: %v", err)
	}
}

func TestRegisteringANameTwicePanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), `"test.counted"`) {
			t.Fatalf("recovered %v, want a panic naming the task", r)
		}
	}()
	maptask.NewTask("test.counted", func(context.Context, string) (string, error) { return "", nil })
}

var panicky = maptask.NewTask("test.panicky", func(_ context.Context, x int) (int, error) {
	if x == 2 {
		var m map[string]int
		m["boom"] = 1 // a real runtime panic
	}
	return x, nil
})

func TestPanicBecomesTheElementsError(t *testing.T) {
	res, err := maptask.Map(context.Background(), panicky.WithOverrides(maptask.Retries(1)), []int{1, 2, 3}, maptask.Concurrency(1))
	var me *maptask.MapError
	if !errors.As(err, &me) || me.Succeeded != 1 || me.Failures[2] == nil {
		t.Fatalf("err %v", err)
	}
	var pe *maptask.PanicError
	r := res.At(1)
	if !errors.As(r.Err, &pe) || !strings.Contains(pe.Error(), "assignment to entry in nil map") || !bytes.Contains(pe.Stack, []byte("maptask_test")) {
		t.Fatalf("element 1: %v", r.Err)
	}
	if r.Attempts != 2 {
		t.Fatalf("a panic is a failure and is retried: %d attempts", r.Attempts)
	}
	if res.At(0).Value != 1 {
		t.Fatal("the element finished before the panic was lost")
	}
}

var blocking = maptask.NewTask("test.blocking", func(ctx context.Context, x int) (int, error) {
	if x%2 == 0 {
		return x, nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
})

func TestCancelLeavesNoGoroutine(t *testing.T) {
	for _, c := range []int{0, 4} {
		ctx, cancel := context.WithCancel(context.Background())
		in := make([]int, 1000)
		for i := range in {
			in[i] = i
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		res, err := maptask.Map(ctx, blocking, in, maptask.Concurrency(c), maptask.MinSuccesses(0))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("concurrency %d: err %v", c, err)
		}
		if res.At(0).Err != nil {
			t.Fatalf("concurrency %d: finished element 0 lost: %v", c, res.At(0).Err)
		}
		goleak.VerifyNone(t)
	}
}

// countingCodec is JSON that counts how often it encodes a value of type B.
type countingCodec struct{ bound atomic.Int64 }

type model struct{ Scale int }

var counting = &countingCodec{}

func init() { codec.Register(counting) }

func (c *countingCodec) Name() string { return "counting-json" }
func (c *countingCodec) Marshal(v any) ([]byte, error) {
	if _, ok := v.(model); ok {
		c.bound.Add(1)
	}
	return json.Marshal(v)
}
func (c *countingCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

var scale = maptask.NewBoundTask("test.scale", func(_ context.Context, m model, x int) (int, error) {
	return m.Scale * x, nil
}, maptask.Cache("1"))

func TestBoundValueIsEncodedOncePerMap(t *testing.T) {
	cd := counting
	cd.bound.Store(0)
	in := make([]int, 500)
	for i := range in {
		in[i] = i
	}
	res, err := maptask.Map(context.Background(), scale.Bind(model{Scale: 3}), in,
		maptask.WithCodec(cd), maptask.StoreURL(storeURL(t)), maptask.Execution("bound"), maptask.Concurrency(8))
	if err != nil {
		t.Fatal(err)
	}
	if res.At(499).Value != 1497 {
		t.Fatalf("value %d", res.At(499).Value)
	}
	if n := cd.bound.Load(); n != 1 {
		t.Fatalf("bound value encoded %d times for 500 elements", n)
	}
}

func TestBoundValueIsPartOfTheCacheKey(t *testing.T) {
	st := storeURL(t)
	a, err := maptask.Map(context.Background(), scale.Bind(model{Scale: 2}), []int{5}, maptask.StoreURL(st))
	if err != nil {
		t.Fatal(err)
	}
	b, err := maptask.Map(context.Background(), scale.Bind(model{Scale: 10}), []int{5}, maptask.StoreURL(st))
	if err != nil {
		t.Fatal(err)
	}
	if a.At(0).Value != 10 || b.At(0).Value != 50 || b.At(0).Cached {
		t.Fatalf("values %d and %d (cached %v)", a.At(0).Value, b.At(0).Value, b.At(0).Cached)
	}
}

func TestResumeRefusesAChangedMap(t *testing.T) {
	ctx := context.Background()
	st := storeURL(t)
	opts := []maptask.MapOption{maptask.StoreURL(st), maptask.Execution("job")}
	if _, err := maptask.Map(ctx, counted, []int{1, -2, 3}, append(opts, maptask.MinSuccesses(2))...); err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func() error{
		"changed inputs": func() error { _, err := maptask.Map(ctx, counted, []int{1, 2, 4}, opts...); return err },
		"more inputs":    func() error { _, err := maptask.Map(ctx, counted, []int{1, -2, 3, 4}, opts...); return err },
		"other task":     func() error { _, err := maptask.Map(ctx, panicky, []int{1, -2, 3}, opts...); return err },
		"cache version": func() error {
			_, err := maptask.Map(ctx, counted.WithOverrides(maptask.Cache("v9")), []int{1, -2, 3}, opts...)
			return err
		},
	} {
		calls.Store(0)
		err := run()
		if err == nil || !strings.Contains(err.Error(), `execution "job"`) || !strings.Contains(err.Error(), "refusing to resume") {
			t.Errorf("%s: %v", name, err)
		}
		if calls.Load() != 0 {
			t.Errorf("%s: ran %d elements", name, calls.Load())
		}
	}
	// Nothing stored was lost: resuming the real map recomputes nothing that succeeded.
	calls.Store(0)
	res, err := maptask.Map(ctx, counted, []int{1, -2, 3}, append(opts, maptask.MinSuccesses(2))...)
	if err != nil || calls.Load() != 1 || res.At(0).Value != 2 || !res.At(0).Cached || res.At(2).Value != 4 {
		t.Fatalf("resume: err %v, %d calls, %+v", err, calls.Load(), res.At(0))
	}
}

func TestCorruptStoreObjectIsNamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := []maptask.MapOption{maptask.StoreURL("file://" + dir), maptask.Execution("c")}
	if _, err := maptask.Map(ctx, counted, []int{1, 2}, opts...); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "executions", "c", "spec.json")
	if err := os.WriteFile(spec, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	calls.Store(0)
	_, err := maptask.Map(ctx, counted, []int{1, 2}, opts...)
	if err == nil || !strings.Contains(err.Error(), "executions/c/spec.json") || calls.Load() != 0 {
		t.Fatalf("corrupt spec: err %v, %d calls", err, calls.Load())
	}
	if data, _ := os.ReadFile(spec); string(data) != "{not json" {
		t.Fatal("the corrupt object was changed")
	}
}

func TestMapSeqStreams(t *testing.T) {
	produced := atomic.Int64{}
	seq := func(yield func(int) bool) {
		for i := range 5000 {
			produced.Add(1)
			if !yield(i) {
				return
			}
		}
	}
	res, err := maptask.MapSeq(context.Background(), counted, seq, maptask.Concurrency(4))
	if err != nil || res.Len() != 5000 || res.At(4999).Value != 5000 || res.Succeeded() != 5000 {
		t.Fatalf("err %v len %d", err, res.Len())
	}
	// Failure tolerance is decided once the sequence ends.
	neg := func(yield func(int) bool) {
		for i := range 10 {
			if !yield(-i) { // 0 succeeds, the rest fail
				return
			}
		}
	}
	_, err = maptask.MapSeq(context.Background(), counted, neg, maptask.MinSuccessRatio(0.2))
	var me *maptask.MapError
	if !errors.As(err, &me) || me.Required != 2 || me.Total != 10 || me.Succeeded != 1 {
		t.Fatalf("err %v", err)
	}
}

func TestProgressAndLogs(t *testing.T) {
	var out, logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := maptask.Map(context.Background(), counted.WithOverrides(maptask.Retries(1)), []int{1, -1, 2},
		maptask.Progress(&out), maptask.Logger(log), maptask.MinSuccesses(2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "test.counted") || !strings.Contains(out.String(), "3/3") {
		t.Errorf("progress output %q", out.String())
	}
	for _, want := range []string{`"msg":"element started"`, `"msg":"element failed"`, `"msg":"map verdict"`, `"succeeded":2`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

func TestWithOverridesCopies(t *testing.T) {
	calls.Store(0)
	strict := counted.WithOverrides(maptask.Retries(3))
	_, err := maptask.Map(context.Background(), counted, []int{-1})
	if err == nil || calls.Load() != 1 {
		t.Fatalf("the original task changed: %d calls", calls.Load())
	}
	if strict.Name() != counted.Name() {
		t.Fatal("override renamed the task")
	}
}

var seenAttempt = maptask.NewTask("test.attempt", func(ctx context.Context, x int) (int, error) {
	i, a, ok := maptask.AttemptFromContext(ctx)
	if !ok || i != x {
		return 0, maptask.Permanent(errors.New("no attempt in context"))
	}
	if a < 2 {
		return 0, errors.New("again")
	}
	return a, nil
}, maptask.Retries(1))

func TestAttemptFromContext(t *testing.T) {
	res, err := maptask.Map(context.Background(), seenAttempt, []int{0, 1, 2})
	if err != nil || res.At(2).Value != 2 {
		t.Fatalf("err %v", err)
	}
}

var echoBytes = maptask.NewTask("test.echobytes", func(_ context.Context, s string) (string, error) { return s, nil })

// Inputs that are not valid UTF-8 are kept byte for byte: a durable map of
// them resumes, and outputs come back unchanged.
func TestInvalidUTF8RoundTrips(t *testing.T) {
	ctx := context.Background()
	in := []string{"\xff\xfeA", "ok"}
	opts := []maptask.MapOption{maptask.Execution("utf8"), maptask.StoreURL(t.TempDir())}
	for run := range 2 {
		res, err := maptask.Map(ctx, echoBytes, in, opts...)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if got := res.At(0).Value; got != in[0] {
			t.Fatalf("run %d: output %q, want %q", run+1, got, in[0])
		}
	}
}

// Short in-process attempts run in batches that read the clock once per
// several attempts, each getting its share: every element's Duration still
// covers at least what its task took, and together they never exceed the
// time the map ran (one at a time).
const spin = 2 * time.Microsecond

var spinTask = maptask.NewTask("test.durations.short", func(_ context.Context, x int) (int, error) {
	for start := time.Now(); time.Since(start) < spin; {
	}
	return x, nil
})

func TestShortAttemptDurations(t *testing.T) {
	task := spinTask
	inputs := make([]int, 20_000)
	start := time.Now()
	res, err := maptask.Map(context.Background(), task, inputs, maptask.Concurrency(1))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for i, r := range res.All() {
		if r.Duration < spin {
			t.Fatalf("element %d: Duration %s, less than the %s its task spun", i, r.Duration, spin)
		}
		sum += r.Duration
	}
	if sum > elapsed {
		t.Fatalf("durations add up to %s, more than the %s the map took", sum, elapsed)
	}
}

type parentKey struct{}

// Short attempts share their batch's allocation of contexts; each one still
// names its own attempt after the task returned, and passes on the parent's
// values, deadline and cancellation.
// keptCtx holds every context keepCtx saw, by element.
var keptCtx []context.Context

var keepCtx = maptask.NewTask("test.keepctx.packed", func(ctx context.Context, x int) (int, error) {
	if ctx.Value(parentKey{}) != "from the caller" {
		return 0, maptask.Permanent(errors.New("the parent's value is lost"))
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(keepDeadline) || ctx.Err() != nil {
		return 0, maptask.Permanent(fmt.Errorf("deadline %v %v, err %v", d, ok, ctx.Err()))
	}
	keptCtx[x] = ctx
	if x%1000 == 7 {
		if _, a, _ := maptask.AttemptFromContext(ctx); a == 1 {
			return 0, errors.New("again")
		}
	}
	return x, nil
}, maptask.Retries(1))

var keepDeadline = time.Now().Add(time.Hour)

func TestAttemptContextsKeptAfterReturn(t *testing.T) {
	const n = 10_000
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), parentKey{}, "from the caller"), keepDeadline)
	defer cancel()
	keptCtx = make([]context.Context, n)
	inputs := make([]int, n)
	for i := range inputs {
		inputs[i] = i
	}
	if _, err := maptask.Map(parent, keepCtx, inputs, maptask.Concurrency(4)); err != nil {
		t.Fatal(err)
	}
	for i, ctx := range keptCtx {
		want := 1
		if i%1000 == 7 {
			want = 2
		}
		if idx, a, ok := maptask.AttemptFromContext(ctx); !ok || idx != i || a != want {
			t.Fatalf("element %d's context says element %d attempt %d (%v), want attempt %d", i, idx, a, ok, want)
		}
		// The map's own context ends with the map.
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("element %d's Done is open after the map returned", i)
		}
	}
}

// runsTaskCalls counts the calls of runsTask by element.
var runsTaskCalls []atomic.Int32

// runsTask is trivial but for three elements: 3333 always panics, 7777
// panics once, 12345 exits its goroutine (runtime.Goexit) once.
var runsTask = maptask.NewTask("test.runs", func(ctx context.Context, x int) (int, error) {
	_, a, _ := maptask.AttemptFromContext(ctx)
	runsTaskCalls[x].Add(1)
	switch {
	case x == 3333, x == 7777 && a == 1:
		panic(fmt.Sprintf("element %d panics", x))
	case x == 12345 && a == 1:
		runtime.Goexit()
	}
	return 2 * x, nil
}, maptask.Retries(1))

// Short in-process attempts run many to a call (inprocess.RunInvoker): a
// panic still fails only its own attempt, a Goexit loses only its own, and
// every attempt before and after them in the same run counts once.
func TestRunsOfShortAttempts(t *testing.T) {
	const n = 20_000
	runsTaskCalls = make([]atomic.Int32, n)
	inputs := make([]int, n)
	for i := range inputs {
		inputs[i] = i
	}
	res, err := maptask.Map(context.Background(), runsTask, inputs, maptask.Concurrency(2), maptask.MinSuccesses(n-1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := res.At(i)
		wantCalls, wantAttempts := int32(1), 1
		switch i {
		case 3333, 7777, 12345:
			wantCalls, wantAttempts = 2, 2
		}
		if got := runsTaskCalls[i].Load(); got != wantCalls || r.Attempts != wantAttempts {
			t.Fatalf("element %d: %d calls, %d attempts; want %d", i, got, r.Attempts, wantCalls)
		}
		if i == 3333 {
			var pe *maptask.PanicError
			if !errors.As(r.Err, &pe) || pe.Value != "element 3333 panics" || !strings.Contains(string(pe.Stack), "maptask_test") {
				t.Fatalf("element 3333: %v, want its panic with the task's stack", r.Err)
			}
			continue
		}
		if r.Err != nil || r.Value != 2*i {
			t.Fatalf("element %d: %+v", i, r)
		}
	}
}
