package process_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/worker"
)

// pidsCgroup makes a cgroup v1 pids group allowing max processes, or returns
// "" where there is none to make (not root, no pids controller).
func pidsCgroup(t *testing.T, max int) string {
	root := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil || os.Geteuid() != 0 {
		return ""
	}
	dir := filepath.Join(root, fmt.Sprintf("maptask-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return ""
	}
	t.Cleanup(func() {
		// The group empties once its processes are reaped.
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(fmt.Sprint(max)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A program that forgets maptask.Init fails the map at once, naming Init, with
// a handful of processes: the driver's start-up check catches it before any
// worker starts; and if a program calls Init only for that check, its first
// workers stop the map (no retries, no recursion). It runs inside a pids limit.
func TestForgottenInitFailsFast(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "noinit")
	build := exec.Command("go", "build", "-o", bin, "./testdata/noinit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test program: %v\n%s", err, out)
	}
	limit := backend.LocalProcessLimit()
	for _, c := range []struct {
		name      string
		probeOnly bool
		maxStarts int
	}{
		{"start-up check", false, 2},       // the driver and its check
		{"first workers", true, 2 + limit}, // at most one round of workers
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "starts")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// The cgroup is the machine's safety net should the guard ever break.
			script := `exec "$0"`
			if cg := pidsCgroup(t, 4*limit+16); cg != "" {
				script = `echo $$ > ` + cg + `/cgroup.procs && exec "$0"`
			} else {
				t.Log("no pids cgroup here: counting processes only")
			}
			cmd := exec.CommandContext(ctx, "sh", "-c", script, bin)
			cmd.Env = append(os.Environ(), "NOINIT_LOG="+logFile, "NOINIT_STORE="+filepath.Join(dir, "store"))
			if c.probeOnly {
				cmd.Env = append(cmd.Env, "NOINIT_PROBE_ONLY=1")
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			elapsed := time.Since(start)
			data, _ := os.ReadFile(logFile)
			starts := strings.Count(string(data), "\n")
			t.Logf("failed after %v with %d processes started: %s", elapsed.Round(time.Millisecond), starts, strings.TrimSpace(stderr.String()))
			if err == nil || ctx.Err() != nil {
				t.Fatalf("the driver did not fail on its own: %v", err)
			}
			if !strings.Contains(stderr.String(), "does not call maptask.Init() first thing in main") {
				t.Errorf("the error does not say to call maptask.Init: %s", stderr.String())
			}
			if starts > c.maxStarts {
				t.Errorf("%d processes started, want at most %d", starts, c.maxStarts)
			}
			if strings.Count(stderr.String(), "exit status "+fmt.Sprint(worker.ExitNoInit)) == 0 {
				t.Errorf("no mention of exit status %d: %s", worker.ExitNoInit, stderr.String())
			}
		})
	}
}
