package store_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/store"
)

// The journal's outcome strings are the store's, fixed: a change to how a
// backend.Status is displayed must not reach the disk.
func TestOutcomeStringsAreTheFormat(t *testing.T) {
	onDisk := map[backend.Status]string{
		backend.Succeeded: "succeeded",
		backend.Failed:    "failed",
		backend.TimedOut:  "timed out",
		backend.Lost:      "lost",
		backend.Cancelled: "cancelled",
	}
	for status, want := range onDisk {
		o := store.OutcomeOf(status)
		if string(o) != want {
			t.Errorf("OutcomeOf(%v) = %q: the journal format says %q", status, o, want)
		}
		if back, ok := o.Status(); !ok || back != status {
			t.Errorf("Outcome %q reads back as %v, %v", o, back, ok)
		}
	}
	for _, o := range []store.Outcome{"", "skipped", "Succeeded", "timed_out"} {
		if s, ok := o.Status(); ok {
			t.Errorf("Outcome %q reads as %v: only the format's words are outcomes", o, s)
		}
	}
}

// copyTree copies a store kept in testdata into a fresh directory with the
// modes a local store gives its files (git keeps neither 0700 nor 0600).
func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "st")
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// An execution written by the maptask of commit a34aaf2 (testdata/format-v2,
// see TestGenerateFormat) still loads, its journal reads back to the same
// outcomes, and a run resuming it journals on top of it.
func TestFormatV2(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, copyTree(t, filepath.Join("testdata", "format-v2")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	spec, err := st.LoadSpec(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Version != 2 || spec.N != 5 || spec.Task != "format.square" || spec.Labels["backend"] != "process" {
		t.Fatalf("spec: %+v", spec)
	}
	if in, err := st.ReadInputs(ctx, "v2", 0, 5); err != nil || string(in[3]) != "3" {
		t.Fatalf("inputs: %q, %v", in, err)
	}
	recs, err := st.ReadJournal(ctx, "v2", "p100-1-0")
	if err != nil || len(recs) != 5 {
		t.Fatalf("worker journal: %d records, %v", len(recs), err)
	}
	want := []backend.Status{backend.Succeeded, backend.Failed, backend.TimedOut, backend.Lost, backend.Cancelled}
	for k, r := range recs {
		if s, ok := r.Outcome.Status(); !ok || s != want[k] {
			t.Errorf("record %d: outcome %q reads as %v, %v; want %v", k, r.Outcome, s, ok, want[k])
		}
	}
	if recs[1].ExitCode == nil || *recs[1].ExitCode != 3 || !recs[1].Permanent || string(recs[0].Output) != "0" {
		t.Errorf("worker records: %+v", recs)
	}
	merged, err := st.LoadRecords(ctx, "v2", 5)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []store.Status{store.StatusSucceeded, store.StatusFailed, store.StatusFailed, store.StatusFailed, store.StatusSkipped}
	for i, r := range merged {
		if r.Status != wantStatus[i] {
			t.Errorf("element %d: %q, want %q", i, r.Status, wantStatus[i])
		}
	}
	if v, err := st.LoadVerdict(ctx, "v2"); err != nil || v.Outcome != "failed" || v.Skipped != 1 {
		t.Fatalf("verdict: %+v, %v", v, err)
	}
	// A resumed run journals on top of what was there.
	if err := st.AppendRecords(ctx, "v2", "driver2", []store.Record{{Index: 4, Status: store.StatusSucceeded, Attempts: 2, Output: []byte("16"), Time: 100}}); err != nil {
		t.Fatal(err)
	}
	if merged, err = st.LoadRecords(ctx, "v2", 5); err != nil || merged[4].Status != store.StatusSucceeded || merged[0].Status != store.StatusSucceeded {
		t.Fatalf("after resuming: %+v, %v", merged, err)
	}
}

// The journal a worker writes today still spells outcomes as the format does.
func TestJournalWritesFormatOutcomes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "st")
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateExecution(ctx, store.Spec{ID: "e", Task: "t", Codec: "json", N: 1}, []byte("1"), []uint64{0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendRecords(ctx, "e", "w", []store.Record{{Index: 0, Status: store.StatusFailed, Attempts: 1, Outcome: store.OutcomeOf(backend.TimedOut)}}); err != nil {
		t.Fatal(err)
	}
	var found bool
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".jsonl") {
			data, _ := os.ReadFile(path)
			found = found || strings.Contains(string(data), `"oc":"timed out"`)
		}
		return nil
	})
	if !found {
		t.Fatal(`no journal object holds "oc":"timed out"`)
	}
}
