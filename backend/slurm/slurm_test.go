package slurm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/slurm"
	"github.com/maptask/maptask/internal/testenv"
)

// TestMain makes the test binary its own worker, and a driver for the
// reattach test when asked to be one.
func TestMain(m *testing.M) {
	maptask.Init()
	if os.Getenv("SLURM_TEST_DRIVER") != "" {
		os.Exit(driver())
	}
	goleak.VerifyTestMain(m)
}

func requireSlurm(t *testing.T) {
	t.Helper()
	if os.Getenv("MAPTASK_TEST_SLURM") == "" {
		testenv.Require(t, "a Slurm cluster", "run `eval \"$(hack/slurm.sh start)\"` or `make test`")
	}
}

func newBackend(t *testing.T) backend.Backend {
	return &slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}
}

func TestConformance(t *testing.T) {
	requireSlurm(t)
	backendtest.Run(t, newBackend)
}

// A scancel of one array task (as a preemption would do) is a lost attempt: the
// element runs again and completes without spending a retry.
func TestScancelledTaskStillCompletes(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	in := make([]backendtest.SlowInput, 4)
	for i := range in {
		in[i] = backendtest.SlowInput{N: i, Dir: dir, Sleep: 3 * time.Second}
	}
	b := &slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}
	go func() {
		// Wait for element 2 to start, then cancel its array task.
		for backendtest.Runs(dir, 2) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		out, err := exec.Command("squeue", "--noheader", "--array", "--format=%i|%k").Output()
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(out), "\n") {
			id, comment, _ := strings.Cut(line, "|")
			if strings.HasPrefix(comment, "maptask:scancel-test") && strings.HasSuffix(id, "_2") {
				exec.Command("scancel", id).Run()
			}
		}
	}()
	res, err := maptask.Map(context.Background(), backendtest.Slow.WithOverrides(maptask.Retries(0)), in,
		maptask.Backend(b), maptask.Concurrency(4), maptask.BatchSize(1),
		maptask.StoreURL(t.TempDir()), maptask.Execution("scancel-test"))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.At(2); r.Err != nil || r.Value != 2 || r.Attempts != 2 || backendtest.Runs(dir, 2) != 2 {
		t.Fatalf("element 2: %+v, ran %d times", r, backendtest.Runs(dir, 2))
	}
}

// A driver killed mid-map leaves its arrays running; a new driver of the same
// execution reattaches to them instead of submitting again: no element runs twice.
func TestRestartedDriverReattaches(t *testing.T) {
	requireSlurm(t)
	dir, work, st := t.TempDir(), t.TempDir(), t.TempDir()
	backendtest.RestartDriver(t, dir, 6, "SLURM_TEST_DRIVER=1", "SLURM_TEST_DIR="+dir, "SLURM_TEST_WORK="+work, "SLURM_TEST_STORE="+st)
}

// driver maps backendtest.Slow over 6 elements on Slurm; the reattach test runs it twice.
func driver() int {
	dir := os.Getenv("SLURM_TEST_DIR")
	in := backendtest.SlowInputs(dir, 6, 2*time.Second)
	b := &slurm.Backend{WorkDir: os.Getenv("SLURM_TEST_WORK"), Poll: 200 * time.Millisecond}
	res, err := maptask.Map(context.Background(), backendtest.Slow, in, maptask.Backend(b), maptask.Concurrency(3),
		maptask.BatchSize(1), maptask.StoreURL(os.Getenv("SLURM_TEST_STORE")), maptask.Execution("reattach"))
	if err != nil || res.Succeeded() != 6 {
		os.Stderr.WriteString("driver: " + errString(err) + "\n")
		return 1
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return "not every element succeeded"
	}
	return err.Error()
}

// Bad input is refused before anything is submitted.
func TestBadInputBeforeSubmitting(t *testing.T) {
	requireSlurm(t)
	in := []backendtest.SlowInput{{N: 1}}
	for name, c := range map[string]struct {
		b    *slurm.Backend
		task *maptask.Task[backendtest.SlowInput, int]
		want string
	}{
		"partition": {&slurm.Backend{Partition: "nosuch"}, backendtest.Slow, `slurm partition "nosuch" does not exist`},
		"memory": {&slurm.Backend{}, backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Limits: maptask.ResourceList{Memory: "2Gx"}})),
			`Resources Limits.Memory "2Gx": not a quantity`},
		"cpu millis as memory": {&slurm.Backend{}, backendtest.Slow.WithOverrides(maptask.Resources(maptask.ResourceSpec{Requests: maptask.ResourceList{Memory: "500m"}})),
			`memory "500m": not a memory quantity`},
	} {
		before := jobCount(t)
		_, err := maptask.Map(context.Background(), c.task, in, maptask.Backend(c.b), maptask.StoreURL(t.TempDir()))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if jobCount(t) != before {
			t.Errorf("%s: a job was submitted", name)
		}
	}
	// sbatch missing from PATH.
	t.Setenv("PATH", t.TempDir())
	_, err := maptask.Map(context.Background(), backendtest.Slow, in, maptask.Backend(slurm.New()), maptask.StoreURL(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "sbatch not found in PATH") {
		t.Errorf("no sbatch: %v", err)
	}
}

func jobCount(t *testing.T) int {
	out, err := exec.Command("squeue", "--noheader", "--states=all", "--format=%i").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("squeue: %s", ee.Stderr)
		}
		t.Fatal(err)
	}
	return strings.Count(string(out), "\n")
}

// Above MaxArraySize the map is split into several arrays, chained so that the
// concurrency bound still holds; the user sees one map.
func TestSplitAboveMaxArraySize(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	in := make([]backendtest.SlowInput, 10)
	for i := range in {
		in[i] = backendtest.SlowInput{N: i, Dir: dir, Sleep: 100 * time.Millisecond}
	}
	work := t.TempDir()
	b := &slurm.Backend{WorkDir: work, Poll: 200 * time.Millisecond, MaxArraySize: 4} // 3 tasks per array
	res, err := maptask.Map(context.Background(), backendtest.Slow, in, maptask.Backend(b), maptask.Concurrency(2),
		maptask.BatchSize(1), maptask.StoreURL(t.TempDir()), maptask.Execution("split"))
	if err != nil || res.Succeeded() != 10 {
		t.Fatalf("err %v, %d succeeded", err, res.Succeeded())
	}
	arrays, _ := filepath.Glob(filepath.Join(work, "split", "*.tasks"))
	if len(arrays) != 4 {
		t.Fatalf("%d arrays for 10 elements with 3 tasks per array, want 4", len(arrays))
	}
	for i := range in {
		if backendtest.Runs(dir, i) != 1 {
			t.Fatalf("element %d ran %d times", i, backendtest.Runs(dir, i))
		}
	}
}
