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

// TestGenerateFormat writes testdata/format-v2, the store TestFormatV2 reads,
// when MAPTASK_WRITE_TESTDATA is set. It uses only what the store offered
// when the format was fixed, so that it can be run by the maptask of that
// time: the directory was written by commit a34aaf2 (the code before the
// store owned its outcome strings).
func TestGenerateFormat(t *testing.T) {
	if os.Getenv("MAPTASK_WRITE_TESTDATA") == "" {
		t.Skip("set MAPTASK_WRITE_TESTDATA=1 to write testdata/format-v2")
	}
	ctx := context.Background()
	dir, _ := filepath.Abs(filepath.Join("testdata", "format-v2"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var data []byte
	offsets := []uint64{0}
	for i := range 5 {
		b, _ := json.Marshal(i)
		data = append(data, b...)
		offsets = append(offsets, uint64(len(data)))
	}
	spec := store.Spec{ID: "v2", Task: "format.square", Codec: "json", N: 5,
		InputsDigest: store.InputsDigest(data, offsets), Created: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Labels: map[string]string{"backend": "process"}}
	if err := st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
		t.Fatal(err)
	}
	code := 3
	// A worker's journal: one attempt ended each way a worker records.
	worker := []store.Record{
		{Index: 0, Status: store.StatusSucceeded, Attempts: 1, DurationNS: 1000, Output: []byte("0"), Time: 1, Outcome: "succeeded"},
		{Index: 1, Status: store.StatusFailed, Attempts: 2, Err: "boom", Permanent: true, ExitCode: &code, Time: 2, Outcome: "failed"},
		{Index: 2, Status: store.StatusFailed, Attempts: 1, Err: "context deadline exceeded", Time: 3, Outcome: "timed out"},
		{Index: 3, Status: store.StatusFailed, Attempts: 1, Err: "killed", Time: 4, Outcome: "lost"},
		{Index: 4, Status: store.StatusFailed, Attempts: 1, Err: "context canceled", Time: 5, Outcome: "cancelled"},
	}
	if err := st.AppendRecords(ctx, "v2", "p100-1-0", worker); err != nil {
		t.Fatal(err)
	}
	// The driver's journal: starts, and what became of each element.
	driver := []store.Record{
		{Index: 0, Status: store.StatusRunning, Attempts: 1, Time: 1},
		{Index: 0, Status: store.StatusSucceeded, Attempts: 1, Output: []byte("0"), Time: 6},
		{Index: 1, Status: store.StatusFailed, Attempts: 2, Err: "boom", Permanent: true, Time: 7},
		{Index: 4, Status: store.StatusSkipped, Attempts: 1, Err: "element not run", Time: 8},
	}
	if err := st.AppendRecords(ctx, "v2", "driver", driver); err != nil {
		t.Fatal(err)
	}
	if err := st.PutVerdict(ctx, "v2", store.Verdict{Outcome: "failed", Required: 5, Succeeded: 1, Failed: 1, Skipped: 1,
		Time: time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
}
