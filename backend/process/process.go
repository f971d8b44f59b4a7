// Package process runs a map's elements in local worker processes: the program
// itself, started again in worker mode (see maptask.Init), one process per batch
// of elements, each in its own process group. It is the local twin of the
// cluster backends: inputs and outputs travel through the store, and a worker
// killed by a signal is a lost attempt, exactly as an evicted pod would be.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/internal/reaper"
	"github.com/maptask/maptask/store"
	"github.com/maptask/maptask/worker"
)

// Backend starts worker processes. The zero value runs the current executable
// (os.Executable) and is safe to share between maps.
type Backend struct {
	// Executable is the worker program; "" means this program. It must call
	// maptask.Init first thing in main and register the same tasks.
	Executable string
	// Args are passed to the worker program.
	Args []string
	// Env is added to the worker's environment (after this process's own).
	Env []string
	// BatchSize overrides the elements per worker process chosen by Map.
	BatchSize int
	// Grace is added to a batch's total timeout before the driver kills a worker
	// whose task ignores its context; default 5s.
	Grace time.Duration
	// MaxProcesses bounds the worker processes of a map run without a
	// concurrency limit (Concurrency 0); default backend.LocalProcessLimit().
	MaxProcesses int
}

var (
	_ backend.Bounded = (*Backend)(nil)
	_ backend.Checker = (*Backend)(nil)
)

// Check implements backend.Checker: the worker program is started once with
// nothing to do, to learn before any worker runs that its main calls
// maptask.Init first (see worker.Probe).
func (b *Backend) Check(ctx context.Context, job *backend.Job) error {
	exe, err := worker.Program(b.Executable)
	if err != nil {
		return err
	}
	return worker.Probe(ctx, exe, b.Args, b.Env)
}

// MaxConcurrency implements backend.Bounded: an unbounded map starts at most
// this many worker processes at once.
func (b *Backend) MaxConcurrency() int {
	if b.MaxProcesses > 0 {
		return b.MaxProcesses
	}
	return backend.LocalProcessLimit()
}

var _ backend.Remote = (*Backend)(nil)

// New returns a process backend running this program as its workers.
func New() *Backend { return &Backend{} }

// Name implements backend.Backend.
func (*Backend) Name() string { return "process" }

// Remote implements backend.Remote.
func (*Backend) Remote() bool { return true }

var launches atomic.Int64

// stopGrace is how long a worker asked to stop may take to record its
// finished elements before it is killed.
const stopGrace = 5 * time.Second

// Run implements backend.Backend: one goroutine per slot of the concurrency
// bound (MaxConcurrency when the map has none), each starting one worker
// process per batch and waiting for it.
func (b *Backend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	exe, err := worker.Program(b.Executable)
	if err != nil {
		return err
	}
	if job.Execution == "" || job.StoreURL == "" {
		return errors.New("the process backend needs a durable execution (an execution id and a store)")
	}
	st, err := store.Open(ctx, job.StoreURL)
	if err != nil {
		return err
	}
	defer st.Close()
	batch := job.BatchSize
	if b.BatchSize > 0 {
		batch = b.BatchSize
	}
	batch = max(batch, 1)
	r := &runner{b: b, exe: exe, job: job, q: q, st: st}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	workers := backend.EffectiveConcurrency(b, job.Concurrency)
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for {
				attempts, ok := q.NextBatch(batch)
				if !ok {
					return
				}
				if err := r.launch(ctx, attempts); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	return nil
}

type runner struct {
	b   *Backend
	exe string
	job *backend.Job
	q   backend.Queue
	st  *store.Store
}

// launch runs one worker process for attempts and reports every one of them.
// An error means no worker could be started at all.
func (r *runner) launch(ctx context.Context, attempts []backend.Attempt) error {
	writer := fmt.Sprintf("p%d-%d-%d", os.Getpid(), launches.Add(1), attempts[0].Index)
	cmd := exec.Command(r.exe, r.b.Args...)
	cmd.Env = append(os.Environ(), r.b.Env...)
	cmd.Env = append(cmd.Env,
		worker.EnvWorker+"=1",
		worker.EnvStoreURL+"="+r.job.StoreURL,
		worker.EnvExecution+"="+r.job.Execution,
		worker.EnvWriter+"="+writer,
		worker.EnvAttempts+"="+worker.FormatAttempts(attempts),
	)
	if r.job.Timeout > 0 {
		cmd.Env = append(cmd.Env, worker.EnvTimeout+"="+r.job.Timeout.String())
	}
	if r.job.MaxLog > 0 {
		cmd.Env = append(cmd.Env, worker.EnvMaxLog+"="+strconv.Itoa(r.job.MaxLog))
	}
	// A process group of its own, killed with everything in it if the driver
	// dies (see package reaper).
	cmd.SysProcAttr = reaper.SysProcAttr()
	cmd.Env = append(cmd.Env, reaper.Env())
	out := logbuf.New(r.job.MaxLog)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // output held open by an escaped process does not hold up the driver

	start := time.Now()
	if err := cmd.Start(); err != nil {
		for _, a := range attempts {
			r.q.Report(backend.Outcome{Attempt: a, Status: backend.Lost, Err: err, ExitCode: -1})
		}
		return fmt.Errorf("starting worker %s: %w", r.exe, err)
	}
	pgid := cmd.Process.Pid
	reaper.Track(pgid)
	defer reaper.Untrack(pgid)
	// The driver's own deadline, for tasks that ignore their context: every
	// attempt's timeout plus a grace period.
	var timedOut atomic.Bool
	var deadline *time.Timer
	if r.job.Timeout > 0 {
		grace := r.b.Grace
		if grace == 0 {
			grace = 5 * time.Second
		}
		deadline = time.AfterFunc(time.Duration(len(attempts))*r.job.Timeout+grace, func() {
			timedOut.Store(true)
			reaper.KillTree(pgid)
		})
	}
	// A cancelled run asks the worker to stop (SIGTERM: it records what it
	// finished and exits), and kills the group if it has not after stopGrace.
	var (
		killMu    sync.Mutex
		killLater *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		killMu.Lock()
		defer killMu.Unlock()
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		killLater = time.AfterFunc(stopGrace, func() { reaper.KillTree(pgid) })
	})
	waitErr := cmd.Wait()
	if !stop() {
		killMu.Lock()
		if killLater != nil {
			killLater.Stop()
		}
		killMu.Unlock()
	}
	if deadline != nil {
		deadline.Stop()
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // nothing the worker started outlives it
	elapsed := time.Since(start)

	recs, readErr := r.st.ReadJournal(context.WithoutCancel(ctx), r.job.Execution, writer)
	byIndex := make(map[int]store.Record, len(recs))
	for _, rec := range recs {
		byIndex[rec.Index] = rec
	}
	logText := out.Bytes()
	exit := exitStatus(waitErr)
	if exit.code == worker.ExitNoInit {
		// Every worker of this map would do the same: stop the map now rather
		// than spend retries finding out.
		r.q.Halt(worker.NoInitError(r.exe))
	}
	recorded := func(a backend.Attempt) (backend.Outcome, bool) {
		rec, ok := byIndex[a.Index]
		if !ok || rec.Attempts != a.Number {
			return backend.Outcome{}, false
		}
		o := worker.OutcomeOf(a, rec)
		if o.ExitCode < 0 {
			o.ExitCode = exit.code
		}
		return o, true
	}
	var stopped error
	if ctx.Err() != nil {
		stopped = context.Cause(ctx)
	}
	// How the worker ended decides the outcome of the attempt it was running.
	ended := func(a backend.Attempt) (backend.Outcome, bool) {
		o := backend.Outcome{Duration: elapsed / time.Duration(len(attempts)), ExitCode: exit.code}
		switch {
		case timedOut.Load():
			o.Status, o.Err = backend.TimedOut, fmt.Errorf("worker killed after the attempt's timeout of %v: %w", r.job.Timeout, context.DeadlineExceeded)
		case exit.signal != 0 || exit.code == worker.ExitStopped:
			o.Status, o.Err = backend.Lost, fmt.Errorf("worker process killed by signal %v%s", exit.signal, tail(logText))
		case readErr != nil:
			o.Status, o.Err = backend.Lost, fmt.Errorf("reading the worker's outcomes: %w", readErr)
		case worker.CannotRun(exit.code):
			// The worker cannot run this map at all: retrying will not help.
			o.Status, o.Permanent = backend.Failed, true
			o.Err = fmt.Errorf("worker exited with status %d%s", exit.code, tail(logText))
			return o, true
		case exit.code != 0:
			o.Status, o.Err = backend.Failed, fmt.Errorf("worker exited with status %d%s", exit.code, tail(logText))
		default:
			o.Status, o.Err = backend.Lost, errors.New("worker exited without recording an outcome")
		}
		return o, false
	}
	for _, o := range remote.Settle(attempts, recorded, stopped, ended) {
		r.q.Report(o)
	}
	worker.KeepBatchOutput(context.WithoutCancel(ctx), r.st, r.job.Execution, attempts, logText)
	return nil
}

type exit struct {
	code   int
	signal syscall.Signal
}

func exitStatus(err error) exit {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return exit{code: 0}
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exit{code: -1, signal: ws.Signal()}
	}
	return exit{code: ee.ExitCode()}
}

// tail quotes the last line of a worker's output in an error message.
func tail(out []byte) string {
	if line := logbuf.LastLine(out); line != "" {
		return ": " + line
	}
	return ""
}
