// Package inprocess runs a map's elements as goroutines of the calling process:
// the embedded default backend, with no encoding, no I/O and no processes.
package inprocess

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/maptask/maptask/backend"
)

// Backend runs attempts as goroutines. The zero value is ready to use; it is
// stateless and safe to share between concurrent maps.
//
// A task that ignores its context cannot be stopped in-process: a timeout or a
// cancellation is seen only when the task returns. Use a process or cluster
// backend for tasks that must be killed.
type Backend struct{}

var _ backend.Backend = Backend{}

// New returns the in-process backend.
func New() Backend { return Backend{} }

// Name implements backend.Backend.
func (Backend) Name() string { return "inprocess" }

// MaxBatch is the most attempts a worker takes from the engine at once when
// Job.BatchSize lets it: it takes more only while they are short (see
// shortAttempt), so that the engine's lock is taken once per batch, not
// once per element. Job.BatchSize 1 (the default) takes one at a time, as a
// map needs when each attempt is journaled as it starts.
const MaxBatch = 256

// shortAttempt is the mean duration of a batch's attempts under which the
// next batch may be larger: above it, what the engine costs per attempt is
// lost in the noise, and one attempt at a time keeps the slots even.
const shortAttempt = 20 * time.Microsecond

// errVanished is the error of an attempt whose goroutine exited without returning.
var errVanished = errors.New("maptask: task goroutine exited without returning (runtime.Goexit)")

// exchanger is the engine's fast path (engine.Engine.Exchange): reports and
// the next batch in one lock, the batch's slot held by its worker.
type exchanger interface {
	Exchange(ok []backend.Attempt, took []time.Duration, outs []backend.Outcome, release bool,
		dst []backend.Attempt, max int) ([]backend.Attempt, bool)
}

// ContextMaker is implemented by Invokers that give each attempt a context of
// its own (the root's: it carries the attempt): a worker asks for a batch's
// contexts at once, so that they take one allocation, not one each.
type ContextMaker interface {
	// AttemptContexts sets ctxs[k] to the context of attempt batch[k], made
	// from ctx, for Invoke to use as it is.
	AttemptContexts(ctx context.Context, batch []backend.Attempt, ctxs []context.Context)
}

// RunInvoker is implemented by ContextMakers that can run several attempts
// of a batch in one call (the root's): a run of short attempts then costs
// one call and one deferred recover, not one of each per attempt.
type RunInvoker interface {
	// InvokeRun runs batch[k] with ctxs[k] (from AttemptContexts) for k from
	// *pos up to end, in order, advancing *pos past each attempt that
	// succeeds. It stops at the first that does not, *pos on it, and returns
	// its error (a panic's included); nil once *pos is end, or as soon as the
	// next attempt's context is done (that one and the rest never begin).
	// *pos always names the running attempt, so that a Goexit inside it is
	// charged to it.
	InvokeRun(ctxs []context.Context, batch []backend.Attempt, pos *int, end int) error
}

// Run implements backend.Backend. With a concurrency bound it keeps that many
// goroutines pulling attempts (no goroutine per element), more when the bound
// is raised while the map runs; unbounded, it starts a goroutine per attempt.
func (b Backend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	if job.Invoker == nil {
		return errors.New("task cannot run in this process (no invoker)")
	}
	worker := func() {
		for {
			a, ok := q.Next()
			if !ok {
				return
			}
			attempt(ctx, job, q, a)
		}
	}
	if x, ok := q.(exchanger); ok {
		worker = func() { (&batchWorker{ctx: ctx, job: job, q: x, queue: q}).run() }
	}
	perAttempt := func() {
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			a, ok := q.Next()
			if !ok {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				attempt(ctx, job, q, a)
			}()
		}
	}
	backend.Workers(q, job.Concurrency, worker, perAttempt)
	return nil
}

// attempt runs a and reports it, also when the task's goroutine exits under it.
func attempt(ctx context.Context, job *backend.Job, q backend.Queue, a backend.Attempt) {
	actx, cancel := ctx, context.CancelFunc(nil)
	if job.Timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, job.Timeout)
	}
	start := time.Now()
	returned := false
	defer func() {
		if cancel != nil {
			cancel()
		}
		if !returned { // runtime.Goexit: the attempt vanished
			q.Report(backend.Outcome{Attempt: a, Status: backend.Lost, Err: errVanished, Duration: time.Since(start), ExitCode: -1})
		}
	}()
	err := job.Invoker.Invoke(actx, a)
	returned = true
	status, permanent := backend.Classify(ctx, actx, err)
	if status == backend.TimedOut {
		err = &backend.TimedOutError{After: job.Timeout}
	}
	q.Report(backend.Outcome{Attempt: a, Status: status, Err: err, Permanent: permanent, Duration: time.Since(start), ExitCode: -1})
}

// batchWorker runs the attempts of one slot, a batch at a time, one after
// the other. A batch stops short at anything but a success, which may decide
// the verdict or need a retry: it is reported at once, and the rest of the
// batch handed back, so that retries still come first. So does a batch when
// the run stops.
type batchWorker struct {
	ctx   context.Context
	job   *backend.Job
	q     exchanger
	queue backend.Queue
	// changed closes when the map's limits change (a live change of the
	// bound): the rest of the batch is handed back, so that a lower bound
	// holds from the next attempt on, not from the next batch.
	changed <-chan struct{}
	batch   []backend.Attempt // its first len(took) attempts succeeded
	took    []time.Duration
	maker   ContextMaker      // nil: Invoke makes each attempt's context
	runs    RunInvoker        // with maker: runs of short attempts in one call
	ctxs    []context.Context // the batch's, from maker
	pos     int               // the attempt of batch running or next
	outs    []backend.Outcome
	held    bool // the worker holds batch's slot
	// A monotonic clock read once per attempt: each attempt ends where the
	// next begins (clock reads are a large part of what an attempt costs).
	// In a batch of short attempts the clock is read once per sampleEvery
	// of them, and each gets the average of its span (sampled, unsettled).
	epoch     time.Time
	began     time.Duration // since epoch
	sampled   bool          // this batch reads the clock once per sampleEvery attempts
	unsettled int           // attempts run since began, their durations not set yet
	running   bool          // inside the task: a deferred run sees a Goexit
}

// sampleEvery is how many attempts of a batch of short ones share a clock
// read: a clock read costs about as much as the rest of a trivial attempt.
const sampleEvery = 64

func (w *batchWorker) run() {
	defer w.vanished()
	w.epoch = time.Now()
	size, most := 1, max(w.job.BatchSize, 1)
	if m, ok := w.job.Invoker.(ContextMaker); ok && w.job.Timeout == 0 { // a timeout's context comes first
		w.maker = m
		w.runs, _ = m.(RunInvoker)
	}
	_, w.changed = w.queue.Limits()
	for {
		batch, ok := w.q.Exchange(w.batch[:len(w.took)], w.took, w.outs, w.held, w.batch, size)
		w.batch, w.took, w.outs, w.held = batch, w.took[:0], w.outs[:0], ok
		if !ok {
			return
		}
		if w.maker != nil {
			w.ctxs = append(w.ctxs[:0], make([]context.Context, len(batch))...)
			w.maker.AttemptContexts(w.ctx, batch, w.ctxs)
		}
		first := time.Since(w.epoch)
		w.began = first
		w.sampled = size > 1 // the last batch's attempts were short
		short := true
		changed := false
		for w.pos = 0; w.pos < len(batch); {
			if w.ctx.Err() != nil {
				break
			}
			if w.pos > 0 && len(batch) > 1 {
				select {
				case <-w.changed:
					changed = true
				default:
				}
				if changed {
					break
				}
			}
			if w.sampled && w.runs != nil {
				// Up to the next clock read in one call.
				if !w.attemptRun(batch, min(len(batch), w.pos+sampleEvery-w.unsettled)) {
					short = false
					w.pos++
					break
				}
				continue
			}
			if !w.attempt(batch[w.pos]) {
				short = false
				w.pos++
				break
			}
			w.pos++
		}
		w.settle(time.Since(w.epoch))
		w.outs = handBack(w.outs, batch[w.pos:])
		if changed {
			_, w.changed = w.queue.Limits()
		}
		if short && w.pos > 0 && (w.began-first)/time.Duration(w.pos) < shortAttempt {
			size = min(2*size, most)
		} else {
			size = 1
		}
	}
}

// attempt runs a and records its outcome; the next attempt begins when it
// ends. It reports whether a succeeded.
func (w *batchWorker) attempt(a backend.Attempt) bool {
	actx, cancel := w.ctx, context.CancelFunc(nil)
	if w.maker != nil {
		actx = w.ctxs[w.pos]
	} else if w.job.Timeout > 0 {
		actx, cancel = context.WithTimeout(w.ctx, w.job.Timeout)
	}
	w.running = true
	err := w.job.Invoker.Invoke(actx, a)
	w.running = false
	if err == nil && w.sampled {
		if cancel != nil {
			cancel()
		}
		w.took = append(w.took, 0)
		if w.unsettled++; w.unsettled == sampleEvery {
			w.settle(time.Since(w.epoch))
		}
		return true
	}
	d := w.finish(time.Since(w.epoch))
	if err == nil {
		if cancel != nil {
			cancel()
		}
		w.took = append(w.took, d)
		return true
	}
	status, permanent := backend.Classify(w.ctx, actx, err) // before cancel: a timeout is the deadline's error
	if cancel != nil {
		cancel()
	}
	if status == backend.TimedOut {
		err = &backend.TimedOutError{After: w.job.Timeout}
	}
	w.outs = append(w.outs, backend.Outcome{Attempt: a, Status: status, Err: err, Permanent: permanent, Duration: d, ExitCode: -1})
	return false
}

// attemptRun runs the attempts of batch from w.pos up to end in one call
// and records their outcomes, the clock read once at the end. It reports
// whether all succeeded; if not, w.pos is on the one that did not.
func (w *batchWorker) attemptRun(batch []backend.Attempt, end int) bool {
	from := w.pos
	w.running = true
	err := w.runs.InvokeRun(w.ctxs, batch, &w.pos, end)
	w.running = false
	w.succeededUpTo(w.pos, from)
	if err == nil {
		if w.unsettled >= sampleEvery {
			w.settle(time.Since(w.epoch))
		}
		return true
	}
	d := w.finish(time.Since(w.epoch))
	status, permanent := backend.Classify(w.ctx, w.ctxs[w.pos], err)
	w.outs = append(w.outs, backend.Outcome{Attempt: batch[w.pos], Status: status, Err: err, Permanent: permanent, Duration: d, ExitCode: -1})
	return false
}

// succeededUpTo records attempts from up to pos as succeeded, their
// durations unsettled (a share of the time to the next clock read).
func (w *batchWorker) succeededUpTo(pos, from int) {
	for range pos - from {
		w.took = append(w.took, 0)
	}
	w.unsettled += pos - from
}

// finish returns the duration of the attempt that ended at end: the time
// since began, shared with the unsettled attempts before it.
func (w *batchWorker) finish(end time.Duration) time.Duration {
	d := (end - w.began) / time.Duration(w.unsettled+1)
	w.spread(d)
	w.began = end
	return d
}

// settle gives the unsettled attempts (the last ones of took) their share
// of the time from began to end.
func (w *batchWorker) settle(end time.Duration) {
	if w.unsettled > 0 {
		w.spread((end - w.began) / time.Duration(w.unsettled))
		w.began = end
	}
}

// spread sets the duration of the unsettled attempts to d.
func (w *batchWorker) spread(d time.Duration) {
	for k := len(w.took) - w.unsettled; k < len(w.took); k++ {
		w.took[k] = d
	}
	w.unsettled = 0
}

// vanished reports the worker's batch when its goroutine exits inside a task
// (runtime.Goexit): that attempt is lost, the rest of the batch never began,
// and the slot is freed. A new worker takes the slot's place.
func (w *batchWorker) vanished() {
	if !w.running {
		return
	}
	if w.runs != nil && len(w.took) < w.pos { // inside a run: those before it succeeded
		w.succeededUpTo(w.pos, len(w.took))
	}
	outs := append(w.outs, backend.Outcome{Attempt: w.batch[w.pos], Status: backend.Lost, Err: errVanished,
		Duration: w.finish(time.Since(w.epoch)), ExitCode: -1})
	w.q.Exchange(w.batch[:len(w.took)], w.took, handBack(outs, w.batch[w.pos+1:]), true, nil, 0)
}

// handBack appends the outcomes that give attempts back to the engine
// without their having begun (see engine.Engine.Exchange).
func handBack(outs []backend.Outcome, rest []backend.Attempt) []backend.Outcome {
	for _, a := range rest {
		outs = append(outs, backend.Outcome{Attempt: a, Status: backend.Cancelled, ExitCode: -1, Unstarted: true})
	}
	return outs
}
