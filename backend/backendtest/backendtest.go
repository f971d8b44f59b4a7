// Package backendtest is the conformance suite every maptask backend runs: the
// semantics the engine promises (retries, the system budget for lost attempts,
// timeouts, panics, failure tolerance, early stop, cancellation, resume, caching)
// checked end to end through Map with a fault-injecting task.
//
// A backend package runs it in one line:
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, func(t *testing.T) backend.Backend { return New() }) }
//
// The task records each attempt in files under a directory the test creates, so
// the suite also works when attempts run in other processes.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/worker"
)

// Fault tells the suite's task how to behave on each attempt. Attempts are
// numbered from 1: the first Lose attempts vanish, the next Fail attempts fail,
// and so on; an attempt past all of them succeeds with Value*2.
type Fault struct {
	Value     int
	Dir       string        // where attempts are recorded (one file per element)
	Lose      int           // attempts lost by the system (worker vanishes)
	Fail      int           // attempts that return an error
	Panic     int           // attempts that panic (after the failing ones)
	Permanent bool          // failures are permanent
	Sleep     time.Duration // every attempt sleeps this long first (context-aware)
	SleepOnly int           // if > 0, only the first SleepOnly attempts sleep
	FailIf    string        // while this file exists every attempt fails
}

// Task is the fault-injecting task, registered as "maptask.backendtest.fault".
var Task = maptask.NewTask("maptask.backendtest.fault", run)

// Vanish ends the current attempt the way a lost worker would: in a worker
// process (worker.Active) the process kills itself; in-process the
// goroutine exits without returning.
func Vanish() {
	if worker.Active() {
		if os.Getpid() == 1 {
			// A container's first process cannot be killed from inside its
			// namespace: end the same way, at once, with what SIGKILL leaves.
			os.Exit(128 + int(syscall.SIGKILL))
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	runtime.Goexit()
}

func run(ctx context.Context, f Fault) (int, error) {
	index, attempt, _ := maptask.AttemptFromContext(ctx)
	start := time.Now()
	record := func(what string) {
		if f.Dir == "" {
			return
		}
		line := fmt.Sprintf("%d %d %d %s\n", attempt, start.UnixNano(), time.Now().UnixNano(), what)
		fh, err := os.OpenFile(filepath.Join(f.Dir, strconv.Itoa(index)), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fh.WriteString(line)
			fh.Close()
		}
	}
	if f.Sleep > 0 && (f.SleepOnly == 0 || attempt <= f.SleepOnly) {
		select {
		case <-time.After(f.Sleep):
		case <-ctx.Done():
			record("cancelled")
			return 0, ctx.Err()
		}
	}
	switch {
	case attempt <= f.Lose:
		record("lost")
		Vanish()
	case attempt <= f.Lose+f.Fail:
		record("failed")
		err := fmt.Errorf("injected failure %d of element %d", attempt, index)
		if f.Permanent {
			return 0, maptask.Permanent(err)
		}
		return 0, err
	case attempt <= f.Lose+f.Fail+f.Panic:
		record("panicked")
		panic(fmt.Sprintf("injected panic in element %d", index))
	}
	if f.FailIf != "" {
		if _, err := os.Stat(f.FailIf); err == nil {
			record("failed")
			return 0, fmt.Errorf("element %d: %s exists", index, f.FailIf)
		}
	}
	record("succeeded")
	return f.Value * 2, nil
}

// attemptRecord is one line written by the task.
type attemptRecord struct {
	attempt    int
	start, end int64
	what       string
}

func readRecords(t *testing.T, dir string, index int) []attemptRecord {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(index)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []attemptRecord
	// Only whole lines count: the task may be appending one right now.
	text := string(data)
	text = text[:strings.LastIndexByte(text, '\n')+1]
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var r attemptRecord
		if _, err := fmt.Sscanf(line, "%d %d %d %s", &r.attempt, &r.start, &r.end, &r.what); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// runs counts the attempts of element index that reached the given outcome
// ("" = all attempts).
func runs(t *testing.T, dir string, index int, what string) int {
	n := 0
	for _, r := range readRecords(t, dir, index) {
		if what == "" || r.what == what {
			n++
		}
	}
	return n
}

// maxOverlap is the most attempts that ran at the same time, over all elements.
func maxOverlap(t *testing.T, dir string, n int) int {
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for i := range n {
		for _, r := range readRecords(t, dir, i) {
			edges = append(edges, edge{r.start, 1}, edge{r.end, -1})
		}
	}
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].at != edges[b].at {
			return edges[a].at < edges[b].at
		}
		return edges[a].delta < edges[b].delta // ends before starts at the same instant
	})
	cur, most := 0, 0
	for _, e := range edges {
		cur += e.delta
		most = max(most, cur)
	}
	return most
}

// Setup is what each check gets.
type Setup struct {
	Backend backend.Backend
	Dir     string // the task's record directory
	Store   string // a fresh store URL
}

func setup(t *testing.T, newBackend func(*testing.T) backend.Backend) *Setup {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "attempts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Setup{Backend: newBackend(t), Dir: dir, Store: "file://" + filepath.Join(root, "store")}
}

func faults(s *Setup, n int, f func(i int, f *Fault)) []Fault {
	in := make([]Fault, n)
	for i := range in {
		in[i] = Fault{Value: i, Dir: s.Dir}
		if f != nil {
			f(i, &in[i])
		}
	}
	return in
}
