package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/store"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"maptask": func() { maptask.Init(); os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs the CLI scripts in testdata/script: every flag of run,
// exit codes, resume, caching, timeouts, cancel, logs, ls and status.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("MAPTASK_UPDATE_SCRIPTS") == "1", // rewrites cmp's golden files: review the diff
		Setup: func(env *testscript.Env) error {
			env.Setenv("MAPTASK_STORE", filepath.Join(env.WorkDir, "store"))
			env.Setenv("MAPTASK_SLURM_DIR", filepath.Join(env.WorkDir, "slurm"))
			for _, v := range []string{"SLURM_CONF", "MAPTASK_TEST_SLURM"} {
				if os.Getenv(v) != "" {
					env.Setenv(v, os.Getenv(v))
				}
			}
			if err := seedExecutions(filepath.Join(env.WorkDir, "st")); err != nil {
				return err
			}
			return seedStore(filepath.Join(env.WorkDir, "seeded"))
		},
		// [slurm]: a Slurm cluster is up (hack/slurm.sh). Under CI its absence
		// is an error, not a reason to skip.
		Condition: func(cond string) (bool, error) {
			if cond != "slurm" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			if os.Getenv("MAPTASK_TEST_SLURM") != "" {
				return true, nil
			}
			if os.Getenv("CI") == "true" {
				return false, errors.New("Slurm is required under CI: hack/slurm.sh start")
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"expect":    cmdExpect,
			"waitfile":  cmdWaitFile,
			"dead":      cmdDead,
			"lines":     cmdLines,
			"waitlines": cmdWaitLines,
		},
	})
}

// expect CODE PROGRAM ARGS...: runs PROGRAM and checks its exact exit code.
func cmdExpect(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: expect CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("expect: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("expect: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// waitfile FILE: waits up to a minute for FILE to exist.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear", args[0])
}

// dead PIDFILE: the process whose pid is in PIDFILE is gone (or a zombie).
func cmdDead(ts *testscript.TestScript, neg bool, args []string) {
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	ts.Check(err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") || syscall.Kill(pid, 0) != nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("process %d (from %s) is still running", pid, args[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lines N FILE: FILE has exactly N lines (a missing file has 0).
func cmdLines(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	if err != nil && !os.IsNotExist(err) {
		ts.Fatalf("%v", err)
	}
	got := strings.Count(string(data), "\n")
	if got != want {
		ts.Fatalf("%s has %d lines, want %d:\n%s", args[1], got, want, data)
	}
}

// waitlines N FILE: waits up to a minute for FILE to hold at least N lines.
func cmdWaitLines(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	deadline := time.Now().Add(time.Minute)
	for {
		data, _ := os.ReadFile(ts.MkAbs(args[1]))
		if got := strings.Count(string(data), "\n"); got >= want {
			return
		} else if time.Now().After(deadline) {
			ts.Fatalf("%s has %d lines after a minute, want %d:\n%s", args[1], got, want, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedStore writes an execution made by the library (not the CLI) for ls and
// status to show.
var seedTask = maptask.NewTask("cli.seed.half", func(_ context.Context, x int) (int, error) {
	if x%2 == 1 {
		return 0, errors.New("odd input")
	}
	return x, nil
})

func seedStore(dir string) error {
	_, err := maptask.Map(context.Background(), seedTask, []int{0, 1, 2, 3}, maptask.StoreURL(dir), maptask.Execution("seeded-1"), maptask.MinSuccesses(1))
	if err != nil {
		return err
	}
	_, err = store.Open(context.Background(), dir)
	return err
}

// seedExecutions writes, with the store package alone, the executions that
// ls.txtar and status.txtar inspect:
//
//	done   3 elements, all succeeded (one from the cache), verdict succeeded
//	many   30 elements: 25 failed, 3 succeeded, 1 not run, 1 never recorded; verdict failed
//	fresh  2 elements, nothing recorded, no verdict yet
//	half   inputs but no spec: still being created, so not listed
func seedExecutions(dir string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	create := func(id string, n int, created time.Time) error {
		data := []byte(strings.Repeat("x", n))
		offsets := make([]uint64, n+1)
		for i := range offsets {
			offsets[i] = uint64(i)
		}
		spec := store.Spec{ID: id, Task: "seed.task", Codec: "json", N: n, InputsDigest: store.InputsDigest(data, offsets), Created: created}
		return st.CreateExecution(ctx, spec, data, offsets, nil)
	}
	if err := create("done", 3, t0); err != nil {
		return err
	}
	recs := []store.Record{
		{Index: 0, Status: store.StatusSucceeded, Attempts: 1, Output: []byte("0"), Time: 1},
		{Index: 1, Status: store.StatusSucceeded, Cached: true, Output: []byte("1"), Time: 1},
		{Index: 2, Status: store.StatusFailed, Attempts: 1, Err: "flaky", Time: 1},
	}
	if err := st.AppendRecords(ctx, "done", "d1", recs); err != nil {
		return err
	}
	retried := []store.Record{{Index: 2, Status: store.StatusSucceeded, Attempts: 2, Output: []byte("4"), Time: 2}}
	if err := st.AppendRecords(ctx, "done", "d2", retried); err != nil {
		return err
	}
	if err := st.PutVerdict(ctx, "done", store.Verdict{Outcome: "succeeded", Required: 3, Succeeded: 3, Cached: 1, Time: t0}); err != nil {
		return err
	}

	if err := create("many", 30, t0.Add(time.Hour)); err != nil {
		return err
	}
	recs = nil
	for i := range 28 {
		r := store.Record{Index: i, Status: store.StatusFailed, Attempts: 3, Err: fmt.Sprintf("boom %d\nsecond line", i), Time: 1}
		if i%9 == 8 {
			r = store.Record{Index: i, Status: store.StatusSucceeded, Attempts: 1, Output: []byte("0"), Time: 1}
		}
		recs = append(recs, r)
	}
	recs = append(recs, store.Record{Index: 28, Status: store.StatusSkipped, Time: 1})
	if err := st.AppendRecords(ctx, "many", "d1", recs); err != nil {
		return err
	}
	if err := st.PutVerdict(ctx, "many", store.Verdict{Outcome: "failed", Required: 30, Succeeded: 3, Failed: 25, Skipped: 2, Time: t0}); err != nil {
		return err
	}

	if err := create("fresh", 2, t0.Add(-time.Hour)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "executions", "half"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "executions", "half", "inputs.data"), []byte("x"), 0o644)
}
