package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/store"
	"github.com/maptask/maptask/worker"
)

var triple = maptask.NewTask("worker-test.triple", func(ctx context.Context, x int) (int, error) {
	return 3 * x, nil
})

// setup stores an execution of triple over 0..9 and returns the store URL.
func setup(t *testing.T) (string, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var data []byte
	offsets := []uint64{0}
	for i := range 10 {
		b, _ := json.Marshal(i)
		data = append(data, b...)
		offsets = append(offsets, uint64(len(data)))
	}
	spec := store.Spec{ID: "w", Task: triple.Name(), Codec: "json", N: 10, InputsDigest: store.InputsDigest(data, offsets)}
	if err := st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
		t.Fatal(err)
	}
	return st.URL(), st
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestArrayIndexWithOffsetAndBatch(t *testing.T) {
	url, st := setup(t)
	for _, v := range remote.IndexVars {
		e := map[string]string{remote.EnvStoreURL: url, remote.EnvExecution: "w", remote.EnvWriter: "array-" + v,
			remote.EnvOffset: "2", remote.EnvBatch: "3", v: "1", remote.EnvAttempt: "2"}
		code, err := worker.Run(context.Background(), env(e), func() {})
		if code != remote.ExitOK || err != nil {
			t.Fatalf("%s: exit %d, %v", v, code, err)
		}
		recs, err := st.ReadJournal(context.Background(), "w", "array-"+v)
		if err != nil {
			t.Fatal(err)
		}
		// index 1 with offset 2 and batch 3: elements 5, 6, 7.
		if len(recs) != 3 || recs[0].Index != 5 || recs[2].Index != 7 || string(recs[1].Output) != "18" || recs[0].Attempts != 2 {
			t.Fatalf("%s: records %+v", v, recs)
		}
	}
	// The last array index may cover fewer elements than the batch.
	e := map[string]string{remote.EnvStoreURL: url, remote.EnvExecution: "w", remote.EnvWriter: "tail", remote.EnvBatch: "4", "JOB_COMPLETION_INDEX": "2"}
	if code, err := worker.Run(context.Background(), env(e), func() {}); code != 0 || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	if recs, _ := st.ReadJournal(context.Background(), "w", "tail"); len(recs) != 2 || recs[1].Index != 9 {
		t.Fatalf("tail records %+v", recs)
	}
}

func TestMissingPiecesHaveTheirOwnExitCodes(t *testing.T) {
	url, st := setup(t)
	ctx := context.Background()
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{remote.EnvStoreURL: url, remote.EnvExecution: "w", remote.EnvAttempts: "0:1"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	// A spec naming a task this program does not have.
	ghost := store.Spec{ID: "ghost", Task: "no.such.task", Codec: "json", N: 1}
	if err := st.CreateExecution(ctx, ghost, []byte("1"), []uint64{0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	// An execution whose inputs vanished.
	if err := st.CreateExecution(ctx, store.Spec{ID: "noinputs", Task: triple.Name(), Codec: "json", N: 1}, []byte("1"), []uint64{0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(url, "file://")
	index, _ := filepath.Glob(filepath.Join(dir, "executions", "noinputs", "inputs-*.index"))
	if len(index) != 1 {
		t.Fatalf("input index files: %v", index)
	}
	if err := os.Remove(index[0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		code int
		want string
	}{
		{"no store", map[string]string{remote.EnvExecution: "w"}, remote.ExitBadEnvironment, remote.EnvStoreURL},
		{"no index", base(map[string]string{remote.EnvAttempts: ""}), remote.ExitBadEnvironment, "JOB_COMPLETION_INDEX"},
		{"bad attempts", base(map[string]string{remote.EnvAttempts: "12:1"}), remote.ExitBadEnvironment, `bad entry "12:1"`},
		{"unknown execution", base(map[string]string{remote.EnvExecution: "nope"}), remote.ExitExecutionMissing, `execution "nope" not found`},
		{"unknown task", base(map[string]string{remote.EnvExecution: "ghost"}), remote.ExitTaskNotFound, `task "no.such.task" is not registered`},
		{"inputs gone", base(map[string]string{remote.EnvExecution: "noinputs"}), remote.ExitInputsMissing, `inputs of execution "noinputs"`},
		{"index past the end", base(map[string]string{remote.EnvAttempts: "", "SLURM_ARRAY_TASK_ID": "10"}), remote.ExitInputsMissing, "past the execution's 10 inputs"},
	} {
		code, err := worker.Run(ctx, env(c.env), func() {})
		if code != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: exit %d (%v), want %d and a message with %q", c.name, code, err, c.code, c.want)
		}
	}
}

func TestTasksListPickedByArrayIndex(t *testing.T) {
	url, st := setup(t)
	e := map[string]string{remote.EnvStoreURL: url, remote.EnvExecution: "w", remote.EnvWriter: "tasks",
		remote.EnvTasks: "0:1;3:2,8:2;5-6:4", "JOB_COMPLETION_INDEX": "1"}
	if code, err := worker.Run(context.Background(), env(e), func() {}); code != 0 || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	recs, _ := st.ReadJournal(context.Background(), "w", "tasks")
	if len(recs) != 2 || recs[0].Index != 3 || recs[1].Index != 8 || recs[1].Attempts != 2 {
		t.Fatalf("records %+v", recs)
	}
	e["JOB_COMPLETION_INDEX"] = "3"
	if code, err := worker.Run(context.Background(), env(e), func() {}); code != remote.ExitBadEnvironment || err == nil {
		t.Fatalf("index past the list: exit %d, %v", code, err)
	}
}

// A retried Kubernetes index takes over from its earlier pods: what succeeded
// or failed for good is not run again; the rest continue their numbering.
func TestResume(t *testing.T) {
	rec := func(i, attempt int, outcome store.Outcome, permanent bool, time int64) store.Record {
		r := store.Record{Index: i, Attempts: attempt, Outcome: outcome, Permanent: permanent, Time: time, Status: store.StatusFailed}
		if outcome == store.OutcomeSucceeded {
			r.Status = store.StatusSucceeded
		}
		return r
	}
	attempts := []backend.Attempt{{Index: 1, Number: 1}, {Index: 2, Number: 1}, {Index: 3, Number: 1}, {Index: 4, Number: 1}, {Index: 5, Number: 1}, {Index: 6, Number: 1}}
	earlier := []store.Record{
		rec(1, 1, "succeeded", false, 1),
		rec(2, 1, "failed", false, 1),                                   // one failure, retries left
		rec(3, 1, "failed", true, 1),                                    // permanent
		rec(4, 1, "failed", false, 1), rec(4, 2, "timed out", false, 2), // two failures: retries (1) spent
		rec(5, 1, "cancelled", false, 1), // its pod was stopped: not a failure
	}
	rest, settled := worker.Resume(attempts, earlier, 1)
	want := []backend.Attempt{{Index: 2, Number: 2}, {Index: 5, Number: 2}, {Index: 6, Number: 1}}
	if !reflect.DeepEqual(rest, want) || settled != 2 {
		t.Fatalf("Resume = %v, %d settled; want %v, 2", rest, settled, want)
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 14-byte attempts entry naming a huge range allocates nothing by it: the
// range is checked against n first, and n against the store's input index,
// so a crafted spec ("n": 2^50) cannot make a worker allocate either.
func TestHugeAttemptRangesAllocateNothing(t *testing.T) {
	const huge = "0-99999999999:1"
	var err error
	if b := allocated(func() { _, err = remote.ParseAttempts(huge, 10) }); err == nil || b > 64<<10 {
		t.Errorf("ParseAttempts(%q, 10): %v, %d bytes allocated", huge, err, b)
	}
	var got []backend.Attempt
	if b := allocated(func() { got, err = remote.ParseAttempts("0-999:1", 1000) }); err != nil || len(got) != 1000 || b > 1000*16+64<<10 {
		t.Errorf("ParseAttempts of 1000 elements: %d attempts, %v, %d bytes allocated", len(got), err, b)
	}

	url, _ := setup(t)
	path := filepath.Join(strings.TrimPrefix(url, "file://"), "executions", "w", "spec.json")
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crafted := strings.Replace(string(js), `"n": 10,`, `"n": 1125899906842624,`, 1)
	if crafted == string(js) {
		t.Fatalf("no n in %s", js)
	}
	if err := os.WriteFile(path, []byte(crafted), 0o600); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{remote.EnvStoreURL: url, remote.EnvExecution: "w", remote.EnvAttempts: huge}
	var code int
	b := allocated(func() { code, err = worker.Run(context.Background(), env(e), func() {}) })
	if code == remote.ExitOK || !errors.Is(err, store.ErrCorrupt) || b > 16<<20 {
		t.Errorf("worker over a crafted spec: exit %d, %v, %d bytes allocated; want the spec refused", code, err, b)
	}
}
