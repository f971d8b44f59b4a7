package backendtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maptask/maptask"
)

// Slow is a task for a backend's own fault tests: it records each run in a
// file under Dir, then sleeps (stopping when its context ends), so a test can
// interfere while an element runs (delete its pod, cancel its array task,
// kill the driver) and count afterwards how often it ran.
var Slow = maptask.NewTask("maptask.backendtest.slow", func(ctx context.Context, in SlowInput) (int, error) {
	f, err := os.OpenFile(filepath.Join(in.Dir, strconv.Itoa(in.N)), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o666)
	if err == nil {
		f.WriteString("run\n")
		f.Close()
	}
	select {
	case <-time.After(in.Sleep):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return in.N, nil
})

// SlowInput is one element of Slow: it returns N after sleeping Sleep.
type SlowInput struct {
	N     int
	Dir   string
	Sleep time.Duration
}

// SlowInputs returns n elements 0..n-1 recording in dir.
func SlowInputs(dir string, n int, sleep time.Duration) []SlowInput {
	in := make([]SlowInput, n)
	for i := range in {
		in[i] = SlowInput{N: i, Dir: dir, Sleep: sleep}
	}
	return in
}

// Runs is how many times Slow started element n recording in dir.
func Runs(dir string, n int) int {
	data, _ := os.ReadFile(filepath.Join(dir, strconv.Itoa(n)))
	return strings.Count(string(data), "run\n")
}

// RestartDriver checks that a driver killed mid-map loses nothing and
// recomputes nothing: it starts this test binary with env (its TestMain runs
// a driver mapping Slow over n elements recording in dir, then exits), kills
// it with SIGKILL once elements 0 and 1 started, starts it again, and expects
// the second driver to finish with every element run exactly once.
func RestartDriver(t *testing.T, dir string, n int, env ...string) {
	t.Helper()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := start()
	for Runs(dir, 0) == 0 || Runs(dir, 1) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if err := start().Wait(); err != nil {
		t.Fatalf("second driver: %v", err)
	}
	for i := range n {
		if runs := Runs(dir, i); runs != 1 {
			t.Errorf("element %d ran %d times", i, runs)
		}
	}
}
