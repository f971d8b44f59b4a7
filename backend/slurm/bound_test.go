package slurm_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/slurm"
)

// timedInput is one element of timed: attempt k sleeps Sleeps[k-1] (the
// last one for later attempts), and the first Fail attempts then fail.
type timedInput struct {
	Dir    string
	Sleeps []time.Duration
	Fail   int
}

// timed records when each attempt starts and ends, as files
// Dir/<element>.<attempt>.start and .end holding a Unix time in
// nanoseconds, so that a test knows what runs now and, afterwards, how
// many attempts ran at once.
var timed = maptask.NewTask("maptask.slurmtest.timed", func(ctx context.Context, in timedInput) (int, error) {
	index, attempt, _ := maptask.AttemptFromContext(ctx)
	name := filepath.Join(in.Dir, fmt.Sprintf("%d.%d", index, attempt))
	stamp := func(what string) {
		os.WriteFile(name+"."+what, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o600)
	}
	stamp("start")
	var sleep time.Duration
	if len(in.Sleeps) > 0 {
		sleep = in.Sleeps[min(attempt, len(in.Sleeps))-1]
	}
	select {
	case <-time.After(sleep):
	case <-ctx.Done():
		stamp("end")
		return 0, ctx.Err()
	}
	stamp("end")
	if attempt <= in.Fail {
		return 0, fmt.Errorf("injected failure of attempt %d", attempt)
	}
	return index, nil
})

// span is one attempt of timed; end is zero while it runs.
type span struct {
	element, attempt int
	start, end       time.Time
}

// spans reads what timed recorded in dir.
func spans(t *testing.T, dir string) []span {
	t.Helper()
	starts, err := filepath.Glob(filepath.Join(dir, "*.start"))
	if err != nil {
		t.Fatal(err)
	}
	stamp := func(path string) time.Time {
		data, err := os.ReadFile(path)
		if err != nil {
			return time.Time{}
		}
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return time.Time{} // being written
		}
		return time.Unix(0, n)
	}
	var out []span
	for _, path := range starts {
		base := strings.TrimSuffix(path, ".start")
		var s span
		if _, err := fmt.Sscanf(filepath.Base(base), "%d.%d", &s.element, &s.attempt); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s.start = stamp(path); s.start.IsZero() {
			s.start = time.Now()
		}
		s.end = stamp(base + ".end")
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b span) int { return a.start.Compare(b.start) })
	return out
}

// runningNow counts the attempts that started and have not ended.
func runningNow(t *testing.T, dir string) int {
	k := 0
	for _, s := range spans(t, dir) {
		if s.end.IsZero() {
			k++
		}
	}
	return k
}

// mostAtOnce is the most attempts that ran at the same time (one still
// running counts until now), and when that many first did.
func mostAtOnce(ss []span) (int, time.Time) {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, s := range ss {
		end := s.end
		if end.IsZero() {
			end = time.Now()
		}
		edges = append(edges, edge{s.start, 1}, edge{end, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	cur, most, when := 0, 0, time.Time{}
	for _, e := range edges {
		cur += e.delta
		if cur > most {
			most, when = cur, e.at
		}
	}
	return most, when
}

func describe(ss []span, t0 time.Time) string {
	var b strings.Builder
	for _, s := range ss {
		end := "running"
		if !s.end.IsZero() {
			end = s.end.Sub(t0).Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "\n  element %d attempt %d: %v .. %s", s.element, s.attempt, s.start.Sub(t0).Round(10*time.Millisecond), end)
	}
	return b.String()
}

// A retry goes into an array of its own, submitted while the first array
// still runs: together they still run at most the map's concurrency (the
// retry's array does not bring a bound of its own), and the retry starts as
// soon as the first array leaves a slot free, not once it has finished.
func TestRetriesStayWithinBound(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	in := []timedInput{
		{Dir: dir, Sleeps: []time.Duration{0, time.Second}, Fail: 1}, // fails at once; its retry runs 1s
		{Dir: dir, Sleeps: []time.Duration{3 * time.Second}},
		{Dir: dir, Sleeps: []time.Duration{9 * time.Second}}, // starts when element 0 fails: the first array's last
	}
	b := &slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}
	t0 := time.Now()
	res, err := maptask.Map(context.Background(), timed.WithOverrides(maptask.Retries(1)), in, maptask.Backend(b),
		maptask.Concurrency(2), maptask.BatchSize(1), maptask.StoreURL(t.TempDir()),
		maptask.Execution(fmt.Sprintf("bound-retries-%d", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	ss := spans(t, dir)
	t.Logf("attempts (from the map's start):%s", describe(ss, t0))
	if r := res.At(0); r.Err != nil || r.Attempts != 2 {
		t.Fatalf("element 0: %+v, want a success at the second attempt", r)
	}
	if most, when := mostAtOnce(ss); most > 2 {
		t.Errorf("%d attempts ran at once (at %v), at concurrency 2", most, when.Sub(t0).Round(10*time.Millisecond))
	}
	var retry, last span
	for _, s := range ss {
		switch {
		case s.element == 0 && s.attempt == 2:
			retry = s
		case s.element == 2:
			last = s
		}
	}
	if !retry.start.Before(last.end) {
		t.Errorf("the retry of element 0 started at %v, after the first array's last task (element 2) ended at %v: it waited for the whole array",
			retry.start.Sub(t0).Round(10*time.Millisecond), last.end.Sub(t0).Round(10*time.Millisecond))
	}
}

// pendingReasons returns the pending array tasks of execution's arrays
// other than first, with why they wait ("job_task reason"), as squeue shows
// them.
func pendingReasons(t *testing.T, execution string, first int) []string {
	t.Helper()
	out, err := exec.Command("squeue", "--noheader", "--array", "--states=PENDING", "--format=%F|%K|%r|%k").Output()
	if err != nil {
		t.Errorf("squeue: %v", err)
		return nil
	}
	var tasks []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) == 4 && f[3] == "maptask:"+execution && f[0] != strconv.Itoa(first) {
			tasks = append(tasks, f[0]+"_"+f[1]+" "+f[2])
		}
	}
	slices.Sort(tasks)
	return tasks
}

// The arrays of retries waiting for room are held, and a live change of the
// bound reaches them at once: a lower bound keeps them held (and starts
// nothing more until fewer than it run over all arrays), a higher one
// releases them.
func TestHeldArraysFollowLiveChanges(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	const retry = 3 * time.Second
	in := []timedInput{{Dir: dir, Sleeps: []time.Duration{13 * time.Second}}} // element 0 runs throughout
	for range 4 {
		// Elements 1-4 fail at once, one after the other beside element 0;
		// their retries run 3s each.
		in = append(in, timedInput{Dir: dir, Sleeps: []time.Duration{0, retry}, Fail: 1})
	}
	id := fmt.Sprintf("bound-live-%d", time.Now().UnixNano())
	b := &slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}
	var c maptask.Control
	type result struct {
		res *maptask.Results[int]
		err error
	}
	done := make(chan result, 1)
	t0 := time.Now()
	go func() {
		res, err := maptask.Map(context.Background(), timed.WithOverrides(maptask.Retries(1)), in, maptask.Backend(b),
			maptask.Concurrency(2), maptask.BatchSize(1), maptask.StoreURL(t.TempDir()), maptask.Execution(id), maptask.WithControl(&c))
		done <- result{res, err}
	}()
	var r result
	defer func() {
		if r.res == nil {
			<-done // a failed check: the map still ends by itself
		}
	}()
	retries := func(ended bool) int {
		k := 0
		for _, s := range spans(t, dir) {
			if s.attempt == 2 && (!ended || !s.end.IsZero()) {
				k++
			}
		}
		return k
	}
	// At bound 2: element 0 and one retry run; the other retries wait, held.
	waitUntil(t, "a retry running beside element 0", 30*time.Second, func() bool { return retries(false) == 1 })
	first := math.MaxInt // the first array: the smallest job id
	for key := range arrayTasks(t, id) {
		job, _, _ := strings.Cut(key, "_")
		if n, err := strconv.Atoi(job); err == nil {
			first = min(first, n)
		}
	}
	held := pendingReasons(t, id, first)
	t.Logf("at bound 2, pending retry tasks: %q", held)
	if len(held) == 0 {
		t.Errorf("no retry task is pending at bound 2 while two attempts run")
	}
	for _, task := range held {
		if !strings.HasSuffix(task, " JobHeldUser") {
			t.Errorf("retry task %s pending at bound 2: want it held (JobHeldUser)", task)
		}
	}

	// Lower to 1 while 2 run: none stops, and once the retry ended nothing
	// more starts while element 0 runs.
	if err := c.SetConcurrency(1); err != nil {
		t.Fatal(err)
	}
	lowered := time.Now()
	waitUntil(t, "the running retry to end", 30*time.Second, func() bool { return retries(true) == 1 })
	time.Sleep(1500 * time.Millisecond)
	if k := retries(false); k != 1 {
		t.Errorf("%d retries started at bound 1 while element 0 runs", k)
	}
	for _, task := range pendingReasons(t, id, first) {
		if !strings.HasSuffix(task, " JobHeldUser") {
			t.Errorf("retry task %s pending at bound 1: want it held (JobHeldUser)", task)
		}
	}

	// Raise to 4: the three retries left start at once, beside element 0.
	if err := c.SetConcurrency(4); err != nil {
		t.Fatal(err)
	}
	raised := time.Now()
	waitUntil(t, "the three retries left to start", 30*time.Second, func() bool { return retries(false) == 4 })
	took := time.Since(raised)
	r = <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	ss := spans(t, dir)
	t.Logf("attempts (from the map's start; lowered to 1 at %v, raised to 4 at %v, the last retry started %v after):%s",
		lowered.Sub(t0).Round(10*time.Millisecond), raised.Sub(t0).Round(10*time.Millisecond), took.Round(10*time.Millisecond), describe(ss, t0))
	if took > 5*time.Second {
		t.Errorf("the retries held at bound 1 started %v after the raise to 4", took.Round(10*time.Millisecond))
	}
	var before, after []span // attempts that started before the raise, and after
	for _, s := range ss {
		if s.start.Before(raised) {
			before = append(before, s)
		} else {
			after = append(after, s)
		}
	}
	if most, when := mostAtOnce(before); most > 2 {
		t.Errorf("%d attempts ran at once (at %v) before the raise, at bounds 2 and 1", most, when.Sub(t0).Round(10*time.Millisecond))
	}
	for _, s := range ss {
		if s.element == 0 && s.end.Before(raised) {
			t.Logf("element 0 ended before the raise: the raise had room to fill anyway")
		}
	}
	if most, _ := mostAtOnce(ss); most > 4 {
		t.Errorf("%d attempts ran at once at bound 4", most)
	}
	if len(after) != 3 {
		t.Errorf("%d attempts started after the raise, want the 3 retries held", len(after))
	}
	for i := range in {
		if at := r.res.At(i); at.Err != nil {
			t.Errorf("element %d: %+v", i, at)
		}
	}
}

// heldInputs are the elements of heldDriver, recording in dir: element 0
// fails at once (its retry runs 1s), element 1 runs 6s.
func heldInputs(dir string) []timedInput {
	return []timedInput{
		{Dir: dir, Sleeps: []time.Duration{0, time.Second}, Fail: 1},
		{Dir: dir, Sleeps: []time.Duration{6 * time.Second}},
	}
}

// heldDriver maps timed over heldInputs at concurrency 1 on Slurm; the
// restart test runs it twice.
func heldDriver() int {
	b := &slurm.Backend{WorkDir: os.Getenv("SLURM_TEST_WORK"), Poll: 200 * time.Millisecond}
	res, err := maptask.Map(context.Background(), timed.WithOverrides(maptask.Retries(1)), heldInputs(os.Getenv("SLURM_TEST_DIR")),
		maptask.Backend(b), maptask.Concurrency(1), maptask.BatchSize(1), maptask.StoreURL(os.Getenv("SLURM_TEST_STORE")),
		maptask.Execution(os.Getenv("SLURM_TEST_EXECUTION")))
	if err != nil || res.Succeeded() != 2 {
		os.Stderr.WriteString("held driver: " + errString(err) + "\n")
		return 1
	}
	return 0
}

// A driver killed while a retry's array is held (the bound full) leaves it
// held; the next driver of the execution adopts it with the rest, shares the
// bound out again, and releases it once there is room: each element runs
// once more than it failed, never two at once.
func TestRestartedDriverReleasesHeldArray(t *testing.T) {
	requireSlurm(t)
	dir := t.TempDir()
	id := fmt.Sprintf("bound-restart-%d", time.Now().UnixNano())
	work := t.TempDir()
	env := append(os.Environ(), "SLURM_TEST_DRIVER=held", "SLURM_TEST_DIR="+dir, "SLURM_TEST_WORK="+work,
		"SLURM_TEST_STORE="+t.TempDir(), "SLURM_TEST_EXECUTION="+id)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	t0 := time.Now()
	first := start()
	held := func() bool {
		for _, task := range pendingReasons(t, id, -1) {
			if strings.HasSuffix(task, " JobHeldUser") {
				return true
			}
		}
		return false
	}
	waitUntil(t, "element 1 running and the retry of element 0 held", 30*time.Second, func() bool {
		return runningNow(t, dir) == 1 && held()
	})
	first.Process.Kill()
	first.Wait()
	killed := time.Now()
	if err := start().Wait(); err != nil {
		t.Fatalf("second driver: %v", err)
	}
	ss := spans(t, dir)
	t.Logf("attempts (from the first driver's start; killed at %v):%s", killed.Sub(t0).Round(10*time.Millisecond), describe(ss, t0))
	if len(ss) != 3 {
		t.Errorf("%d attempts, want 3: element 0 twice, element 1 once", len(ss))
	}
	if most, when := mostAtOnce(ss); most > 1 {
		t.Errorf("%d attempts ran at once (at %v), at concurrency 1", most, when.Sub(t0).Round(10*time.Millisecond))
	}
	if arrays, _ := filepath.Glob(filepath.Join(work, id, "*.tasks")); len(arrays) != 2 {
		t.Errorf("%d arrays submitted, want 2: the first, and the retry's the second driver adopted", len(arrays))
	}
	if n := len(pendingReasons(t, id, -1)); n != 0 {
		t.Errorf("%d array tasks still pending after the map", n)
	}
}

// A held array of this execution that no manifest names (its driver died
// between sbatch and naming the manifest after the job id) cannot be
// adopted: the next driver cancels it rather than leave it held for ever.
func TestUnnamedHeldArrayCancelled(t *testing.T) {
	requireSlurm(t)
	id := fmt.Sprintf("bound-stray-%d", time.Now().UnixNano())
	out, err := exec.Command("sbatch", "--parsable", "--hold", "--array=0-1", "--comment=maptask:"+id,
		"--chdir=/", "--output=/dev/null", "--wrap=true").Output()
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	job := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("scancel", job).Run() })
	dir := t.TempDir()
	b := &slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}
	res, err := maptask.Map(context.Background(), timed, []timedInput{{Dir: dir}}, maptask.Backend(b),
		maptask.Concurrency(1), maptask.BatchSize(1), maptask.StoreURL(t.TempDir()), maptask.Execution(id))
	if err != nil || res.Succeeded() != 1 {
		t.Fatalf("err %v, %d succeeded", err, res.Succeeded())
	}
	found := 0
	for key, state := range arrayTasks(t, id) {
		if strings.HasPrefix(key, job+"_") {
			found++
			if state != "CANCELLED" {
				t.Errorf("array task %s of the unnamed array: %s, want CANCELLED", key, state)
			}
		}
	}
	if found == 0 {
		t.Errorf("squeue shows no task of the unnamed array %s", job)
	}
}
