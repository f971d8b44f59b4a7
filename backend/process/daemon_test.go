package process_test

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
	"github.com/maptask/maptask/backend/process"
)

// daemonize starts a process that leaves the worker's process group and
// session (as any double-forking daemon, ssh -f or setsid does) and returns.
var daemonize = maptask.NewTask("process_test.daemonize", func(ctx context.Context, pidfile string) (int, error) {
	err := exec.Command("/bin/sh", "-c", `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > "$0"`, pidfile).Run()
	return 0, err
})

// Nothing a worker started outlives its map, not even a process a task
// started in a new session: each worker carries a mark of its own
// (reaper.Sub), and whatever still carries it is killed when the worker
// ends. (Once only the worker's group was killed, and the mark scan came
// when the driver process exited.)
func TestNothingOutlivesTheMap(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	if _, err := maptask.Map(context.Background(), daemonize, []string{pidfile},
		maptask.Backend(process.New()), maptask.StoreURL(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if state, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(state), ") Z ") {
		t.Errorf("process %d started by the map's task still runs after Map returned: %s", pid, state)
	}
}
