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

var (
	_ backend.Remote  = (*Backend)(nil)
	_ backend.Batcher = (*Backend)(nil)
)

// maxBatch bounds the elements of one worker process: past it, a process's
// start-up is a negligible part of its batch whatever the task.
const maxBatch = 1 << 16

// DefaultBatchSize implements backend.Batcher: a worker process costs milliseconds
// to start (exec, page faults, the runtime, opening the store, reading the
// spec), so a map takes about two batches per slot of its concurrency, up to
// maxBatch elements each: 100,000 elements at concurrency 8 start 16
// processes, not 196 as batches of backend.BatchSize's 512 would. A batch
// loses at most the element it was running when its worker dies (each is
// journaled as it finishes). The map's BatchSize option overrides it, and
// the Backend's BatchSize field overrides both.
func (b *Backend) DefaultBatchSize(n, concurrency int) int {
	if n <= 0 {
		return 1
	}
	if concurrency <= 0 {
		concurrency = b.MaxConcurrency()
	}
	return min(max((n+2*concurrency-1)/(2*concurrency), 1), maxBatch)
}

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
	st, err := remote.OpenStore(ctx, b.Name(), job)
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
	var failed atomic.Pointer[error]
	// A worker process per slot at a time; a raised bound starts more slots.
	backend.Workers(q, backend.EffectiveConcurrency(b, job.Concurrency), func() {
		for {
			attempts, ok := q.NextBatch(batch)
			if !ok {
				return
			}
			if err := r.launch(ctx, attempts); err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		}
	}, nil)
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
	st  *store.Store // the journal the workers write (remote.Journal) and their logs
}

// launch runs one worker process for attempts and reports every one of them.
// An error means no worker could be started at all.
func (r *runner) launch(ctx context.Context, attempts []backend.Attempt) error {
	writer := fmt.Sprintf("%s%d-%d-%d", store.ProcessWriterPrefix, os.Getpid(), launches.Add(1), attempts[0].Index)
	cmd := exec.Command(r.exe, r.b.Args...)
	cmd.Env = append(os.Environ(), r.b.Env...)
	cmd.Env = append(cmd.Env, remote.Environ(remote.Env(r.job, remote.Worker{Writer: writer, Attempts: remote.FormatAttempts(attempts)}))...)
	// A process group of its own, killed with everything in it if the driver
	// dies (see package reaper).
	cmd.SysProcAttr = reaper.SysProcAttr()
	markEnv, mark := reaper.Sub()
	cmd.Env = append(cmd.Env, markEnv)
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
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // nothing the worker started outlives it,
	reaper.KillMarked(mark)                  // also outside its group and session
	elapsed := time.Since(start)

	recs, readErr := r.st.ReadJournal(context.WithoutCancel(ctx), r.job.Execution, writer)
	logText := out.Bytes()
	b := remote.Batch{Attempts: attempts, Records: recs, ReadErr: readErr, Exit: exitOf(waitErr)}
	b.Exit.Where, b.Exit.Output, b.Exit.Duration = "worker process", logText, elapsed/time.Duration(len(attempts))
	if timedOut.Load() {
		b.Exit.How, b.Exit.Limit = remote.TimedOut, r.job.Timeout
	}
	if ctx.Err() != nil {
		b.Stopped = context.Cause(ctx)
	}
	remote.Report(r.q, b, r.exe)
	worker.KeepBatchOutput(context.WithoutCancel(ctx), r.st, r.job.Execution, attempts, logText)
	return nil
}

// exitOf says how a worker process ended, from cmd.Wait's error.
func exitOf(err error) remote.Exit {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return remote.Exit{How: remote.Exited, Code: 0}
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return remote.Exit{How: remote.Killed, Code: -1, Signal: int(ws.Signal())}
	}
	return remote.Exit{How: remote.Exited, Code: ee.ExitCode()}
}
