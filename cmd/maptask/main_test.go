package main

import (
	"context"
	"errors"
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
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("MAPTASK_STORE", filepath.Join(env.WorkDir, "store"))
			return seedStore(filepath.Join(env.WorkDir, "seeded"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"expect":   cmdExpect,
			"waitfile": cmdWaitFile,
			"dead":     cmdDead,
			"lines":    cmdLines,
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
