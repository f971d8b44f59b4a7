package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/maptask/maptask/store"
)

// A checkpoint holds the first bytes of journal object b/0000000000.jsonl.
// That object is later found corrupt and put in quarantine (as in
// TestCheckpointDistrusted's "corrupt records after it"); then a new process
// writing as "b" again (a requeued Slurm task, a process-backend worker of a
// driver with the same pid) must not number its first object 0 again: under
// the same key, LoadState would take the new object's first bytes as the
// checkpoint's, skip the records there, and keep the quarantined object's
// record from the checkpoint. Numbers continue after quarantined objects.
func TestCheckpointObjectKeyReused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "st")
	st := checkpointStoreAt(t, dir, 4)
	old := store.Record{Index: 0, Status: store.StatusFailed, Attempts: 1, Err: "x", Time: 10}
	must(t, st.AppendRecords(ctx, "e", "b", []store.Record{old}))
	must(t, st.Checkpoint(ctx, "e"))
	run := runOf(t, st, "e")
	appendFile(t, filepath.Join(dir, filepath.FromSlash(run+"journal/b/0000000000.jsonl")), "{\"i\":3,\"s\":\"lost\"}\n")
	if _, moved, err := st.LoadState(ctx, "e", 4, true); err != nil || len(moved) != 1 {
		t.Fatalf("damaged object not put in quarantine: %v %v", moved, err)
	}

	// A new process writes as "b": its first object is b/0000000000.jsonl
	// again. Its first line has the length of the old object (same fields,
	// another element), so the checkpoint's cover ends on a line boundary.
	st2, err := store.Open(ctx, dir)
	must(t, err)
	defer st2.Close()
	must(t, st2.AppendRecords(ctx, "e", "b", []store.Record{
		{Index: 3, Status: store.StatusFailed, Attempts: 1, Err: "y", Time: 11},
		{Index: 1, Status: store.StatusSucceeded, Attempts: 1, Output: []byte("11"), Time: 20},
	}))
	state, moved, err := st2.LoadState(ctx, "e", 4, true)
	must(t, err)
	if len(moved) != 0 {
		t.Fatalf("a sound journal object put in quarantine: %v", moved)
	}
	if state.Status(3) != store.StatusFailed {
		t.Errorf("element 3: status %q, want the failed record the journal holds (skipped: the checkpoint covered bytes of another object of the same key)", state.Status(3))
	}
	if state.Status(0) != "" {
		t.Errorf("element 0: status %q from the checkpoint, but its only record was put in quarantine", state.Status(0))
	}
	sameAsJournal(t, st2, "e", state)
}

// The same, the new object's first line being of another length: the
// merge starts in the middle of a line, finds the sound object corrupt and
// puts it in quarantine, losing its records (element 1's success).
func TestCheckpointObjectKeyReusedMidLine(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "st")
	st := checkpointStoreAt(t, dir, 4)
	must(t, st.AppendRecords(ctx, "e", "b", []store.Record{{Index: 0, Status: store.StatusFailed, Attempts: 1, Err: "x", Time: 10}}))
	must(t, st.Checkpoint(ctx, "e"))
	run := runOf(t, st, "e")
	appendFile(t, filepath.Join(dir, filepath.FromSlash(run+"journal/b/0000000000.jsonl")), "{\"i\":3,\"s\":\"lost\"}\n")
	if _, moved, err := st.LoadState(ctx, "e", 4, true); err != nil || len(moved) != 1 {
		t.Fatalf("damaged object not put in quarantine: %v %v", moved, err)
	}
	st2, err := store.Open(ctx, dir)
	must(t, err)
	defer st2.Close()
	must(t, st2.AppendRecords(ctx, "e", "b", []store.Record{
		{Index: 1, Status: store.StatusSucceeded, Attempts: 1, Output: []byte("11"), Time: 20},
		{Index: 2, Status: store.StatusSucceeded, Attempts: 1, Output: []byte("22"), Time: 21},
	}))
	state, moved, err := st2.LoadState(ctx, "e", 4, true)
	must(t, err)
	if len(moved) != 0 || state.Status(1) != store.StatusSucceeded || state.Status(2) != store.StatusSucceeded {
		t.Fatalf("elements 1 and 2: %q %q, want succeeded as just journaled; quarantined: %v", state.Status(1), state.Status(2), moved)
	}
}
