package durable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/engine"
	"github.com/maptask/maptask/store"
)

// strs is a run's typed side for strings, stored as their bytes.
type strs struct {
	mu     sync.Mutex
	in     []string
	out    []string
	broken bool // SetOutput fails, as a codec that cannot read the data
	kept   int  // outputs kept by KeepOutput
}

func (s *strs) EncodeInput(i int) ([]byte, error) { return []byte(s.in[i]), nil }

func (s *strs) EncodeOutput(i int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(s.out[i]), nil
}

// KeepOutput keeps the output as it is, and counts it.
func (s *strs) KeepOutput(i int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out[i] = string(data)
	s.kept++
	return nil
}

func (s *strs) SetOutput(i int, data []byte) error {
	if s.broken {
		return errors.New("unreadable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out[i] = string(data)
	return nil
}

// open returns a prepared run of an execution (id "" for the cache alone)
// over inputs, in the store at dir, with its engine and values. The run is
// closed at the end of the test, unless the test closes it first (release).
func open(t *testing.T, dir, id string, inputs []string, edit ...func(*Config)) (*Run, *engine.Engine, *strs, error) {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.New(engine.Config{N: len(inputs)})
	if err != nil {
		t.Fatal(err)
	}
	vals := &strs{in: inputs, out: make([]string, len(inputs))}
	cfg := Config{ID: id, StoreURL: dir, Task: "upper", Version: "v1", Codec: "raw",
		N: len(inputs), Known: true, Engine: eng, Values: vals}
	for _, f := range edit {
		f(&cfg)
	}
	d, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release(d) })
	return d, eng, vals, d.Prepare(ctx, func() {})
}

var closed sync.Map

func release(d *Run) {
	if _, done := closed.LoadOrStore(d, true); !done {
		d.Close()
	}
}

func finished(i, attempts int, err error) engine.Event {
	ev := engine.Event{Kind: engine.EventFinished, Attempt: backend.Attempt{Index: i, Number: attempts},
		Element: engine.Element{State: engine.Succeeded, Attempts: attempts}}
	if err != nil {
		ev.Element.State, ev.Element.Err = engine.Failed, err
	}
	return ev
}

// A run journals what finished and writes the verdict; the next run of the
// execution takes the successes in and keeps counting attempts; a different
// map under the same id is refused; the cache serves a run without an id.
func TestResume(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	inputs := []string{"a", "b", "c"}

	var synced atomic.Int32
	d, _, vals, err := open(t, dir, "x", inputs, func(c *Config) {
		c.BeforeSync = func() func() { return func() { synced.Add(1) } }
	})
	if err != nil {
		t.Fatal(err)
	}
	vals.out[0] = "A"
	d.RecordFinished(finished(0, 1, nil))
	d.RecordFinished(finished(1, 2, errors.New("boom")))
	sum := engine.Summary{N: 3, Required: 3, Succeeded: 1, Failed: 1, NotRun: 1, Cause: engine.ErrStopped}
	if err := d.Finish(ctx, sum); err != nil {
		t.Fatal(err)
	}
	if synced.Load() == 0 {
		t.Error("BeforeSync's function was not called after the last sync")
	}
	v, err := d.Store().LoadVerdict(ctx, "x")
	if err != nil || v.Outcome != "failed" || v.Succeeded != 1 || v.Error != engine.ErrStopped.Error() {
		t.Fatalf("verdict %+v, %v", v, err)
	}
	release(d)

	d, eng, vals, err := open(t, dir, "x", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if el := eng.Element(0); el.State != engine.Succeeded || el.Attempts != 1 || vals.out[0] != "A" {
		t.Errorf("element 0 after resume: %+v, value %q", el, vals.out[0])
	}
	if el := eng.Element(1); el.State == engine.Succeeded || el.Attempts != 2 {
		t.Errorf("element 1 after resume: %+v", el)
	}
	release(d)

	_, _, _, err = open(t, dir, "x", append(inputs, "d"))
	if err == nil || !strings.Contains(err.Error(), "created for a different map (3 inputs, now 4)") {
		t.Errorf("a different map under the same id: %v", err)
	}

	_, eng, vals, err = open(t, dir, "", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if el := eng.Element(0); el.State != engine.Succeeded || !el.Cached || vals.out[0] != "A" {
		t.Errorf("element 0 from the cache: %+v, value %q", el, vals.out[0])
	}
	if el := eng.Element(1); el.State == engine.Succeeded {
		t.Errorf("element 1 from the cache: %+v", el)
	}
}

// A cache entry the codec cannot read is a miss, not a failure.
func TestUnreadableCacheEntryIsAMiss(t *testing.T) {
	dir := t.TempDir()
	d, _, vals, err := open(t, dir, "", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	vals.out[0] = "A"
	d.RecordFinished(finished(0, 1, nil))
	if err := d.Finish(context.Background(), engine.Summary{}); err != nil {
		t.Fatal(err)
	}
	release(d)
	d, _, vals, err = open(t, dir, "", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	vals.broken = true
	if hit, err := d.LookupValue(context.Background(), 0); hit || err != nil {
		t.Errorf("LookupValue = %v, %v; want a miss", hit, err)
	}
}

// A run writes a checkpoint at its end; the next run reads the journal from
// it, takes the first stored output in at once and keeps the others for
// later, and refuses outputs its codec cannot read.
func TestResumeFromCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	inputs := []string{"a", "b", "c", "d"}
	d, _, vals, err := open(t, dir, "x", inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"A", "B", "C"} {
		vals.out[i] = v
		d.RecordFinished(finished(i, 1, nil))
	}
	if err := d.Finish(ctx, engine.Summary{N: 4, Required: 4, Succeeded: 3, NotRun: 1, Cause: engine.ErrStopped}); err != nil {
		t.Fatal(err)
	}
	state, _, err := d.Store().LoadState(ctx, "x", 4, false)
	if err != nil {
		t.Fatal(err)
	}
	if !state.FromCheckpoint() || state.Counts().Succeeded != 3 {
		t.Fatalf("after the run: from checkpoint %v, %+v", state.FromCheckpoint(), state.Counts())
	}
	release(d)

	d, eng, vals, err := open(t, dir, "x", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if vals.kept != 2 || vals.out[0] != "A" || vals.out[2] != "C" || eng.Element(2).State != engine.Succeeded || eng.Element(3).State == engine.Succeeded {
		t.Fatalf("after resume: kept %d, values %q, element 2 %+v", vals.kept, vals.out, eng.Element(2))
	}
	// Element 3 runs now: the checkpoint at the end holds it.
	vals.out[3] = "D"
	d.RecordFinished(finished(3, 1, nil))
	if err := d.Finish(ctx, engine.Summary{N: 4, Required: 4, Succeeded: 4, Success: true}); err != nil {
		t.Fatal(err)
	}
	state, _, err = d.Store().LoadState(ctx, "x", 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if !state.FromCheckpoint() || state.Counts().Succeeded != 4 || string(state.Output(3)) != "D" {
		t.Fatalf("after the second run: from checkpoint %v, %+v", state.FromCheckpoint(), state.Counts())
	}
	release(d)

	_, _, _, err = open(t, dir, "x", inputs, func(c *Config) { c.Values.(*strs).broken = true })
	if err == nil || !strings.Contains(err.Error(), "decoding the stored output of element 0: unreadable") {
		t.Errorf("a stored output the codec cannot read: %v", err)
	}
}

// Inputs are checked against the stored ones without being hashed: other
// values, wherever they are, are refused; stored inputs that do not match
// their spec's digest are an error.
func TestResumeChecksInputs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	inputs := make([]string, 10000) // encoded in two parts or more on two CPUs
	for i := range inputs {
		inputs[i] = fmt.Sprint(i)
	}
	d, _, _, err := open(t, dir, "x", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(ctx, engine.Summary{N: len(inputs), Required: len(inputs), Cause: engine.ErrStopped}); err != nil {
		t.Fatal(err)
	}
	release(d)
	for _, i := range []int{0, 4999, 5000, len(inputs) - 1} {
		other := slices.Clone(inputs)
		other[i] += "x"
		d, _, _, err := open(t, dir, "x", other)
		if err == nil || !strings.Contains(err.Error(), "the same number of inputs with different values") {
			t.Errorf("input %d changed: %v", i, err)
		}
		release(d)
	}
	d, _, _, err = open(t, dir, "x", inputs)
	if err != nil {
		t.Fatalf("the same inputs: %v", err)
	}
	release(d)

	// The stored inputs changed behind the spec's back, and the map passes
	// the changed ones.
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "x", "inputs-*.data"))
	if len(files) != 1 {
		t.Fatalf("input data: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	data[0] = '7'
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	other := slices.Clone(inputs)
	other[0] = "7"
	_, _, _, err = open(t, dir, "x", other)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "do not hash to the digest") {
		t.Errorf("stored inputs that are not the spec's: %v", err)
	}
}

// A long run writes its checkpoint periodically: a driver that dies before
// its end leaves a checkpoint holding what it journaled up to then.
func TestPeriodicCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, _, vals, err := open(t, dir, "p", []string{"a", "b", "c"}, func(c *Config) { c.checkpointEvery = 10 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	vals.out[0], vals.out[1] = "A", "B"
	d.RecordFinished(finished(0, 1, nil))
	d.RecordFinished(finished(1, 1, nil))
	d.Sync()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The driver is still running: no verdict, and no Finish.
		state, _, err := d.Store().LoadState(ctx, "p", 3, true)
		if err != nil {
			t.Fatal(err)
		}
		if state.FromCheckpoint() {
			if state.Counts().Succeeded != 2 || string(state.Output(1)) != "B" {
				t.Fatalf("periodic checkpoint holds %+v", state.Counts())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint written while the run went on")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
