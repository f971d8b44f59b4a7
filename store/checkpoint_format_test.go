package store_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maptask/maptask/store"
)

// TestGenerateCheckpointFormat writes testdata/checkpoint-v1, the store
// TestCheckpointFormatV1 reads, when MAPTASK_WRITE_TESTDATA is set: an
// execution whose journal (a driver's segment, a worker's objects) has a
// checkpoint of format version 1, and records written after it.
func TestGenerateCheckpointFormat(t *testing.T) {
	if os.Getenv("MAPTASK_WRITE_TESTDATA") == "" {
		t.Skip("set MAPTASK_WRITE_TESTDATA=1 to write testdata/checkpoint-v1")
	}
	ctx := context.Background()
	dir, _ := filepath.Abs(filepath.Join("testdata", "checkpoint-v1"))
	must(t, os.RemoveAll(dir))
	st, err := store.Open(ctx, dir)
	must(t, err)
	defer st.Close()
	var data []byte
	offsets := []uint64{0}
	for i := range 5 {
		b, _ := json.Marshal(i)
		data = append(data, b...)
		offsets = append(offsets, uint64(len(data)))
	}
	spec := store.Spec{ID: "c1", Task: "format.square", Codec: "json", N: 5,
		InputsDigest: store.InputsDigest(data, offsets), Created: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	must(t, st.CreateExecution(ctx, spec, data, offsets, nil))
	driver, err := st.OpenJournal(ctx, "c1", "d1")
	must(t, err)
	defer driver.Close()
	must(t, driver.Track(nil))
	code := 3
	must(t, driver.Append(ctx, []store.Record{
		{Index: 0, Status: store.StatusRunning, Attempts: 1, Time: 1},
		{Index: 0, Status: store.StatusSucceeded, Attempts: 1, DurationNS: 1500, Output: []byte("0"), Time: 2},
		{Index: 1, Status: store.StatusFailed, Attempts: 2, Err: "boom\nsecond line", Permanent: true, ExitCode: &code, Time: 3},
		{Index: 4, Status: store.StatusSkipped, Attempts: 1, Err: "element not run", Time: 4},
	}))
	must(t, st.AppendRecords(ctx, "c1", "w1", []store.Record{
		{Index: 2, Status: store.StatusSucceeded, Attempts: 1, Cached: true, Output: []byte(`{"big":4}`), Time: 5, Outcome: store.OutcomeSucceeded},
		{Index: 3, Status: store.StatusFailed, Attempts: 1, Err: "killed", Time: 6, Outcome: store.OutcomeLost},
	}))
	must(t, driver.Checkpoint(ctx))
	// After the checkpoint: element 4 runs again and succeeds, in a new run.
	must(t, st.AppendRecords(ctx, "c1", "d2", []store.Record{
		{Index: 4, Status: store.StatusSucceeded, Attempts: 2, Output: []byte("16"), Time: 7},
	}))
}

// A checkpoint of format version 1 as maptask wrote it (testdata/
// checkpoint-v1, see TestGenerateCheckpointFormat) is read, records written
// after it apply on top, and the result is the journal's.
func TestCheckpointFormatV1(t *testing.T) {
	ctx := context.Background()
	dir := copyTree(t, filepath.Join("testdata", "checkpoint-v1"))
	st, err := store.Open(ctx, dir)
	must(t, err)
	defer st.Close()
	spec, err := st.LoadSpec(ctx, "c1")
	must(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, "executions", "c1", spec.Inputs, "checkpoint"))
	must(t, err)
	if string(raw[:12]) != "\x89mtckpt\n\x01\x00\x00\x00" {
		t.Fatalf("checkpoint starts with %q", raw[:12])
	}
	state, moved, err := st.LoadState(ctx, "c1", 5, true)
	must(t, err)
	if len(moved) > 0 || !state.FromCheckpoint() {
		t.Fatalf("quarantined %v, from the checkpoint %v", moved, state.FromCheckpoint())
	}
	sameAsJournal(t, st, "c1", state)
	r1 := state.Record(1)
	if c := state.Counts(); c != (store.Counts{Succeeded: 3, Cached: 1, Failed: 2}) || string(state.Output(2)) != `{"big":4}` ||
		string(state.Output(4)) != "16" || r1.Err != "boom\nsecond line" || *r1.ExitCode != 3 || !r1.Permanent ||
		state.Record(3).Outcome != store.OutcomeLost || state.Record(0).DurationNS != 1500 {
		t.Fatalf("counts %+v, records %+v %+v %+v", c, state.Record(2), r1, state.Record(4))
	}
	// Without outputs, from the checkpoint too.
	state, _, err = st.LoadState(ctx, "c1", 5, false)
	must(t, err)
	if !state.FromCheckpoint() || state.Output(2) != nil || state.Status(4) != store.StatusSucceeded {
		t.Fatalf("without outputs: %v %q %q", state.FromCheckpoint(), state.Output(2), state.Status(4))
	}
}
