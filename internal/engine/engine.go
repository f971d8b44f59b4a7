// Package engine owns the semantics of a map: which element runs next, how many
// run at once, what a failure costs, when the verdict is known, and what becomes
// of every element. It does no I/O: backends launch attempts, and observers
// (journal, progress, logs) are told what happened.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maptask/maptask/backend"
)

// State is where an element stands.
type State uint8

const (
	Pending   State = iota // not started in this run
	Running                // an attempt is in flight
	Succeeded              // final: it produced a value
	Failed                 // final: retries spent, permanent failure, or lost too often
	NotRun                 // final for this run: never finished, the map stopped first (users see "not run")
)

var stateNames = [...]string{"pending", "running", "succeeded", "failed", "not run"}

func (s State) String() string { return stateNames[s] }

// Element is the engine's record of one element.
type Element struct {
	State     State
	Cached    bool          // succeeded without running: found in the cache or in a resumed execution
	Attempts  int           // attempts started, including those of earlier runs
	UserFails int32         // failed or timed-out attempts in this run (spend Retries)
	Lost      int32         // lost attempts in this run (spend SystemRetries)
	ExitCode  int32         // the last attempt's exit code; -1 when it ran no process
	Duration  time.Duration // time spent running, all attempts together
	Err       error         // the last attempt's error; for NotRun, why it never finished
}

// ErrStopped is the cause given to attempts cancelled because the verdict was
// already known.
var ErrStopped = errors.New("maptask: map stopped early: too many elements failed to reach the required successes")

// ErrNotRun is the error of an element that never finished because the map stopped.
var ErrNotRun = errors.New("maptask: element not run: the map stopped before it finished")

// Config describes a run. The zero value of each field is a sensible default
// except N, which must be set (or Streaming).
type Config struct {
	N             int  // number of elements; ignored when Streaming
	Streaming     bool // elements arrive through Add and end with Seal
	Concurrency   int  // 0 = unbounded
	Retries       int  // user retries per element: at most Retries+1 failed/timed-out attempts
	SystemRetries int  // lost attempts tolerated per element before it fails
	// SystemBackoff is the wait before the first system retry of an element;
	// each further one waits twice as long, up to 32 times, with jitter (a
	// random half of it is taken off), so that a passing infrastructure fault
	// is not turned into spent budgets within milliseconds. 0 means 1s; a
	// negative value retries at once.
	SystemBackoff time.Duration
	// Required computes the successes needed once the number of elements is known.
	// nil means all of them.
	Required func(n int) int
	// Observe, when set, is told of every event. It is called without engine locks
	// held, from backend goroutines, and must be safe for concurrent use.
	Observe func(Event)
	// ObserveBatch, when set with Observe, is told at once of the events of the attempts
	// one Exchange reports (a batch of in-process attempts), instead of
	// Observe of each: whoever hands them on (OnResult) then takes its own
	// lock once per batch, not per element. Same rules as Observe.
	// The slice is the engine's again once the call returns.
	ObserveBatch func([]Event)
	// NoStarted: Observe is not told of EventStarted. A launch then copies
	// no records for events nobody reads (an in-memory map without a log).
	NoStarted bool
	// Launch, when set, is called once an attempt or a batch has been handed
	// out, after its Started events and before the backend has it: a durable
	// map makes the journal durable there, so that no slot is used again before
	// what finished in it is recorded. Called without engine locks held.
	Launch func()
	// RunAll keeps running every element when the required successes are no
	// longer reachable, instead of stopping early; the verdict is the same.
	RunAll bool
	// Forget keeps no record of finished elements but their state, and a
	// failure's record: memory stays flat in the number of elements when
	// whoever wants each record takes it from Observe's EventFinished.
	// Element then returns a succeeded element as just its State.
	Forget bool
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	EventStarted  EventKind = iota + 1 // an attempt was handed to the backend
	EventRetrying                      // an attempt ended without success and the element will run again
	EventFinished                      // the element reached a final state (Succeeded or Failed)
	EventVerdict                       // the run is over; Summary is set
)

// Event is one thing that happened in a run.
type Event struct {
	Kind    EventKind
	Attempt backend.Attempt
	Outcome backend.Outcome // for EventRetrying and EventFinished: how the attempt ended
	Element Element         // the element's record after the event
	Summary *Summary        // for EventVerdict
}

// Summary is the verdict of a run.
type Summary struct {
	N, Required       int
	Succeeded, Failed int
	NotRun            int   // elements left NotRun
	Cached            int   // succeeded from the cache, without running (in this run or an earlier one)
	Earlier           int   // succeeded in an earlier run of a resumed execution
	Cause             error // why the run stopped early: ErrStopped, the caller's context error, or a backend error
	Success           bool  // Succeeded >= Required and the run was not cancelled
	Elapsed           time.Duration
}

// Counts is a cheap snapshot for progress displays.
type Counts struct {
	Total, Succeeded, Cached, Earlier, Failed, Running int
}

// Engine runs one map. Create it with New, optionally mark elements already done
// with Preset, then call Run once.
type Engine struct {
	cfg Config

	mu      sync.Mutex
	cond    sync.Cond
	room    sync.Cond // Add waits on it for the backlog to shrink
	waiting bool      // Add waits on room
	recs    records
	n       int // known elements so far
	// A stream's producer publishes what it adds in added without the lock
	// while it stays below addable (the room it last saw under the lock);
	// absorbLocked takes added into n. Only when idle Next calls are parked
	// for want of elements does Add take the lock, to wake them.
	added   atomic.Int64
	idle    atomic.Int32
	addable int // read and written by the producer only
	// closed: Run has returned its summary; n is final, and Add adds nothing.
	closed   atomic.Bool
	sealed   bool // no more elements will be added
	required int  // valid once sealed
	cursor   int  // next never-launched element to consider
	retryQ   []int
	delayed  int // elements waiting out a system retry's backoff
	inflight int // attempts handed out and not yet reported
	// owned of them are in batches whose slots (ownedSlots) their workers
	// hold (Exchange): a worker runs one attempt of its batch at a time.
	owned, ownedSlots int
	slots             int // launches in flight: a batch of attempts holds one slot
	limit             int // the bound the engine enforces: concurrency, or MaxInt
	// concurrency is the map's bound as asked (0: unbounded); it changes
	// with Update. limitedByBackend: the backend enforces it, not limit.
	concurrency      int
	limitedByBackend bool
	changed          chan struct{} // closed (and replaced) by each Update
	batches          map[int32]int // unreported attempts of each counted batch
	running          map[int]int32 // the counted batch of each attempt in one (mBatch)
	nextID           int32

	succeeded, failed, cached int
	earlier                   int // preset elements that ran in an earlier run
	stopped                   bool
	cause                     error
	stop                      context.CancelCauseFunc
	runCtx                    context.Context
}

// New validates cfg and returns an engine.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("maptask: Concurrency %d: must be >= 0 (0 means unbounded)", cfg.Concurrency)
	case cfg.Retries < 0:
		return nil, fmt.Errorf("maptask: Retries %d: must be >= 0", cfg.Retries)
	case cfg.SystemRetries < 0:
		return nil, fmt.Errorf("maptask: SystemRetries %d: must be >= 0", cfg.SystemRetries)
	case !cfg.Streaming && cfg.N < 0:
		return nil, fmt.Errorf("maptask: %d elements: must be >= 0", cfg.N)
	}
	e := &Engine{cfg: cfg, concurrency: cfg.Concurrency, changed: make(chan struct{})}
	e.recs.forget = cfg.Forget
	e.setLimitLocked()
	e.cond.L = &e.mu
	e.room.L = &e.mu
	if !cfg.Streaming {
		e.recs.grow(cfg.N)
		e.n = cfg.N
		if err := e.sealLocked(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// RatioRequired returns the successes that ratio demands of n elements: the
// smallest k with k/n >= ratio, i.e. ceil(ratio*n), ignoring the rounding error of
// the float product (0.07*100 is 7.000000000000001 in float64, and needs 7, not 8).
func RatioRequired(ratio float64, n int) int {
	x := ratio * float64(n)
	k := int(math.Ceil(x))
	if k > 0 && float64(k-1) >= x-x*1e-12 {
		k--
	}
	return min(k, n)
}

// sealLocked fixes the number of elements and computes the successes
// required of them. When that number is impossible (more successes required
// than there are elements: a stream that ended short of MinSuccesses), the run
// halts with the error as its cause, so that no verdict is ever decided
// against it and the caller sees why; the error is also returned.
func (e *Engine) sealLocked() error {
	e.sealed = true
	e.required = e.n
	if e.cfg.Required != nil {
		e.required = e.cfg.Required(e.n)
		if e.required < 0 || e.required > e.n {
			err := fmt.Errorf("maptask: %d successes required of %d elements: must be in [0, %d]", e.required, e.n, e.n)
			e.haltLocked(err)
			return err
		}
	}
	return nil
}

// Preset marks element i as succeeded without running it (cached, or done in an
// earlier run of the execution). It must be called before Run.
func (e *Engine) Preset(i int, el Element) {
	e.mu.Lock()
	defer e.mu.Unlock()
	el.State = Succeeded
	el.Cached = true
	e.recs.store(i, el)
	e.succeeded++
	if el.Attempts > 0 { // it ran, in an earlier run
		e.earlier++
	} else {
		e.cached++
	}
}

// SetAttempts records attempts made in earlier runs of element i, so attempt
// numbers keep counting across resumes. Call before Run.
func (e *Engine) SetAttempts(i, attempts int) {
	e.mu.Lock()
	el := e.recs.load(i)
	el.Attempts = attempts
	e.recs.store(i, el)
	e.mu.Unlock()
}

// ReadAhead is how many elements a streaming run holds that were added and
// never handed out: Add waits beyond it, so that memory follows what runs,
// not how fast the stream is read.
const ReadAhead = 1 << 16

// Add appends an element to a streaming run and returns its index. cached marks
// it succeeded already. Safe to call while Run runs, from one goroutine at a
// time. It blocks while ReadAhead elements wait to be handed out, unless the
// run has stopped. Most calls take no lock: an element is published with one
// atomic store, and the lock is taken only to wake idle workers, to mark an
// element cached, or to see how much room there is once per many elements.
// Once Run has returned (the run is over: a backend failed, or it was
// cancelled) it adds nothing and returns -1: the producer should stop.
func (e *Engine) Add(cached bool) int {
	if e.closed.Load() {
		return -1
	}
	if i := int(e.added.Load()); !cached && i < e.addable {
		e.added.Store(int64(i + 1))
		if e.idle.Load() > 0 {
			// A worker announces itself idle under the lock before it looks
			// at added a last time and waits: taking the lock here means it
			// waits already, or will see this element.
			e.mu.Lock()
			e.mu.Unlock()
			e.cond.Broadcast()
		}
		return i
	}
	e.mu.Lock()
	e.absorbLocked()
	for e.n-e.cursor >= ReadAhead && !e.stopped {
		e.waiting = true
		e.room.Wait()
	}
	if e.closed.Load() {
		e.mu.Unlock()
		return -1
	}
	i := e.n
	e.n++
	e.recs.grow(e.n)
	if cached {
		e.recs.store(i, Element{State: Succeeded, Cached: true})
		e.succeeded++
		e.cached++
	}
	e.added.Store(int64(e.n))
	// The cursor only moves on: below this, n - cursor stays within ReadAhead.
	e.addable = e.cursor + ReadAhead
	e.mu.Unlock()
	e.cond.Broadcast()
	return i
}

// absorbLocked takes the elements Add published without the lock into n,
// until Run has returned: then n is final.
func (e *Engine) absorbLocked() {
	if !e.cfg.Streaming || e.closed.Load() { // only a stream's producer publishes
		return
	}
	if n := int(e.added.Load()); n > e.n {
		e.recs.grow(n)
		e.n = n
	}
}

// Seal ends a streaming run's input. From now the verdict can be decided.
func (e *Engine) Seal() error {
	e.mu.Lock()
	if e.closed.Load() { // Run sealed it already, and returned
		e.mu.Unlock()
		return nil
	}
	e.absorbLocked()
	err := e.sealLocked()
	if err == nil {
		e.checkLocked()
		e.limitsChangedLocked() // the failures the map may take are known now
	}
	e.mu.Unlock()
	e.cond.Broadcast()
	return err
}

// Element returns the record of element i.
func (e *Engine) Element(i int) Element {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.recs.load(i)
}

// Elements returns every element's record. Call it after Run. It makes a
// record of each: over a large map, Element or States costs less.
func (e *Engine) Elements() []Element {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Element, e.n)
	for i := range out {
		out[i] = e.recs.load(i)
	}
	return out
}

// States calls f with the index and record of each element that is not
// Succeeded, in order, with the engine locked: how a caller finds the
// failures of a large map without a record of each success.
func (e *Engine) States(f func(i int, el Element)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ci, c := range e.recs.chunks {
		lo := ci << chunkBits
		if c == nil { // forgotten: failures are in ext
			for k := range min(chunkSize, e.n-lo) {
				if x, ok := e.recs.ext[lo+k]; ok && x.State != Succeeded {
					f(lo+k, *x)
				}
			}
			continue
		}
		for k := range min(chunkSize, e.n-lo) {
			if State(c.meta[k]&mState) != Succeeded {
				f(lo+k, e.recs.load(lo+k))
			}
		}
	}
}

// Snapshot returns current counts. Cheap; safe to call at any time.
func (e *Engine) Snapshot() Counts {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.absorbLocked()
	total := e.n
	if !e.sealed {
		total = -1
	}
	running := e.inflight - e.owned + min(e.owned, e.ownedSlots)
	return Counts{Total: total, Succeeded: e.succeeded, Cached: e.cached, Earlier: e.earlier, Failed: e.failed, Running: running}
}

// Run executes the map on b and blocks until every element is final or the run
// stopped, and no attempt is in flight. It returns the verdict; the per-element
// records are then available from Element.
func (e *Engine) Run(ctx context.Context, b backend.Backend, job *backend.Job) Summary {
	start := time.Now()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e.mu.Lock()
	e.stop = cancel
	e.runCtx = runCtx
	e.limitedByBackend = backend.LimitsConcurrency(b) // it enforces the bound itself
	e.setLimitLocked()
	e.checkLocked()
	e.mu.Unlock()
	// The caller's cancellation wakes any backend goroutine parked in Next.
	unhook := context.AfterFunc(runCtx, func() {
		e.mu.Lock()
		e.haltLocked(context.Cause(runCtx))
		e.mu.Unlock()
		e.cond.Broadcast()
	})
	defer unhook()

	berr := b.Run(runCtx, job, e)

	e.mu.Lock()
	if berr != nil && !e.stopped {
		e.haltLocked(fmt.Errorf("maptask: backend %s: %w", b.Name(), berr))
	}
	// What the producer published so far is the run's; nothing later is.
	e.absorbLocked()
	e.closed.Store(true)
	if !e.sealed { // the producer never sealed: the caller's context ended first, or the backend failed
		_ = e.sealLocked()
	}
	var s Summary
	e.recs.notRun = ErrNotRun
	if e.cause != nil && !errors.Is(e.cause, ErrStopped) {
		e.recs.notRun = fmt.Errorf("%w: %w", ErrNotRun, e.cause)
	}
	for ci, c := range e.recs.chunks {
		if c == nil || c.final == chunkSize {
			continue
		}
		for k := range min(chunkSize, e.n-ci<<chunkBits) {
			if st := State(c.meta[k] & mState); st == Pending || st == Running {
				c.meta[k] = c.meta[k]&^mState | uint8(NotRun)
				s.NotRun++
			}
		}
	}
	s.N, s.Required = e.n, e.required
	s.Succeeded, s.Failed, s.Cached, s.Earlier = e.succeeded, e.failed, e.cached, e.earlier
	s.Cause = e.cause
	// A cancelled or broken run has not reached a verdict, even with enough successes.
	s.Success = e.cause == nil && s.Succeeded >= s.Required
	s.Elapsed = time.Since(start)
	e.mu.Unlock()
	e.emit(Event{Kind: EventVerdict, Summary: &s})
	return s
}

// setLimitLocked derives the bound the engine enforces from concurrency.
func (e *Engine) setLimitLocked() {
	e.limit = e.concurrency
	if e.limit == 0 || e.limitedByBackend {
		e.limit = math.MaxInt
	}
}

// Change is a change to a map while it runs (maptask update). Nil fields
// stay as they are.
type Change struct {
	// Concurrency is the new bound (0: unbounded). A lower one launches
	// nothing until fewer than it run (running attempts finish); a higher one
	// launches at once.
	Concurrency *int
	// Required replaces Config.Required: the successes the map needs of n
	// elements. The early stop is decided again against it.
	Required func(n int) int
}

// Update applies c to the map, before or during Run. A change the map cannot
// take (a negative bound, more successes than elements, or more than can
// still succeed) is refused with an error that says why, and nothing changes.
func (e *Engine) Update(c Change) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.Concurrency != nil && *c.Concurrency < 0 {
		return fmt.Errorf("maptask: concurrency %d: must be >= 0 (0 means unbounded)", *c.Concurrency)
	}
	required := e.required
	if c.Required != nil && e.sealed {
		required = c.Required(e.n)
		if required < 0 || required > e.n {
			return fmt.Errorf("maptask: %d successes required of %d elements: must be in [0, %d]", required, e.n, e.n)
		}
		if reachable := e.n - e.failed; required > reachable && !e.cfg.RunAll && !e.stopped {
			return fmt.Errorf("maptask: %d successes required: out of reach, %d of %d elements have failed already (at most %d can succeed)",
				required, e.failed, e.n, reachable)
		}
	}
	if c.Concurrency != nil {
		e.concurrency = *c.Concurrency
		e.setLimitLocked()
	}
	if c.Required != nil {
		e.cfg.Required = c.Required
		e.required = required
		e.checkLocked()
	}
	e.limitsChangedLocked()
	e.cond.Broadcast() // a higher bound launches at once
	return nil
}

// N returns the number of elements, -1 while a stream is still growing.
func (e *Engine) N() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sealed {
		return -1
	}
	return e.n
}

// Required returns the successes the map needs, -1 while a stream is still
// growing.
func (e *Engine) Required() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sealed {
		return -1
	}
	return e.required
}

// limitsChangedLocked wakes whoever waits on the channel Limits returned.
func (e *Engine) limitsChangedLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Limits implements backend.Queue.
func (e *Engine) Limits() (backend.Limits, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := backend.Limits{Concurrency: e.concurrency, MaxFailures: -1}
	if e.sealed && !e.cfg.RunAll {
		l.MaxFailures = max(e.n-e.required, 0)
	}
	return l, e.changed
}

// Halt stops the run with cause, as a cancellation would: nothing more is
// launched and running attempts are cancelled. Safe to call at any time.
func (e *Engine) Halt(cause error) {
	e.mu.Lock()
	e.haltLocked(cause)
	e.mu.Unlock()
	e.cond.Broadcast()
}

// haltLocked stops launching and cancels running attempts with cause.
func (e *Engine) haltLocked(cause error) {
	if e.stopped {
		return
	}
	e.stopped = true
	e.cause = cause
	if e.stop != nil {
		e.stop(cause)
	}
	e.room.Broadcast()
}

// noticeCancelLocked halts the run as soon as its context is done, without
// waiting for the AfterFunc hook: an attempt may see the cancellation first.
func (e *Engine) noticeCancelLocked() {
	if !e.stopped && e.runCtx != nil && e.runCtx.Err() != nil {
		e.haltLocked(context.Cause(e.runCtx))
	}
}

// checkLocked decides whether the run is over: all final, or success impossible.
func (e *Engine) checkLocked() {
	if !e.sealed || e.stopped {
		return
	}
	unfinished := e.n - e.succeeded - e.failed
	if e.succeeded+unfinished < e.required && !e.cfg.RunAll {
		e.haltLocked(ErrStopped)
		e.cond.Broadcast()
	} else if unfinished == 0 {
		e.cond.Broadcast() // parked Next calls return false
	}
}

// Next implements backend.Queue.
func (e *Engine) Next() (backend.Attempt, bool) {
	var one [1]backend.Attempt
	e.mu.Lock()
	got, ok := e.nextLocked(one[:0], 1, 0)
	if !ok {
		return backend.Attempt{}, false
	}
	return got[0], true
}

// NextBatch implements backend.Queue: up to max attempts that share one slot of
// the concurrency bound, for backends whose workers run several elements one
// after the other.
func (e *Engine) NextBatch(max int) ([]backend.Attempt, bool) {
	e.mu.Lock()
	return e.nextLocked(make([]backend.Attempt, 0, min(max, 1024)), max, mBatch)
}

// Exchange is NextBatch and Report in one lock, for workers in this process
// that run a batch's attempts one after the other and hold its slot
// themselves. It reports attempts of the caller's batch: ok succeeded, the
// k-th in took[k], with no process (exit code -1); outs ended otherwise.
// eventBufs hold the events of Exchange calls: a batch's take tens of
// kilobytes, too much to allocate and clear for each. Entries are not
// cleared on return; the pool drops them at the next collections.
var eventBufs = sync.Pool{New: func() any { return new([]Event) }}

// When release is set, the caller is done with its batch and its slot is
// freed. An outcome Cancelled and Unstarted hands an attempt back that never
// began (the batch stopped short at a failure, or the run stopped): it is not
// an attempt, and it runs again, without an event, unless the run has
// stopped. Then, unless max is 0, Exchange blocks as NextBatch does for up to
// max attempts, appended to dst[:0] (which may share ok's array: ok is read
// first), which hold one slot until the caller's next Exchange with release
// set. Every attempt it hands out must be reported through Exchange. While
// many elements are left, a batch takes a share of them, so that the slots
// finish together.
func (e *Engine) Exchange(ok []backend.Attempt, took []time.Duration, outs []backend.Outcome, release bool,
	dst []backend.Attempt, max int) ([]backend.Attempt, bool) {
	var evs []Event
	var buf *[]Event
	if len(ok)+len(outs) > 0 && e.cfg.Observe != nil {
		buf = eventBufs.Get().(*[]Event)
		evs = (*buf)[:0]
	}
	e.mu.Lock()
	if len(ok)+len(outs) > 0 {
		e.noticeCancelLocked() // cancelled attempts that never began are not lost
		for k, a := range ok {
			if !e.succeededLocked(a, took[k], -1, &evs) {
				ev, _ := e.reportLocked(backend.Outcome{Attempt: a, Status: backend.Succeeded, Duration: took[k], ExitCode: -1})
				if e.cfg.Observe != nil {
					evs = append(evs, ev)
				}
			}
		}
		for _, o := range outs {
			if o.Unstarted && o.Status == backend.Cancelled {
				e.handBackLocked(o)
				continue
			}
			if ev, ok := e.reportLocked(o); ok && e.cfg.Observe != nil {
				evs = append(evs, ev)
			}
		}
		e.checkLocked()
	}
	if release {
		e.slots--
		e.ownedSlots--
	}
	wake := len(ok)+len(outs) > 0 || release
	if len(evs) > 0 || max == 0 {
		// Events of what finished come before anything starts again, as
		// Report then NextBatch would emit them.
		e.mu.Unlock()
		if wake {
			e.cond.Signal()
		}
		if e.cfg.ObserveBatch != nil {
			if len(evs) > 0 {
				e.cfg.ObserveBatch(evs)
			}
		} else {
			for _, ev := range evs {
				e.cfg.Observe(ev)
			}
		}
		if buf != nil {
			*buf = evs[:0]
			eventBufs.Put(buf)
			buf = nil
		}
		if max == 0 {
			return dst[:0], false
		}
		e.mu.Lock()
	} else if wake {
		e.cond.Signal()
	}
	if buf != nil { // nothing to tell: attempts handed back
		eventBufs.Put(buf)
	}
	if e.limit < math.MaxInt {
		e.absorbLocked()
		left := e.n - e.cursor + len(e.retryQ)
		max = min(max, 1+left/(2*e.limit))
	}
	return e.nextLocked(dst[:0], max, mOwned)
}

// nextLocked hands out up to max attempts holding one slot; bits says who
// frees it: 0 for a single attempt (its report), mBatch for a counted batch
// (the report of its last attempt), mOwned for the caller (Exchange). It
// unlocks e.mu.
func (e *Engine) nextLocked(dst []backend.Attempt, max int, bits uint8) ([]backend.Attempt, bool) {
	for {
		e.noticeCancelLocked()
		if e.stopped {
			e.mu.Unlock()
			return nil, false
		}
		e.absorbLocked()
		if e.slots < e.limit {
			if i, ok := e.takeLocked(); ok {
				id := int32(-1)
				dst = e.launchLocked(dst, i, bits&mOwned)
				for len(dst) < max {
					j, ok := e.takeLocked()
					if !ok {
						break
					}
					if id < 0 && bits == mBatch { // a second attempt: the batch needs its own counter
						id = e.nextID
						e.nextID++
						if e.batches == nil {
							e.batches, e.running = map[int32]int{}, map[int]int32{}
						}
						e.recs.setBits(dst[0].Index, mBatch)
						e.running[dst[0].Index] = id
					}
					dst = e.launchLocked(dst, j, bits)
					if id >= 0 {
						e.running[j] = id
					}
				}
				if id >= 0 {
					e.batches[id] = len(dst)
				}
				e.slots++
				if bits == mOwned {
					e.ownedSlots++
				}
				if e.cfg.Observe == nil || e.cfg.NoStarted {
					e.mu.Unlock()
					if e.cfg.Launch != nil {
						e.cfg.Launch()
					}
					return dst, true
				}
				// Started events carry the records as they are now; one attempt
				// (the common case) needs no slice for that.
				var one [1]Element
				snaps := one[:0]
				if len(dst) > 1 {
					snaps = make([]Element, 0, len(dst))
				}
				for _, a := range dst {
					snaps = append(snaps, e.recs.load(a.Index))
				}
				e.mu.Unlock()
				for k, a := range dst {
					e.cfg.Observe(Event{Kind: EventStarted, Attempt: a, Element: snaps[k]})
				}
				if e.cfg.Launch != nil {
					e.cfg.Launch()
				}
				return dst, true
			}
			if e.sealed && e.inflight == 0 && len(e.retryQ) == 0 && e.delayed == 0 && e.cursor >= e.n {
				e.mu.Unlock()
				return nil, false
			}
			if !e.sealed {
				// Waiting for elements: Add wakes idle workers (see there).
				e.idle.Add(1)
				if e.absorbLocked(); e.cursor < e.n {
					e.idle.Add(-1)
					continue
				}
				e.cond.Wait()
				e.idle.Add(-1)
				continue
			}
		}
		e.cond.Wait()
	}
}

func (e *Engine) launchLocked(dst []backend.Attempt, i int, bits uint8) []backend.Attempt {
	c, k := e.recs.chunks[i>>chunkBits], i&chunkMask
	var n int
	if m := c.meta[k]; m&mExt == 0 && c.att[k] < math.MaxUint8 {
		// The common case, without a round trip through an Element.
		c.meta[k] = m&^(mState|mBatch|mOwned) | uint8(Running) | bits
		c.att[k]++
		n = int(c.att[k])
	} else {
		el := e.recs.load(i)
		el.State = Running
		el.Attempts++
		e.recs.store(i, el)
		e.recs.setBits(i, bits)
		n = el.Attempts
	}
	e.inflight++
	if bits == mOwned {
		e.owned++
	}
	return append(dst, backend.Attempt{Index: i, Number: n})
}

// releaseLocked accounts for a reported attempt of element i: its slot is
// freed with its own report, with its batch's last report, or (mOwned) by
// its worker.
func (e *Engine) releaseLocked(i int, m uint8) {
	e.inflight--
	switch {
	case m&mOwned != 0:
		e.owned--
	case m&mBatch != 0:
		id := e.running[i]
		delete(e.running, i)
		if e.batches[id]--; e.batches[id] > 0 {
			return
		}
		delete(e.batches, id)
		e.slots--
	default:
		e.slots--
	}
}

// takeLocked picks the next element to launch: retries first, so that a failing
// element reaches its final state (and the verdict its answer) sooner.
func (e *Engine) takeLocked() (int, bool) {
	if len(e.retryQ) > 0 {
		i := e.retryQ[0]
		e.retryQ = e.retryQ[1:]
		return i, true
	}
	for e.cursor < e.n {
		i := e.cursor
		e.cursor++
		if e.waiting && e.n-e.cursor <= ReadAhead/2 { // room for a good many more at once
			e.waiting = false
			e.room.Signal()
		}
		if e.recs.state(i) == Pending {
			return i, true
		}
	}
	return 0, false
}

// Report implements backend.Queue.
func (e *Engine) Report(o backend.Outcome) {
	e.mu.Lock()
	ev, ok := e.reportLocked(o)
	e.checkLocked()
	e.mu.Unlock()
	e.cond.Signal()
	if ok && e.cfg.Observe != nil {
		e.cfg.Observe(ev)
	}
}

// succeededLocked records that attempt a, running, succeeded in d, when its
// record stays packed: the common case, without a round trip through an
// Element. Its event, when there is an observer, is appended to evs. It
// returns false, having done nothing, when the record does not stay packed.
func (e *Engine) succeededLocked(a backend.Attempt, d time.Duration, exit int, evs *[]Event) bool {
	i := a.Index
	c := e.recs.chunks[i>>chunkBits]
	if c == nil {
		return false
	}
	k := i & chunkMask
	m := c.meta[k]
	if m&(mExt|mState) != uint8(Running) || a.Number > int(c.att[k]) || (exit != -1 && exit != 0) ||
		d < 0 || uint64(c.dur[k])+uint64(d) > math.MaxUint32 {
		return false
	}
	e.releaseLocked(i, m)
	mm := m&mCached | uint8(Succeeded)
	if exit == -1 {
		mm |= mNoExit
	}
	c.meta[k] = mm
	c.dur[k] += uint32(d)
	c.final++
	e.succeeded++
	if e.cfg.Observe != nil {
		*evs = append(*evs, Event{Kind: EventFinished, Attempt: a, Element: e.recs.load(i),
			Outcome: backend.Outcome{Attempt: a, Status: backend.Succeeded, Duration: d, ExitCode: exit}})
	}
	if e.recs.forget && c.final == chunkSize {
		e.recs.drop(i >> chunkBits)
	}
	return true
}

// handBackLocked takes back attempt o, which never began.
func (e *Engine) handBackLocked(o backend.Outcome) {
	c, m := e.recs.meta(o.Index)
	if c == nil || State(m&mState) != Running {
		e.mu.Unlock()
		panic(fmt.Sprintf("maptask: backend handed back attempt %d of element %d, which is not running", o.Number, o.Index))
	}
	e.releaseLocked(o.Index, m)
	el := e.recs.load(o.Index)
	el.State = Pending
	el.Attempts--
	e.recs.store(o.Index, el)
	if !e.stopped {
		e.retryQ = append(e.retryQ, o.Index)
	}
}

// reportLocked records outcome o. It returns the event to emit, if any.
func (e *Engine) reportLocked(o backend.Outcome) (Event, bool) {
	i := o.Index
	c, m := e.recs.meta(i)
	if c == nil || State(m&mState) != Running {
		e.mu.Unlock()
		panic(fmt.Sprintf("maptask: backend reported attempt %d of element %d, which is not running", o.Number, i))
	}
	if o.Status == backend.Succeeded && !o.Unstarted && o.PriorFailures <= 0 && o.Err == nil && o.Output == nil && !o.Recorded {
		var evs []Event
		if e.succeededLocked(o.Attempt, o.Duration, o.ExitCode, &evs) {
			if len(evs) == 0 {
				return Event{}, false
			}
			return evs[0], true
		}
	}
	e.releaseLocked(i, m)
	el := e.recs.load(i)
	if o.Number > el.Attempts { // the backend retried by itself
		el.Attempts = o.Number
	}
	el.UserFails += int32(max(o.PriorFailures, 0))
	el.Duration += o.Duration
	el.ExitCode = int32(o.ExitCode)
	el.Err = o.Err
	kind := EventFinished
again:
	switch {
	case o.Unstarted:
		// Its worker died before reaching it: not an attempt at all.
		el.Attempts--
		kind = e.retryLocked(i)
	case o.Status == backend.Succeeded:
		// A success that races a stop still counts: computed work is never thrown away.
		el.State, el.Err = Succeeded, nil
		e.succeeded++
	case o.Status == backend.Failed || o.Status == backend.TimedOut:
		el.UserFails++
		if o.Status == backend.TimedOut && o.Err == nil {
			el.Err = context.DeadlineExceeded
		}
		if !o.Permanent && int(el.UserFails) <= e.cfg.Retries {
			kind = e.retryLocked(i)
		} else {
			el.State = Failed
			e.failed++
		}
	case o.Status == backend.Lost:
		el.Lost++
		if int(el.Lost) <= e.cfg.SystemRetries {
			kind = e.retryAfterLocked(i, e.backoff(int(el.Lost)))
		} else {
			el.State = Failed
			el.Err = fmt.Errorf("maptask: attempt lost %d times (system retries spent): %w", el.Lost, orLost(o.Err))
			e.failed++
		}
	case o.Status == backend.Cancelled:
		e.noticeCancelLocked()
		if !e.stopped {
			// The backend gave up on it without the run stopping: treat as lost.
			o.Status = backend.Lost
			goto again
		}
		el.State = Pending
		kind = 0
	default:
		e.mu.Unlock()
		panic(fmt.Sprintf("maptask: backend reported unknown status %d", o.Status))
	}
	if el.State == Running { // retryLocked did not run: the state is still the attempt's
		el.State = Pending
	}
	e.recs.store(i, el)
	if kind == 0 {
		return Event{}, false
	}
	// el, not a load: with Forget, the store may have dropped the record.
	return Event{Kind: kind, Attempt: o.Attempt, Outcome: o, Element: el}, true
}

// retryLocked queues element i for another attempt. Once the run has stopped
// it stays pending instead: it had budget left, so it did not fail, and it
// becomes NotRun when the run ends. The caller stores the element as Pending.
func (e *Engine) retryLocked(i int) EventKind {
	if e.stopped {
		return 0
	}
	e.retryQ = append(e.retryQ, i)
	return EventRetrying
}

// retryAfterLocked queues element i for another attempt after delay.
func (e *Engine) retryAfterLocked(i int, delay time.Duration) EventKind {
	if delay <= 0 || e.stopped {
		return e.retryLocked(i)
	}
	e.delayed++
	time.AfterFunc(delay, func() {
		e.mu.Lock()
		e.delayed--
		if !e.stopped {
			e.retryQ = append(e.retryQ, i)
		}
		e.mu.Unlock()
		e.cond.Broadcast()
	})
	return EventRetrying
}

// backoff is the wait before an element's lost-th system retry.
func (e *Engine) backoff(lost int) time.Duration {
	base := e.cfg.SystemBackoff
	switch {
	case base < 0:
		return 0
	case base == 0:
		base = time.Second
	}
	d := base << min(lost-1, 5)
	return d - time.Duration(rand.Int64N(int64(d/2)+1))
}

func orLost(err error) error {
	if err == nil {
		return errors.New("lost")
	}
	return err
}

func (e *Engine) emit(ev Event) {
	if e.cfg.Observe != nil {
		e.cfg.Observe(ev)
	}
}

// Final returns element i's record without locking, for callers reading
// the records once Run has returned, when they no longer change.
func (e *Engine) Final(i int) Element { return e.recs.load(i) }

// FinalState is Final's State, cheaper.
func (e *Engine) FinalState(i int) State { return e.recs.state(i) }
