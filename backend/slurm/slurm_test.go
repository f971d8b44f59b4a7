package slurm_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
// reattach tests when asked to be one.
func TestMain(m *testing.M) {
	maptask.Init()
	switch os.Getenv("SLURM_TEST_DRIVER") {
	case "":
	case "held":
		os.Exit(heldDriver())
	default:
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

// Above MaxArraySize the map is split into several arrays, which together
// still run at most the concurrency bound; the user sees one map.
func TestSplitAboveMaxArraySize(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	in := make([]timedInput, 10)
	for i := range in {
		in[i] = timedInput{Dir: dir, Sleeps: []time.Duration{100 * time.Millisecond}}
	}
	work := t.TempDir()
	b := &slurm.Backend{WorkDir: work, Poll: 200 * time.Millisecond, MaxArraySize: 4} // 3 tasks per array
	res, err := maptask.Map(context.Background(), timed, in, maptask.Backend(b), maptask.Concurrency(2),
		maptask.BatchSize(1), maptask.StoreURL(t.TempDir()), maptask.Execution("split"))
	if err != nil || res.Succeeded() != 10 {
		t.Fatalf("err %v, %d succeeded", err, res.Succeeded())
	}
	arrays, _ := filepath.Glob(filepath.Join(work, "split", "*.tasks"))
	if len(arrays) != 4 {
		t.Fatalf("%d arrays for 10 elements with 3 tasks per array, want 4", len(arrays))
	}
	ss := spans(t, dir)
	if len(ss) != 10 {
		t.Fatalf("%d attempts for 10 elements:%s", len(ss), describe(ss, ss[0].start))
	}
	t.Logf("attempts:%s", describe(ss, ss[0].start))
	if most, _ := mostAtOnce(ss); most > 2 {
		t.Fatalf("%d attempts ran at once, at concurrency 2:%s", most, describe(ss, ss[0].start))
	}
}

// By default the work directory is in the user's cache directory, not a shared
// temporary one, and everything in it is private: directories 0700, the
// submission scripts 0700, the other files 0600.
func TestDefaultWorkDirIsPrivate(t *testing.T) {
	requireSlurm(t)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("MAPTASK_SLURM_DIR", "")
	in := backendtest.SlowInputs(t.TempDir(), 2, 0)
	b := &slurm.Backend{Poll: 200 * time.Millisecond}
	res, err := maptask.Map(context.Background(), backendtest.Slow, in, maptask.Backend(b), maptask.BatchSize(1),
		maptask.StoreURL(t.TempDir()), maptask.Execution("private-default"))
	if err != nil || res.Succeeded() != 2 {
		t.Fatalf("err %v, %d succeeded", err, res.Succeeded())
	}
	base := filepath.Join(cache, "maptask", "slurm")
	work := filepath.Join(base, "private-default")
	files := 0
	for _, d := range []string{base, work, filepath.Join(work, "out"), filepath.Join(work, "exit")} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatalf("work directory: %v", err)
		}
		if fi, _ := os.Lstat(d); fi.Mode() != fs.ModeDir|0o700 {
			t.Errorf("%s: mode %v, want drwx------", d, fi.Mode())
		}
		for _, e := range entries {
			fi, _ := e.Info()
			want := fs.FileMode(0o600)
			switch {
			case fi.IsDir():
				continue
			case strings.HasSuffix(e.Name(), ".sh"):
				want = 0o700
			}
			files++
			if fi.Mode() != want {
				t.Errorf("%s: mode %v, want %v", filepath.Join(d, e.Name()), fi.Mode(), want)
			}
		}
	}
	if files < 4 { // a script, a manifest, two exit files
		t.Errorf("%d files in the work directory, want at least 4", files)
	}
}

// A work directory another user could change (a symbolic link planted where
// the directory should be, one writable by others, one owned by someone else)
// is refused before anything is submitted, with an error naming it.
func TestWorkDirMustBePrivate(t *testing.T) {
	requireSlurm(t)
	for name, c := range map[string]struct {
		plant func(t *testing.T, base, exec string) (bad string)
		want  string
	}{
		"WorkDir a symbolic link": {func(t *testing.T, base, _ string) string {
			link := filepath.Join(base, "link")
			must(t, os.Symlink(t.TempDir(), link))
			return link
		}, "is a symbolic link"},
		"execution directory a symbolic link": {func(t *testing.T, base, exec string) string {
			must(t, os.Symlink(t.TempDir(), filepath.Join(base, exec)))
			return filepath.Join(base, exec)
		}, "is a symbolic link"},
		"exit directory a symbolic link": {func(t *testing.T, base, exec string) string {
			must(t, os.Mkdir(filepath.Join(base, exec), 0o700))
			must(t, os.Symlink(t.TempDir(), filepath.Join(base, exec, "exit")))
			return filepath.Join(base, exec, "exit")
		}, "is a symbolic link"},
		"WorkDir writable by others": {func(t *testing.T, base, _ string) string {
			must(t, os.Chmod(base, 0o1777))
			return base
		}, "is writable by its group or others"},
		"execution directory writable by its group": {func(t *testing.T, base, exec string) string {
			must(t, os.Mkdir(filepath.Join(base, exec), 0o700))
			must(t, os.Chmod(filepath.Join(base, exec), 0o770))
			return filepath.Join(base, exec)
		}, "is writable by its group or others"},
		"execution directory of another user": {func(t *testing.T, base, exec string) string {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a directory to another user")
			}
			must(t, os.Mkdir(filepath.Join(base, exec), 0o700))
			must(t, os.Chown(filepath.Join(base, exec), 65534, 65534))
			return filepath.Join(base, exec)
		}, "is owned by uid 65534"},
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			exec := fmt.Sprintf("private-%s-%d", strings.ReplaceAll(name, " ", "-"), time.Now().UnixNano())
			bad := c.plant(t, base, exec)
			work := base
			if filepath.Base(bad) == "link" {
				work = bad
			}
			b := &slurm.Backend{WorkDir: work, Poll: 200 * time.Millisecond}
			_, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(t.TempDir(), 1, 0),
				maptask.Backend(b), maptask.StoreURL(t.TempDir()), maptask.Execution(exec))
			if err == nil || !strings.Contains(err.Error(), bad+" "+c.want) {
				t.Errorf("err %v, want %q", err, bad+" "+c.want)
			}
			if n := jobsOf(t, exec); n != 0 {
				t.Errorf("%d jobs submitted", n)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// jobsOf counts the jobs (of any user) whose comment names the execution.
func jobsOf(t *testing.T, execution string) int {
	out, err := exec.Command("squeue", "--noheader", "--states=all", "--format=%k").Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "maptask:"+execution {
			n++
		}
	}
	return n
}

// A job of another user whose comment names this execution is not adopted by a
// (re)starting driver, even with a manifest in the work directory naming it.
func TestOtherUsersJobNotAdopted(t *testing.T) {
	requireSlurm(t)
	if os.Geteuid() != 0 {
		t.Skip("submitting a job as another user (nobody) needs root")
	}
	execution := fmt.Sprintf("foreign-%d", time.Now().UnixNano())
	cmd := exec.Command("runuser", "-u", "nobody", "--", "sbatch", "--parsable", "--array=0-0",
		"--comment=maptask:"+execution, "--chdir=/", "--output=/dev/null", "--wrap=sleep 8")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("cannot submit as nobody: %v", err)
	}
	job := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("scancel", job).Run() })
	work := t.TempDir()
	must(t, os.Mkdir(filepath.Join(work, execution), 0o700))
	must(t, os.WriteFile(filepath.Join(work, execution, job+".tasks"), []byte("0 0:1\n"), 0o600))

	dir := t.TempDir()
	b := &slurm.Backend{WorkDir: work, Poll: 200 * time.Millisecond}
	res, err := maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(dir, 1, 0),
		maptask.Backend(b), maptask.StoreURL(t.TempDir()), maptask.Execution(execution))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.At(0); r.Attempts != 1 || backendtest.Runs(dir, 0) != 1 {
		t.Fatalf("element 0: %+v, ran %d times; want one attempt, not one spent waiting for nobody's job %s",
			r, backendtest.Runs(dir, 0), job)
	}
}
