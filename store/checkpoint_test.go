package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/maptask/maptask/internal/testenv"
	"github.com/maptask/maptask/store"
)

// sameAsJournal fails t unless the State holds, element by element, the
// records LoadRecords merges from the whole journal.
func sameAsJournal(t *testing.T, st *store.Store, id string, state *store.State) {
	t.Helper()
	want, err := st.LoadRecords(context.Background(), id, state.Len())
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		got := state.Record(i)
		if want[i].Status == "" {
			if got.Status != "" {
				t.Fatalf("element %d: %+v from the state, no record in the journal", i, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("element %d:\nstate   %+v\njournal %+v", i, got, want[i])
		}
		if state.Status(i) != want[i].Status || !reflect.DeepEqual(state.Output(i), want[i].Output) {
			t.Fatalf("element %d: accessors %q %q, journal %+v", i, state.Status(i), state.Output(i), want[i])
		}
	}
}

// checkpointStore opens a store (a local directory, or mem://) holding an
// execution of n elements.
func checkpointStore(t testing.TB, local bool, n int) *store.Store {
	u := "mem://"
	if local {
		u = filepath.Join(t.TempDir(), "st")
	}
	return checkpointStoreAt(t, u, n)
}

// checkpointStoreAt opens the store at u holding an execution of n elements.
func checkpointStoreAt(t testing.TB, u string, n int) *store.Store {
	ctx := context.Background()
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	inputs := make([]string, n)
	for i := range inputs {
		inputs[i] = fmt.Sprint(i)
	}
	spec, data, offsets := execution("e", inputs...)
	if err := st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

// fuzzRecord makes a journal record of one of n elements from two bytes; t
// is its time, distinct for every record (see LoadState on equal times).
func fuzzRecord(a, b byte, n int, t int64) store.Record {
	r := store.Record{Index: int(a) % n, Attempts: int(b>>2) % 3, Time: t, Cached: b&0x40 != 0, Permanent: b&0x80 != 0}
	r.Status = []store.Status{store.StatusRunning, store.StatusSucceeded, store.StatusFailed, store.StatusSkipped}[b%4]
	switch r.Status {
	case store.StatusSucceeded:
		r.Output = []byte(fmt.Sprint(t * 7))
		r.DurationNS = t * 1000
	case store.StatusFailed:
		r.Err = fmt.Sprintf("boom %d\n\"quoted\"", t)
		code := int(a) - 128
		r.ExitCode = &code
	}
	r.Outcome = []store.Outcome{"", store.OutcomeSucceeded, store.OutcomeTimedOut, "a word of tomorrow"}[(b>>4)%4]
	if a%17 == 16 {
		r.Attempts = 1 << 35
	}
	return r
}

// FuzzCheckpoint: whatever the journal's writers do (a tracking driver, a
// worker writing one object per batch, a second segment-writing worker),
// wherever checkpoints are taken between their writes, LoadState reads the
// records LoadRecords reads, and reads them from the checkpoint when nothing
// was written after it.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 2, 3, 3, 0, 0, 0, 4, 9, 2, 5, 0, 0, 4, 0, 0, 2, 7, 2, 5, 0, 0}, true)
	f.Add([]byte{0, 1, 1, 1, 2, 3, 4, 0, 0, 0, 4, 9, 2, 7, 2, 5, 0, 0, 3, 0, 0}, false)
	f.Add([]byte{4, 0, 0, 0, 3, 5, 0, 3, 6, 5, 0, 0}, true)
	f.Fuzz(func(t *testing.T, ops []byte, local bool) {
		if len(ops) > 300 {
			return
		}
		checkpointOps(t, checkpointStore(t, local, 5), 5, ops)
	})
}

// The seeds of FuzzCheckpoint on S3, where every Append is an object of
// its own.
func TestCheckpointS3(t *testing.T) {
	for _, ops := range [][]byte{
		{0, 1, 1, 1, 2, 3, 3, 0, 0, 0, 4, 9, 2, 5, 0, 0, 4, 0, 0, 2, 7, 2, 5, 0, 0},
		{0, 1, 1, 1, 2, 3, 4, 0, 0, 0, 4, 9, 2, 7, 2, 5, 0, 0, 3, 0, 0},
		{4, 0, 0, 0, 3, 5, 0, 3, 6, 5, 0, 0},
	} {
		checkpointOps(t, checkpointStoreAt(t, testenv.S3URL(t), 5), 5, ops)
	}
}

// checkpointOps runs FuzzCheckpoint's operations on st, whose execution
// "e" has n elements.
func checkpointOps(t *testing.T, st *store.Store, n int, ops []byte) {
	ctx := context.Background()
	driver, err := st.OpenJournal(ctx, "e", "a-driver")
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Close()
	if err := driver.Track(nil); err != nil {
		t.Fatal(err)
	}
	worker, err := st.OpenJournal(ctx, "e", "c-worker")
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	clock := int64(1)
	last := -1 // the op that last wrote a checkpoint, -1 before any
	for k := 0; k+2 < len(ops); k += 3 {
		op, a, b := ops[k]%6, ops[k+1], ops[k+2]
		rec := []store.Record{fuzzRecord(a, b, n, clock)}
		clock++
		switch op {
		case 0:
			err = driver.Append(ctx, rec)
		case 1:
			err = st.AppendRecords(ctx, "e", "b-batches", rec)
		case 2:
			err = worker.Append(ctx, rec)
		case 3:
			err = st.Checkpoint(ctx, "e")
		case 4:
			err = driver.Checkpoint(ctx)
		case 5:
			state, _, err := st.LoadState(ctx, "e", n, true)
			if err != nil {
				t.Fatal(err)
			}
			sameAsJournal(t, st, "e", state)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if op == 3 || op == 4 {
			last = k
		} else {
			last = -1
		}
	}
	for _, outputs := range []bool{true, false} {
		state, moved, err := st.LoadState(ctx, "e", n, outputs)
		if err != nil || len(moved) > 0 {
			t.Fatal(err, moved)
		}
		if outputs {
			sameAsJournal(t, st, "e", state)
		} else {
			for i := range n {
				if state.Output(i) != nil {
					t.Fatalf("element %d: output %q loaded without outputs", i, state.Output(i))
				}
			}
		}
		if last >= 0 && !state.FromCheckpoint() {
			t.Fatal("nothing was written after the checkpoint, and it was not used")
		}
	}
	// The driver's checkpoint, from what it tracked and what the others
	// wrote, is the journal.
	if err := driver.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	state, _, err := st.LoadState(ctx, "e", n, true)
	if err != nil {
		t.Fatal(err)
	}
	if !state.FromCheckpoint() {
		t.Fatal("a fresh checkpoint was not used")
	}
	sameAsJournal(t, st, "e", state)
}

// damageSetup writes a local store whose execution has a journal of two
// writers (a segment and an object per batch) and a checkpoint of it; it
// returns the store, its directory and the execution's run prefix.
func damageSetup(t *testing.T) (*store.Store, string, string) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "st")
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	create(t, st, "e", nil, inputsN(4)...)
	w, err := st.OpenJournal(ctx, "e", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 4 {
		if err := w.Append(ctx, []store.Record{fuzzRecord(byte(i), 1, 4, int64(10+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AppendRecords(ctx, "e", "b", []store.Record{fuzzRecord(1, 2, 4, 20), fuzzRecord(2, 3, 4, 21)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Checkpoint(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	state, _, err := st.LoadState(ctx, "e", 4, true)
	if err != nil || !state.FromCheckpoint() {
		t.Fatalf("checkpoint not used: %v", err)
	}
	return st, dir, runOf(t, st, "e")
}

// loadAgrees loads the state of the damaged execution and checks it against
// the journal; fromCheckpoint says whether it must have come from the
// checkpoint.
func loadAgrees(t *testing.T, st *store.Store, fromCheckpoint bool, quarantined int) {
	t.Helper()
	state, moved, err := st.LoadState(context.Background(), "e", 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != quarantined {
		t.Fatalf("%d objects put in quarantine, want %d: %v", len(moved), quarantined, moved)
	}
	if state.FromCheckpoint() != fromCheckpoint {
		t.Fatalf("FromCheckpoint %v, want %v", state.FromCheckpoint(), fromCheckpoint)
	}
	sameAsJournal(t, st, "e", state)
}

// A checkpoint is never trusted over the journal: one that holds records of
// an object the journal no longer has, or more of it than it has, is
// ignored; records written after it apply; a damaged one is ignored.
func TestCheckpointDistrusted(t *testing.T) {
	seg := func(run string) string { return filepath.FromSlash(run + "journal/a/0000000000.jsonl") }
	for name, damage := range map[string]struct {
		do             func(t *testing.T, dir, run string)
		fromCheckpoint bool
		quarantined    int
	}{
		"object removed": {do: func(t *testing.T, dir, run string) {
			must(t, os.Remove(filepath.Join(dir, filepath.FromSlash(run+"journal/b/0000000000.jsonl"))))
		}},
		"segment shorter": {do: func(t *testing.T, dir, run string) {
			p := filepath.Join(dir, seg(run))
			data, err := os.ReadFile(p)
			must(t, err)
			lines := strings.SplitAfter(string(data), "\n")
			must(t, os.WriteFile(p, []byte(strings.Join(lines[:2], "")), 0o600))
		}},
		"records after it": {fromCheckpoint: true, do: func(t *testing.T, dir, run string) {
			appendFile(t, filepath.Join(dir, seg(run)), `{"i":3,"s":"succeeded","o":"Nzc=","t":99}`+"\n")
		}},
		"a write cut short after it": {fromCheckpoint: true, do: func(t *testing.T, dir, run string) {
			appendFile(t, filepath.Join(dir, seg(run)), `{"i":3,"s":"succ`)
		}},
		"corrupt records after it": {quarantined: 1, do: func(t *testing.T, dir, run string) {
			appendFile(t, filepath.Join(dir, seg(run)), "{\"i\":3,\"s\":\"lost\"}\n")
		}},
		"checkpoint flipped": {do: func(t *testing.T, dir, run string) {
			flip(t, filepath.Join(dir, filepath.FromSlash(run+"checkpoint")), -3)
		}},
		"header flipped": {do: func(t *testing.T, dir, run string) {
			flip(t, filepath.Join(dir, filepath.FromSlash(run+"checkpoint")), 30)
		}},
		"checkpoint cut": {do: func(t *testing.T, dir, run string) {
			p := filepath.Join(dir, filepath.FromSlash(run+"checkpoint"))
			data, err := os.ReadFile(p)
			must(t, err)
			must(t, os.WriteFile(p, data[:len(data)-1], 0o600))
		}},
		"newer format": {do: func(t *testing.T, dir, run string) {
			flip(t, filepath.Join(dir, filepath.FromSlash(run+"checkpoint")), 8)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			st, dir, run := damageSetup(t)
			damage.do(t, dir, run)
			loadAgrees(t, st, damage.fromCheckpoint, damage.quarantined)
			// A new checkpoint is written from what the journal holds now.
			must(t, st.Checkpoint(context.Background(), "e"))
			loadAgrees(t, st, true, 0)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(s)
	must(t, err)
	must(t, f.Close())
}

// flip changes one byte of a file: at from its start, or (negative) its end.
func flip(t *testing.T, path string, at int) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	if at < 0 {
		at += len(data)
	}
	data[at] ^= 0x01
	must(t, os.WriteFile(path, data, 0o600))
}
