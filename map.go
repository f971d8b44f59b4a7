package maptask

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/durable"
	"github.com/maptask/maptask/internal/engine"
	"github.com/maptask/maptask/internal/progress"
	"github.com/maptask/maptask/store"
)

// Map runs task over every element of inputs and returns one result per
// element, in input order. It blocks until every element is final, the verdict
// is known (see MinSuccessRatio), or ctx is done.
//
// When fewer elements succeed than required, or ctx is cancelled, Map returns
// the results together with a *MapError: values computed before the failure are
// never thrown away. Invalid options or inputs are reported before anything
// runs, with an error naming the problem and empty results (Len 0). The
// results are never nil, so reading them before checking the error is safe.
//
// By default elements run as goroutines of this process, without bound (see
// Concurrency), and nothing is stored; Execution makes the map durable.
func Map[In, Out any](ctx context.Context, task *Task[In, Out], inputs []In, opts ...MapOption) (*Results[Out], error) {
	if task == nil {
		return &Results[Out]{}, errors.New("maptask: Map: nil task")
	}
	cfg := newMapConfig(opts)
	var out []Out
	var values *chunked[Out]
	if cfg.discard {
		values = newChunkedN[Out](len(inputs)) // chunks of their own, dropped as elements finish
	} else {
		out = make([]Out, len(inputs))
		values = newChunked(out)
	}
	r := &mapRun[In, Out]{task: task, cfg: cfg, n: len(inputs), inputs: newChunked(inputs), values: values, slice: inputs, out: out}
	return orEmpty(r.execute(ctx, nil))
}

// MapSeq is Map over a sequence: elements start running as the sequence yields
// them, so inputs need not all be in memory, nor known, before work begins. The
// verdict (and an early stop) can only be decided once the sequence ends.
//
// A durable execution (Execution) needs the whole input list to recognise it
// when resumed, so with Execution MapSeq reads the sequence to its end first.
// The sequence is read from another goroutine, at the pace elements start: at
// most 65536 elements ahead of the last one started, so that memory follows
// what runs, not the sequence's length. It should end
// promptly once ctx is done. A sequence that ends with fewer elements than MinSuccesses fails the
// map with an error saying so. As with Map, the results are never nil.
func MapSeq[In, Out any](ctx context.Context, task *Task[In, Out], inputs iter.Seq[In], opts ...MapOption) (*Results[Out], error) {
	if task == nil {
		return &Results[Out]{}, errors.New("maptask: MapSeq: nil task")
	}
	cfg := newMapConfig(opts)
	if cfg.execution != "" || (cfg.backend != nil && backend.IsRemote(cfg.backend)) {
		return Map(ctx, task, slices.Collect(inputs), opts...)
	}
	r := &mapRun[In, Out]{task: task, cfg: cfg, inputs: newChunked[In](nil), values: newChunked[Out](nil), streaming: true}
	return orEmpty(r.execute(ctx, inputs))
}

// mapRun is one call of Map: the typed side of the engine's run.
type mapRun[In, Out any] struct {
	task   *Task[In, Out]
	cfg    *mapConfig
	n      int
	inputs *chunked[In]
	values *chunked[Out]
	slice  []In  // the caller's inputs when known up front
	out    []Out // values' array when it is one (Map without DiscardResults)
	// streaming: MapSeq, whose inputs (and values, with DiscardResults)
	// are dropped as elements finish.
	streaming bool
	eng       *engine.Engine
	dur       *durable.Run // nil when nothing is stored
	feed      *feed[Out]   // nil without OnResult
	// backend runs the map (set once it is chosen)
	backend backend.Backend
}

// Invoke implements backend.Invoker: it runs the task on one element, in this
// process.
func (r *mapRun[In, Out]) Invoke(ctx context.Context, a backend.Attempt) error {
	if !r.keepsLogs() { // the log is discarded
		var actx context.Context
		if c, ok := ctx.(*packedAttempt); ok && c.attempt() == a { // from AttemptContexts
			actx = c
		} else {
			actx = newAttemptContext(ctx, a)
		}
		out, err := call(actx, r.task.fn, r.input(a.Index))
		if err == nil {
			r.keep(a.Index, out)
		}
		return err
	}
	lctx := withAttemptLog(ctx, a)
	out, err := call(context.Context(&lctx.attemptContext), r.task.fn, r.inputs.get(a.Index))
	if err == nil {
		r.values.set(a.Index, out)
	}
	r.dur.PutLogs(a, &lctx.buf, &lctx.errBuf)
	return err
}

func (r *mapRun[In, Out]) validate(streaming bool) error {
	c, m := r.cfg, &r.task.meta
	if c.err != nil {
		return c.err
	}
	if m.err != nil {
		return fmt.Errorf("task %q: %w", r.task.name, m.err)
	}
	if !streaming && c.minSet && c.minSuccesses > r.n {
		return fmt.Errorf("maptask: MinSuccesses %d: more than the %d elements", c.minSuccesses, r.n)
	}
	if c.codec == nil {
		return errors.New("maptask: WithCodec: nil codec")
	}
	return nil
}

func (r *mapRun[In, Out]) required(n int) int {
	switch {
	case r.cfg.minSet:
		return r.cfg.minSuccesses
	case r.cfg.ratioSet:
		return engine.RatioRequired(r.cfg.ratio, n)
	}
	return n
}

func (r *mapRun[In, Out]) execute(ctx context.Context, stream iter.Seq[In]) (*Results[Out], error) {
	streaming := stream != nil
	if err := guardWorker(r.cfg.backend); err != nil {
		return nil, err
	}
	if err := r.validate(streaming); err != nil {
		return nil, err
	}
	var err error
	if r.feed, err = newFeed(r.cfg, r.values); err != nil {
		return nil, err
	}
	cfg := r.cfg
	b := cfg.backend
	if b == nil {
		b = inprocess.New()
	}
	r.backend = b
	remote := backend.IsRemote(b)
	// A backend that pays an OS process per attempt bounds an unbounded map.
	concurrency := backend.EffectiveConcurrency(b, cfg.concurrency)
	if remote && cfg.execution == "" {
		// Remote workers read inputs from the store and write outcomes to it.
		cfg.execution = fmt.Sprintf("auto-%d", time.Now().UnixNano())
	}
	job := &backend.Job{
		Task:          r.task.name,
		Execution:     cfg.execution,
		Concurrency:   concurrency,
		Timeout:       r.task.meta.timeout,
		Invoker:       r,
		N:             r.n,
		BatchSize:     1,
		Resources:     r.task.meta.resources.backend(),
		Interruptible: r.task.meta.interruptible,
		Image:         r.task.meta.image,
		Retries:       r.task.meta.retries,
		MaxFailures:   -1,
	}
	if !streaming && !cfg.runAll {
		job.MaxFailures = max(r.n-r.required(r.n), 0)
	}
	if !remote && cfg.logger == nil {
		// In-process workers may take several attempts at once (only while
		// they are shorter than inprocess.shortAttempt), when nothing logs
		// each as it starts. A durable map journals a batch's starts when it
		// is handed out, synced before it runs, as it does for one attempt:
		// a crash recomputes at most what was handed out.
		job.BatchSize = inprocess.MaxBatch
	}
	if remote {
		job.StoreURL = cfg.storeURL
		if job.StoreURL == "" {
			u, err := store.DefaultURL()
			if err != nil {
				return nil, err
			}
			job.StoreURL = u
		}
		job.BatchSize = cfg.batchSize
		if job.BatchSize == 0 {
			job.BatchSize = backend.BatchSizeFor(b, r.n, concurrency)
		}
	}
	if c, ok := b.(backend.Checker); ok {
		if err := c.Check(ctx, job); err != nil {
			return nil, err
		}
	}
	ecfg := engine.Config{
		N:             r.n,
		Streaming:     streaming,
		Concurrency:   concurrency,
		Retries:       r.task.meta.retries,
		SystemRetries: cfg.systemRetries,
		SystemBackoff: cfg.systemBackoff,
		Required:      r.required,
		RunAll:        cfg.runAll,
		Forget:        cfg.discard,
	}
	r.observe(&ecfg)
	if cfg.execution != "" {
		ecfg.Launch = func() { r.dur.Sync() }
	}
	r.eng, err = engine.New(ecfg)
	if err != nil {
		return nil, err
	}
	if cfg.execution != "" || r.task.meta.cacheVersion != "" {
		if r.dur, err = openDurable(ctx, r); err != nil {
			return nil, err
		}
		defer r.dur.Close()
		// A cancel requested through the store (maptask cancel) ends the run like
		// the caller's own cancellation.
		var cancelRun context.CancelCauseFunc
		ctx, cancelRun = context.WithCancelCause(ctx)
		defer cancelRun(nil)
		if err := r.dur.Prepare(ctx, func() { cancelRun(ErrCancelled) }); err != nil {
			return nil, err
		}
	}

	if remote {
		job.StoreURL = r.dur.Store().URL() // as the store names itself (a directory made absolute)
	}
	if limits, _ := r.eng.Limits(); limits.Concurrency != job.Concurrency {
		// A change made to an earlier run of the execution (maptask update) holds.
		job.Concurrency = limits.Concurrency
		if remote && cfg.batchSize == 0 {
			job.BatchSize = backend.BatchSizeFor(b, r.n, job.Concurrency)
		}
	}
	if !streaming && !cfg.runAll {
		job.MaxFailures = max(r.n-r.eng.Required(), 0)
	}
	defer cfg.control.attach(r)()
	if r.feed != nil {
		r.feed.gated = r.dur != nil && r.dur.Journaled()
		r.feedPreset()
	}
	stopProgress := r.startProgress()
	var producer chan error
	if streaming {
		producer = make(chan error, 1)
		go func() { producer <- r.produce(ctx, stream) }()
	}
	sum := r.eng.Run(ctx, b, job)
	if producer != nil {
		if perr := <-producer; perr != nil && sum.Cause == nil {
			sum.Cause, sum.Success = perr, false
		}
		r.n = sum.N
	}
	var storeErr error
	if r.dur != nil {
		// Its last sync reports the last elements to OnResult: still above
		// the progress bar, before its summary.
		storeErr = r.dur.Finish(ctx, sum)
	}
	stopProgress()
	res := &Results[Out]{values: r.values, eng: r.eng, n: r.n, discarded: cfg.discard}
	if sum.Success {
		return res, storeErr
	}
	me := &MapError{Task: r.task.name, Total: sum.N, Required: sum.Required, Succeeded: sum.Succeeded,
		Failures: make(map[int]error, sum.Failed+sum.NotRun), Cause: sum.Cause}
	r.eng.States(func(i int, el engine.Element) { me.Failures[i] = el.Err })
	if storeErr != nil {
		return res, errors.Join(me, storeErr)
	}
	return res, me
}

// produce feeds a streaming map's elements to the engine, then seals it.
func (r *mapRun[In, Out]) produce(ctx context.Context, stream iter.Seq[In]) error {
	i := 0
	for in := range stream {
		if ctx.Err() != nil {
			break
		}
		r.inputs.grow(i)
		r.values.grow(i)
		r.inputs.set(i, in)
		cached := false
		if r.dur != nil {
			var err error
			if cached, err = r.dur.LookupValue(ctx, i); err != nil {
				r.eng.Halt(err) // the run cannot decide a verdict without this element
				_ = r.eng.Seal()
				return err
			}
		}
		if r.eng.Add(cached) < 0 {
			break // the run is over (a backend failed): the rest will not run
		}
		if cached && r.feed != nil {
			r.feed.deliver([]finishedElement{{i, engine.Element{State: engine.Succeeded, Cached: true}}})
		}
		i++
	}
	return r.eng.Seal()
}

func (r *mapRun[In, Out]) startProgress() func() {
	if r.cfg.progress == nil {
		return func() {}
	}
	title := r.task.name
	if r.cfg.progressLabel != "" {
		title = r.cfg.progressLabel
	}
	mode := progress.Auto
	if r.cfg.progressBar {
		mode = progress.Always
	}
	rep := progress.Start(r.cfg.progress, mode, title, func() progress.Counts {
		c := r.eng.Snapshot()
		return progress.Counts{Total: c.Total, Succeeded: c.Succeeded, Cached: c.Cached, Earlier: c.Earlier, Failed: c.Failed, Running: c.Running}
	})
	return rep.Stop
}

// feedPreset reports the elements final before anything runs: found in the
// cache or succeeded in an earlier run of the execution.
func (r *mapRun[In, Out]) feedPreset() {
	if r.eng.Snapshot().Succeeded == 0 {
		return
	}
	var list []finishedElement
	for i := range r.n {
		if el := r.eng.Element(i); el.State == engine.Succeeded {
			list = append(list, finishedElement{i, el})
		}
	}
	r.feed.deliver(list)
}

// AttemptContexts implements inprocess.ContextMaker: a batch's contexts in
// one allocation, when nothing is stored (Invoke makes a context with logs
// otherwise).
func (r *mapRun[In, Out]) AttemptContexts(ctx context.Context, batch []backend.Attempt, ctxs []context.Context) {
	if r.keepsLogs() {
		for k := range batch {
			ctxs[k] = ctx
		}
		return
	}
	parent := &attemptParent{ctx}
	cs := make([]packedAttempt, len(batch))
	for k, a := range batch {
		if p, ok := packAttempt(a); ok {
			cs[k] = packedAttempt{parent, p}
			ctxs[k] = &cs[k]
		} else {
			ctxs[k] = newAttemptContext(ctx, a)
		}
	}
}

// packedAttempt is bareAttempt in 16 bytes, for the attempts of a batch,
// which share their parent context: half the memory to allocate and clear
// per element of a trivial map, where that was a tenth of its time.
type packedAttempt struct {
	parent *attemptParent
	packed uint64 // index<<16 | number
}

type attemptParent struct{ context.Context }

// packAttempt packs a when its index and number fit (all but absurd ones).
func packAttempt(a backend.Attempt) (uint64, bool) {
	if a.Index < 0 || a.Index >= 1<<47 || a.Number < 0 || a.Number >= 1<<16 {
		return 0, false
	}
	return uint64(a.Index)<<16 | uint64(a.Number), true
}

func (c *packedAttempt) attempt() backend.Attempt {
	return backend.Attempt{Index: int(c.packed >> 16), Number: int(c.packed & (1<<16 - 1))}
}

func (c *packedAttempt) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *packedAttempt) Done() <-chan struct{}       { return c.parent.Done() }
func (c *packedAttempt) Err() error                  { return c.parent.Err() }

func (c *packedAttempt) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return c.attempt()
	}
	return c.parent.Value(key)
}

var _ inprocess.RunInvoker = (*mapRun[int, int])(nil)

// InvokeRun implements inprocess.RunInvoker: attempts of a batch one after
// the other in one call, one deferred recover for them all (a panic fails
// the attempt that panicked, as call does for one).
func (r *mapRun[In, Out]) InvokeRun(ctxs []context.Context, batch []backend.Attempt, pos *int, end int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	for ; *pos < end; *pos++ {
		if ctxs[*pos].Err() != nil {
			return nil // cancelled, or stopped early: the rest never begins
		}
		a := batch[*pos]
		c, ok := ctxs[*pos].(*packedAttempt)
		if !ok || r.keepsLogs() { // not made here: Invoke knows what to do
			if err := r.Invoke(ctxs[*pos], a); err != nil {
				return err
			}
			continue
		}
		out, err := r.task.fn(c, r.input(a.Index))
		if err != nil {
			return err
		}
		r.keep(a.Index, out)
	}
	return nil
}

// keepsLogs reports whether attempts' logs are kept: the map is stored.
func (r *mapRun[In, Out]) keepsLogs() bool { return r.dur != nil && r.dur.ID() != "" }

// input returns element i's input: from the caller's slice when there is
// one (cheaper than chunks).
func (r *mapRun[In, Out]) input(i int) In {
	if r.slice != nil {
		return r.slice[i]
	}
	return r.inputs.get(i)
}

// keep holds element i's value, in the plain array when there is one.
func (r *mapRun[In, Out]) keep(i int, out Out) {
	if r.out != nil {
		r.out[i] = out
	} else {
		r.values.set(i, out)
	}
}

// newAttemptContext returns a context for attempt a, taken from a slab of
// many: one allocation for many attempts instead of one each. A context is
// never handed out twice, as a task may keep its context after it returns.
func newAttemptContext(ctx context.Context, a backend.Attempt) *bareAttempt {
	s := attemptSlabs.Get().(*attemptSlab)
	if len(s.free) == 0 {
		s.free = make([]bareAttempt, 128)
	}
	c := &s.free[0]
	s.free = s.free[1:]
	attemptSlabs.Put(s)
	c.Context, c.a = ctx, a
	return c
}

// bareAttempt is attemptContext without logs (nothing is stored), half its size.
type bareAttempt struct {
	context.Context
	a backend.Attempt
}

func (c *bareAttempt) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return c.a
	}
	return c.Context.Value(key)
}

type attemptSlab struct{ free []bareAttempt }

// attemptSlabs are per-P (sync.Pool), so workers rarely share one.
var attemptSlabs = sync.Pool{New: func() any { return new(attemptSlab) }}
