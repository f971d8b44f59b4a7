package slurm_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/slurm"
)

// arrayTasks returns the state of each array task ("job_task") of the
// arrays whose comment names execution, as squeue shows them.
func arrayTasks(t *testing.T, execution string) map[string]string {
	t.Helper()
	out, err := exec.Command("squeue", "--noheader", "--array", "--states=all", "--format=%F|%K|%T|%k").Output()
	if err != nil {
		t.Errorf("squeue: %v", err)
		return nil
	}
	tasks := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) == 4 && f[3] == "maptask:"+execution {
			tasks[f[0]+"_"+f[1]] = f[2]
		}
	}
	return tasks
}

// runningTasks returns the array tasks of execution running now.
func runningTasks(t *testing.T, execution string) []string {
	var keys []string
	for key, state := range arrayTasks(t, execution) {
		if state == "RUNNING" {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// throttle returns an array's ArrayTaskThrottle (0: none) and ArrayTaskId
// as scontrol show job prints them.
func throttle(t *testing.T, array string) (int, string) {
	t.Helper()
	out, err := exec.Command("scontrol", "--oneliner", "show", "job", array).Output()
	if err != nil {
		t.Fatalf("scontrol show job %s: %v", array, err)
	}
	n, ids := 0, ""
	for _, field := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(field, "=")
		switch {
		case k == "ArrayTaskThrottle":
			n, _ = strconv.Atoi(v)
		case k == "ArrayTaskId" && ids == "":
			ids = v // the first record: the tasks still pending, when some are
		}
	}
	return n, ids
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A map's concurrency changed while it runs reaches its array's throttle
// (scontrol show job): a higher bound starts more tasks at once, a lower
// one lets the tasks running at the change finish (none is cancelled: each
// element runs once) and then runs no more than it.
func TestConcurrencyChangedWhileRunning(t *testing.T) {
	requireSlurm(t)
	const n = 8
	id := fmt.Sprintf("live-throttle-%d", time.Now().UnixNano())
	dir := t.TempDir()
	b := &slurm.Backend{WorkDir: t.TempDir(), Poll: 200 * time.Millisecond}
	var c maptask.Control // changes the map while it runs
	type result struct {
		res *maptask.Results[int]
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := maptask.Map(context.Background(), backendtest.Slow.WithOverrides(maptask.Retries(0)), backendtest.SlowInputs(dir, n, 4*time.Second),
			maptask.Backend(b), maptask.Concurrency(2), maptask.BatchSize(1), maptask.StoreURL(t.TempDir()), maptask.Execution(id), maptask.WithControl(&c))
		done <- result{res, err}
	}()
	// Running tasks, sampled until the map ends.
	type sample struct {
		at      time.Time
		running int
	}
	var mu sync.Mutex
	var samples []sample
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			k := len(runningTasks(t, id))
			mu.Lock()
			samples = append(samples, sample{time.Now(), k})
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	most := func(from, to time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, s := range samples {
			if !s.at.Before(from) && s.at.Before(to) {
				k = max(k, s.running)
			}
		}
		return k
	}
	stopSampling := sync.OnceFunc(func() { close(stop); <-sampled })
	var r result
	defer func() {
		if r.res == nil {
			r = <-done // a failed check: the map still ends by itself
		}
		stopSampling()
	}()
	waitUntil(t, "2 array tasks running", time.Minute, func() bool { return len(runningTasks(t, id)) == 2 })
	array, _, _ := strings.Cut(runningTasks(t, id)[0], "_")
	if k, ids := throttle(t, array); k != 2 {
		t.Fatalf("array %s before any change: ArrayTaskThrottle=%d ArrayTaskId=%s, want throttle 2", array, k, ids)
	}

	// Raise the bound to 4.
	higher := 4
	if err := c.SetConcurrency(higher); err != nil {
		t.Fatal(err)
	}
	raised := time.Now()
	var raisedIDs string
	waitUntil(t, "ArrayTaskThrottle=4", 5*time.Second, func() bool {
		k, ids := throttle(t, array)
		raisedIDs = ids
		return k == 4
	})
	tookRaise := time.Since(raised)
	waitUntil(t, "4 array tasks running", 30*time.Second, func() bool { return len(runningTasks(t, id)) == 4 })
	tookStart := time.Since(raised) // most(raised, ...) may have missed them: sampled less often

	// Lower it to 1 while 4 run.
	atChange := runningTasks(t, id)
	lower := 1
	if err := c.SetConcurrency(lower); err != nil {
		t.Fatal(err)
	}
	lowered := time.Now()
	var loweredIDs string
	waitUntil(t, "ArrayTaskThrottle=1", 5*time.Second, func() bool {
		k, ids := throttle(t, array)
		loweredIDs = ids
		return k == 1
	})
	waitUntil(t, "the tasks running at the change to finish", time.Minute, func() bool {
		return !slices.ContainsFunc(runningTasks(t, id), func(key string) bool { return slices.Contains(atChange, key) })
	})
	drained := time.Now()

	r = <-done
	stopSampling()
	if r.err != nil {
		t.Fatal(r.err)
	}
	states := arrayTasks(t, id)
	for _, key := range atChange {
		if states[key] != "COMPLETED" {
			t.Errorf("array task %s, running at the change to 1, ended %s", key, states[key])
		}
	}
	before, during, after := most(time.Time{}, raised), most(raised, lowered), most(drained, time.Now())
	t.Logf("array %s: ArrayTaskThrottle=4 (ArrayTaskId=%s) %v after the raise, 4 tasks running %v after it; ArrayTaskThrottle=1 (ArrayTaskId=%s); the %d tasks running at the lowering finished %v after it",
		array, raisedIDs, tookRaise.Round(time.Millisecond), tookStart.Round(time.Millisecond), loweredIDs, len(atChange), drained.Sub(lowered).Round(time.Millisecond))
	t.Logf("array tasks running at most: %d at bound 2, %d at bound 4 (sampled), %d at bound 1 once those finished", before, during, after)
	if before > 2 || during > 4 || after > 1 {
		t.Errorf("array tasks running at most: %d at bound 2, %d at bound 4, %d at bound 1", before, during, after)
	}
	for i := range n {
		if runs, at := backendtest.Runs(dir, i), r.res.At(i); runs != 1 || at.Err != nil || at.Attempts != 1 {
			t.Errorf("element %d ran %d times: %+v", i, runs, at)
		}
	}
}
