package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maptask/maptask"
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
	for _, v := range worker.IndexVars {
		e := map[string]string{worker.EnvStoreURL: url, worker.EnvExecution: "w", worker.EnvWriter: "array-" + v,
			worker.EnvOffset: "2", worker.EnvBatch: "3", v: "1", worker.EnvAttempt: "2"}
		code, err := worker.Run(context.Background(), env(e), &bytes.Buffer{})
		if code != worker.ExitOK || err != nil {
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
	e := map[string]string{worker.EnvStoreURL: url, worker.EnvExecution: "w", worker.EnvWriter: "tail", worker.EnvBatch: "4", "JOB_COMPLETION_INDEX": "2"}
	if code, err := worker.Run(context.Background(), env(e), &bytes.Buffer{}); code != 0 || err != nil {
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
		m := map[string]string{worker.EnvStoreURL: url, worker.EnvExecution: "w", worker.EnvAttempts: "0:1"}
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
		{"no store", map[string]string{worker.EnvExecution: "w"}, worker.ExitBadEnvironment, worker.EnvStoreURL},
		{"no index", base(map[string]string{worker.EnvAttempts: ""}), worker.ExitBadEnvironment, "JOB_COMPLETION_INDEX"},
		{"bad attempts", base(map[string]string{worker.EnvAttempts: "12:1"}), worker.ExitBadEnvironment, `bad entry "12:1"`},
		{"unknown execution", base(map[string]string{worker.EnvExecution: "nope"}), worker.ExitExecutionMissing, `execution "nope" not found`},
		{"unknown task", base(map[string]string{worker.EnvExecution: "ghost"}), worker.ExitTaskNotFound, `task "no.such.task" is not registered`},
		{"inputs gone", base(map[string]string{worker.EnvExecution: "noinputs"}), worker.ExitInputsMissing, `inputs of execution "noinputs"`},
		{"index past the end", base(map[string]string{worker.EnvAttempts: "", "SLURM_ARRAY_TASK_ID": "10"}), worker.ExitInputsMissing, "past the execution's 10 inputs"},
	} {
		code, err := worker.Run(ctx, env(c.env), &bytes.Buffer{})
		if code != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: exit %d (%v), want %d and a message with %q", c.name, code, err, c.code, c.want)
		}
	}
}
