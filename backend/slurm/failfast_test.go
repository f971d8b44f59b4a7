package slurm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/slurm"
	"github.com/maptask/maptask/command"
)

// A request no node of the partition can satisfy is refused before anything
// is submitted, with Slurm's reason and the flags that asked for it.
func TestUnschedulableRefusedBeforeSubmitting(t *testing.T) {
	requireSlurm(t)
	for what, req := range map[string]maptask.ResourceList{"cpus-per-task=1000": {CPU: "1000"}, "mem=102400000M": {Memory: "100000Gi"}} {
		t.Run(what, func(t *testing.T) {
			id := fmt.Sprintf("too-big-%d", time.Now().UnixNano())
			before := jobCount(t)
			start := time.Now()
			_, err := maptask.Map(context.Background(), backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Requests: req})),
				backendtest.SlowInputs(t.TempDir(), 2, 0), maptask.Backend(&slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}),
				maptask.StoreURL(t.TempDir()), maptask.Execution(id))
			t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
			if err == nil || !strings.Contains(err.Error(), "no node of the default partition can run an array task with") ||
				!strings.Contains(err.Error(), "--"+what) || !strings.Contains(err.Error(), "Requested node configuration is not available") {
				t.Fatalf("a request no node has: %v", err)
			}
			if n := jobsOf(t, id); n != 0 || jobCount(t) != before {
				t.Fatalf("%d jobs submitted", n)
			}
		})
	}
}

// shell runs its input with sh -c, as `maptask run` runs a command.
var shell = maptask.NewTask("maptask.slurmtest.sh", func(ctx context.Context, script string) (int, error) {
	spec, err := command.NewSpec([]string{"sh", "-c", "{}"})
	if err != nil {
		return 0, err
	}
	r, err := command.Run(ctx, spec, command.Input{script})
	return r.ExitCode, err
}, maptask.Timeout(3*time.Second))

// What a command's end says is the same here as on the local backend: a
// command exiting 3 gives an error with ExitCode 3, and a timeout reads
// "timed out after 3s", once.
func TestResultsSayWhatHappened(t *testing.T) {
	requireSlurm(t)
	in := []string{"exit 3", "sleep 10", "true"}
	local, _ := maptask.Map(context.Background(), shell, in, maptask.RunAll())
	res, _ := maptask.Map(context.Background(), shell, in, maptask.Backend(newBackend(t)),
		maptask.StoreURL(t.TempDir()), maptask.Execution(fmt.Sprintf("results-%d", time.Now().UnixNano())), maptask.BatchSize(1), maptask.RunAll())
	for i := range in {
		l, s := local.At(i), res.At(i)
		t.Logf("%q: local %v (exit %d), slurm %v (exit %d)", in[i], l.Err, exitCode(l.Err), s.Err, exitCode(s.Err))
		if exitCode(l.Err) != exitCode(s.Err) || fmt.Sprint(l.Err) != fmt.Sprint(s.Err) || l.Attempts != s.Attempts {
			t.Errorf("%q: local %v (exit %d, %d attempts), slurm %v (exit %d, %d attempts)", in[i],
				l.Err, exitCode(l.Err), l.Attempts, s.Err, exitCode(s.Err), s.Attempts)
		}
	}
	if c := exitCode(res.At(0).Err); c != 3 {
		t.Errorf("exit 3 gave exit code %d", c)
	}
	if msg := fmt.Sprint(res.At(1).Err); msg != "timed out after 3s" || !errors.Is(res.At(1).Err, context.DeadlineExceeded) {
		t.Errorf("a timeout reads %q", msg)
	}
}

func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}
