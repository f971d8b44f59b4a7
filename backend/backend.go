// Package backend defines how maptask launches work: the Backend interface that
// every executor (in-process goroutines, local processes, Kubernetes, Slurm)
// implements, and the types the engine and backends exchange.
//
// A backend never decides anything about a map: it pulls attempts from a Queue,
// runs them, and reports what happened to each. Retries, failure tolerance, early
// stop and caching belong to the engine (internal/engine), so they behave the same
// on every backend. backend/backendtest holds the conformance suite each backend
// runs.
package backend

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"time"
)

// Attempt identifies one try of one element.
type Attempt struct {
	Index  int // element index in the map, 0-based
	Number int // 1-based count of attempts of this element, across runs of a durable execution
}

// Status is how an attempt ended.
type Status uint8

const (
	// Succeeded: the task returned a value.
	Succeeded Status = iota + 1
	// Failed: the task said so (an error, a panic, a non-zero exit). Spends a user retry.
	Failed
	// TimedOut: the attempt ran past the task's Timeout. Spends a user retry.
	TimedOut
	// Lost: the system lost the attempt (a killed worker, an evicted pod, a vanished
	// process). Spends the separate system budget, never a user retry.
	Lost
	// Cancelled: the attempt was stopped because the run stopped (early stop or the
	// caller's cancellation). It says nothing about the element.
	Cancelled
)

var statusNames = [...]string{"", "succeeded", "failed", "timed out", "lost", "cancelled"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Outcome is what a backend reports about a finished attempt.
type Outcome struct {
	Attempt
	Status    Status
	Err       error         // why it did not succeed; nil on success
	Permanent bool          // the task asked not to be retried (maptask.Permanent, or the permanent exit code)
	Duration  time.Duration // how long the attempt ran
	ExitCode  int           // a process's exit code; -1 when there was no process
	Output    []byte        // encoded output when the backend already has it (remote workers); nil in-process
	Recorded  bool          // a worker already journaled this outcome in the store
	// PriorFailures counts failed attempts of this element that the backend
	// retried by itself before this one (a Kubernetes Job's per-index retries).
	// They spend user retries as if the engine had made them.
	PriorFailures int
	// Unstarted marks an attempt that never began: the worker running its
	// batch died before reaching it. It runs again without spending any
	// budget; only the attempt that was running when the worker died is lost.
	Unstarted bool
}

// Queue is the engine's side of a run, as a backend sees it. Both methods are safe
// for concurrent use.
type Queue interface {
	// Next blocks until an attempt may start within the map's concurrency bound and
	// returns it, or returns false when the backend should launch nothing more (all
	// elements are final, the verdict is known, or the run was cancelled).
	Next() (Attempt, bool)
	// NextBatch is Next for up to max attempts that run one after the other in
	// one worker: together they hold a single slot of the concurrency bound, freed
	// when the last of them is reported.
	NextBatch(max int) ([]Attempt, bool)
	// Report records how an attempt ended. Every attempt returned by Next must be
	// reported exactly once, also when it was cancelled.
	Report(Outcome)
	// Halt stops the whole run with cause, as a cancellation would: a backend
	// calls it when it learns that no attempt of the map can run (a worker
	// program that does not call maptask.Init). Attempts handed out must still
	// be reported.
	Halt(cause error)
	// Limits returns what the map allows now, and a channel closed when that
	// next changes (maptask update while the map runs). Backends that start a
	// worker per slot start more on a raise; ConcurrencyLimiters carry the new
	// bound to their scheduler. A lower bound never stops running attempts.
	Limits() (Limits, <-chan struct{})
}

// Limits are the parts of a map that may change while it runs.
type Limits struct {
	Concurrency int // elements in flight at most; 0 means unbounded
	// MaxFailures is how many elements may fail before the map cannot reach
	// its required successes; -1 when unknown (a stream still growing, or a
	// map that runs every element whatever fails).
	MaxFailures int
}

// Invoker runs one attempt of one element inside the current process. The root
// package provides it; it decodes nothing when input and output stay in memory.
type Invoker interface {
	// Invoke runs the task on element a.Index. It returns the task's error; a panic
	// in the task is already turned into an error. If the calling goroutine exits
	// (runtime.Goexit) the attempt is lost.
	Invoke(ctx context.Context, a Attempt) error
}

// Job is what a backend needs to know about a map to launch it.
type Job struct {
	Task        string        // registered task name
	Execution   string        // durable execution id; "" for an in-memory map
	Concurrency int           // elements in flight at most; 0 means unbounded
	Timeout     time.Duration // per attempt; 0 means none
	Invoker     Invoker       // runs an element in this process; nil when the task cannot run here
	N           int           // elements in the map (-1 while a stream is still growing)
	StoreURL    string        // the store remote workers read inputs from and write outcomes to
	BatchSize   int           // elements a remote worker runs one after the other; at least 1
	MaxLog      int           // bytes of output kept per attempt; 0 means 1 MiB
	Resources   Resources     // what each element requests and may use (cluster backends)
	// Interruptible elements may run on preemptible capacity.
	Interruptible bool
	Image         string // container image for cluster backends that run containers
	// Retries is the task's user retries per element. Backends that retry by
	// themselves (Kubernetes' backoffLimitPerIndex) stay within it and report
	// what they spent in Outcome.PriorFailures.
	Retries int
	// MaxFailures is how many elements may fail before the map cannot reach
	// its required successes; -1 when unknown (a stream still growing).
	MaxFailures int
}

// Resources are quantities in Kubernetes syntax ("500m", "2", "1Gi"); empty
// fields are unset.
type Resources struct {
	CPU, Memory, GPU                string // requests
	LimitCPU, LimitMemory, LimitGPU string // limits
}

// Checker is implemented by backends that can tell, before anything is created
// or submitted, that a map cannot run (a missing scheduler command, a partition
// or namespace that does not exist, a resource they cannot express). Map calls
// Check first and returns its error without running anything.
type Checker interface {
	Check(ctx context.Context, job *Job) error
}

// ConcurrencyLimiter is implemented by backends that enforce Job.Concurrency
// themselves (a Slurm array's %N throttle, a Job's parallelism), so that all
// pending attempts can be handed to them at once.
type ConcurrencyLimiter interface {
	LimitsConcurrency() bool
}

// LimitsConcurrency reports whether b enforces the concurrency bound itself.
func LimitsConcurrency(b Backend) bool {
	l, ok := b.(ConcurrencyLimiter)
	return ok && l.LimitsConcurrency()
}

// Bounded is implemented by backends whose every attempt (or batch) costs an
// operating system process on this machine. For them an unbounded map
// (Concurrency 0) runs at most MaxConcurrency attempts at once: "as many as
// the machine allows", never one process per element.
type Bounded interface {
	MaxConcurrency() int
}

// LocalProcessLimit is the default bound on processes one map starts on this
// machine: 8 per CPU, and at most a quarter of what the user's process limit
// (RLIMIT_NPROC) allows, so that a map never exhausts the PID table.
func LocalProcessLimit() int {
	limit := 8 * runtime.NumCPU()
	if n, ok := processRlimit(); ok && n/4 < uint64(limit) {
		limit = int(n / 4)
	}
	return max(limit, 1)
}

// EffectiveConcurrency is the concurrency a map on b runs with: the one asked
// for, or for an unbounded map on a Bounded backend, its bound.
func EffectiveConcurrency(b Backend, concurrency int) int {
	if concurrency <= 0 {
		if l, ok := b.(Bounded); ok {
			return l.MaxConcurrency()
		}
	}
	return concurrency
}

// Remote is implemented by backends whose attempts run outside the driver's
// process. Their workers read inputs from the store and write outcomes to it,
// so a map on such a backend is always a durable execution.
type Remote interface {
	Backend
	Remote() bool
}

// IsRemote reports whether b runs attempts outside this process.
func IsRemote(b Backend) bool {
	r, ok := b.(Remote)
	return ok && r.Remote()
}

// BatchSize is the number of elements a remote worker takes when the user did
// not choose: enough that process or pod start-up is paid once for many
// elements, few enough that every slot of the concurrency bound gets several
// batches (so a slow batch does not hold up the end). Unbounded concurrency
// means one element per worker.
func BatchSize(n, concurrency int) int {
	if concurrency <= 0 || n <= 0 {
		return 1
	}
	return min(max(n/(concurrency*4), 1), 512)
}

// Batcher is a remote backend that chooses its own batch size when the user
// did not (see BatchSizeFor): one whose workers cost little to start takes
// small batches, one that pays a process per batch takes as few as keep every
// slot busy.
type Batcher interface {
	Backend
	// DefaultBatchSize returns the elements per worker for a map of n
	// elements (-1 for a stream still growing) at concurrency (0:
	// unbounded); at least 1.
	DefaultBatchSize(n, concurrency int) int
}

// BatchSizeFor is the batch size a map of n elements at concurrency takes on
// b when the user did not choose: b's own (Batcher), else BatchSize.
func BatchSizeFor(b Backend, n, concurrency int) int {
	if bb, ok := b.(Batcher); ok {
		return max(bb.DefaultBatchSize(n, concurrency), 1)
	}
	return BatchSize(n, concurrency)
}

// Backend launches attempts pulled from a Queue and reports their outcomes.
type Backend interface {
	// Name is a short identifier ("inprocess", "process", "kubernetes", "slurm").
	Name() string
	// Run launches attempts from q until q.Next returns false, reports every one of
	// them, and returns once none is running. Cancelling ctx must stop running
	// attempts promptly (they are reported as Cancelled). An error means the backend
	// itself failed (it could not launch anything more); the engine then marks the
	// unfinished elements as not run.
	Run(ctx context.Context, job *Job, q Queue) error
}

// Batches turns q's blocking NextBatch into a channel, for backends that hand
// everything out at once and wait on other events too (ConcurrencyLimiters).
// The channel closes when the engine hands out nothing more, or once stop is
// called (the engine then stops, and attempts it handed out but the backend
// never received are marked not run).
func Batches(q Queue) (batches <-chan []Attempt, stop func()) {
	out := make(chan []Attempt)
	quit := make(chan struct{})
	go func() {
		defer close(out)
		for {
			attempts, ok := q.NextBatch(math.MaxInt32)
			if !ok {
				return
			}
			select {
			case out <- attempts:
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() { once.Do(func() { close(quit) }) }
}

// IsPermanent reports whether err, or an error it wraps, asks not to be retried
// (it has a method Permanent() bool returning true, as maptask.Permanent's errors do).
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// IsLost reports whether err, or an error it wraps, says the system lost the
// attempt (it has a method Lost() bool returning true): a worker killed by a
// signal, a vanished process. Such attempts spend the system budget.
func IsLost(err error) bool {
	var l interface{ Lost() bool }
	return errors.As(err, &l) && l.Lost()
}

// Classify maps the result of an in-process attempt to a Status: err is what the
// attempt returned, runCtx the run's context and attemptCtx the attempt's own
// (carrying its timeout). Backends that run tasks in this process share it so that
// they agree on what a timeout and a cancellation are. A permanent error
// (IsPermanent) is a permanent failure even when the run was cancelled
// meanwhile; any other error returned once the run's context is done is a
// cancellation.
func Classify(runCtx, attemptCtx context.Context, err error) (Status, bool) {
	switch {
	case err == nil:
		return Succeeded, false
	case IsPermanent(err):
		// The task's own verdict stands even when the run was cancelled
		// meanwhile: the element ran and failed for good, it is not "not run".
		return Failed, true
	case runCtx.Err() != nil:
		return Cancelled, false
	case errors.Is(attemptCtx.Err(), context.DeadlineExceeded):
		return TimedOut, false
	case IsLost(err):
		return Lost, false
	default:
		return Failed, IsPermanent(err)
	}
}

// TimedOutError is the error of an attempt stopped by its timeout:
// "timed out after 2s". errors.Is(err, context.DeadlineExceeded) holds.
type TimedOutError struct {
	After time.Duration // the attempt's timeout
}

func (e *TimedOutError) Error() string { return "timed out after " + e.After.String() }

// Unwrap returns context.DeadlineExceeded.
func (e *TimedOutError) Unwrap() error { return context.DeadlineExceeded }

// Workers runs worker in a goroutine per slot of the map's concurrency bound:
// n of them to begin with (n > 0), more whenever the bound is raised while the
// map runs. A lower bound needs nothing here: the queue hands out nothing
// beyond it, so the extra workers wait. A worker pulls from q until q is
// drained and then returns. When the bound is 0 (unbounded), at the start (n
// == 0) or after a change, unbounded runs once in a goroutine of its own
// instead; nil means the backend has no unbounded mode. A worker that dies
// under a task (runtime.Goexit) is replaced. Workers returns once every
// goroutine it started has returned.
func Workers(q Queue, n int, worker, unbounded func()) {
	var wg sync.WaitGroup
	drained := make(chan struct{})
	var drain sync.Once
	var start func(f func())
	start = func(f func()) {
		wg.Add(1)
		go func() {
			clean := false
			defer func() {
				if !clean {
					start(f) // before Done: the count never reaches zero in between
				}
				wg.Done()
			}()
			f()
			clean = true
			drain.Do(func() { close(drained) })
		}()
	}
	started, unboundedStarted := 0, false
	grow := func(c int) {
		switch {
		case c == 0 && unbounded != nil && !unboundedStarted:
			unboundedStarted = true
			start(unbounded)
		case c > started:
			for ; started < c; started++ {
				start(worker)
			}
		}
	}
	limits, changed := q.Limits()
	if n <= 0 && unbounded == nil {
		n = 1
	}
	grow(n)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-drained:
				return
			case <-changed:
				limits, changed = q.Limits()
				grow(limits.Concurrency)
			}
		}
	}()
	wg.Wait()
}
