package maptask

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/commit"
	"github.com/maptask/maptask/internal/engine"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/store"
)

// The journal is a group commit (internal/commit): every attempt's start and
// every element's end is recorded, and made durable before the slot it used
// runs anything else, so a crashed driver recomputes only what was in flight.
// The flusher writes cache entries and polls for a cancel request.
const (
	flushInterval = time.Second
	flushRecords  = 4096
	cacheLookups  = 16 // concurrent cache reads before a map starts
)

// durable is the stored side of a map: the execution (inputs, journal, verdict)
// when it has an id, and the cache when the task has a cache version.
type durable[In, Out any] struct {
	r       *mapRun[In, Out]
	st      *store.Store
	id      string // "" when only the cache is used
	version string // cache version; "" when caching is off
	writer  string // this driver's journal name
	bound   []byte // encoded bound value, nil when none
	data    []byte // encoded inputs (durable executions only)
	offsets []uint64

	log     *commit.Log          // the journal's group commit; nil when only the cache is used
	journal *store.JournalWriter // where it writes
	lease   *store.Lease         // this driver's hold on the execution

	mu      sync.Mutex
	puts    []int // elements whose output goes into the cache
	err     error
	kick    chan struct{} // cache entries are waiting
	commits chan struct{} // finished elements are waiting to be committed
	stop    chan struct{}
	stopped chan struct{}
	// cancelRun ends the run when a cancel is requested through the store.
	cancelRun context.CancelCauseFunc
}

// ErrCancelled is the cause of a map stopped by a cancel request made through
// the store (maptask cancel ID, or store.SetCancel), from another process.
var ErrCancelled = errors.New("maptask: execution cancelled by request")

func openDurable[In, Out any](ctx context.Context, r *mapRun[In, Out]) (*durable[In, Out], error) {
	d := &durable[In, Out]{r: r, id: r.cfg.execution, version: r.task.meta.cacheVersion}
	if d.id != "" {
		if err := store.ValidateID(d.id); err != nil {
			return nil, err
		}
	}
	url := r.cfg.storeURL
	if url == "" {
		var err error
		if url, err = store.DefaultURL(); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	d.st = st
	d.writer = fmt.Sprintf("d%d", time.Now().UnixNano())
	if r.task.hasBound {
		if d.bound, err = r.cfg.codec.Marshal(r.task.bound); err != nil {
			st.Close()
			return nil, fmt.Errorf("maptask: encoding the bound value of task %q: %w", r.task.name, err)
		}
	}
	return d, nil
}

func (d *durable[In, Out]) close() {
	if d.journal != nil {
		_ = d.journal.Close()
	}
	if d.lease != nil {
		_ = d.lease.Release(context.Background())
	}
	d.st.Close()
}

// leaseTTL is how long an execution's lease lasts unless its driver renews
// it (every third of it): a driver that died on another host is taken over
// after this long; one that died on this host at once.
const leaseTTL = 30 * time.Second

// prepare creates or checks the execution, takes in what earlier runs and the
// cache already computed, and starts the journal writer.
func (d *durable[In, Out]) prepare(ctx context.Context) error {
	if d.id != "" {
		// A store that cannot record results is refused before anything runs.
		if err := d.st.CheckWritable(ctx); err != nil {
			return err
		}
		// One driver per execution: a second one is refused, naming the first.
		lease, err := d.st.AcquireLease(ctx, d.id, store.NewLeaseOwner(), leaseTTL)
		if err != nil {
			return err
		}
		d.lease = lease
		if err := d.openExecution(ctx); err != nil {
			return err
		}
	}
	if d.version != "" && d.r.slice != nil {
		if err := d.lookupAll(ctx); err != nil {
			return err
		}
	}
	d.kick = make(chan struct{}, 1)
	d.commits = make(chan struct{}, 1)
	d.stop = make(chan struct{})
	d.stopped = make(chan struct{})
	go d.flusher()
	return nil
}

// startLog opens the journal and its group commit, once the execution
// exists. A commit that cannot be written for good halts the map: nothing
// more is launched that could not be recorded.
func (d *durable[In, Out]) startLog(ctx context.Context) error {
	jw, err := d.st.OpenJournal(ctx, d.id, d.writer)
	if err != nil {
		return err
	}
	d.journal = jw
	d.log = commit.New(jw, commit.Policy{}, func(err error) {
		d.r.eng.Halt(fmt.Errorf("maptask: execution %q: %w", d.id, err))
	})
	return nil
}

// recordStarted journals the start of an attempt (made durable by sync before
// the attempt runs), so attempts are counted across driver crashes.
func (d *durable[In, Out]) recordStarted(ev engine.Event) {
	if d.log == nil {
		return
	}
	d.log.Add(store.Record{Index: ev.Attempt.Index, Status: store.StatusRunning, Attempts: ev.Attempt.Number, Time: time.Now().UnixNano()})
}

// sync makes the journal durable before a slot runs another attempt, then
// reports to OnResult the elements it recorded.
func (d *durable[In, Out]) sync() {
	if d.log == nil {
		return
	}
	ready := d.r.feed.take()
	if d.log.Sync() == nil { // a failure halts the map (see startLog)
		d.r.feed.deliver(ready)
	}
}

func (d *durable[In, Out]) openExecution(ctx context.Context) error {
	r := d.r
	cd := r.cfg.codec
	d.offsets = make([]uint64, 1, r.n+1)
	for i, in := range r.slice {
		b, err := cd.Marshal(in)
		if err != nil {
			return fmt.Errorf("maptask: encoding input %d: %w", i, err)
		}
		d.data = append(d.data, b...)
		d.offsets = append(d.offsets, uint64(len(d.data)))
	}
	spec := store.Spec{
		ID: d.id, Task: r.task.name, CacheVersion: d.version, Codec: cd.Name(), N: r.n,
		InputsDigest: store.InputsDigest(d.data, d.offsets), Created: time.Now().UTC(), Labels: r.cfg.labels,
	}
	if d.bound != nil {
		spec.BoundDigest = store.InputsDigest(d.bound, []uint64{0, uint64(len(d.bound))})
	}
	old, err := d.st.LoadSpec(ctx, d.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := d.st.CreateExecution(ctx, spec, d.data, d.offsets, d.bound); err != nil {
			return err
		}
		return d.startLog(ctx)
	case err != nil:
		return err
	}
	if diff := specDiff(old, &spec); diff != "" {
		return fmt.Errorf("maptask: execution %q in %s was created for a different map (%s): refusing to resume it; use another Execution id", d.id, d.st.URL(), diff)
	}
	// A cancel request was for the run it stopped; this one starts afresh.
	if err := d.st.ClearCancel(ctx, d.id); err != nil {
		return err
	}
	recs, quarantined, err := d.st.LoadRecordsReport(ctx, d.id, r.n)
	if err != nil {
		return err
	}
	for _, q := range quarantined {
		d.warn("maptask: execution " + d.id + ": " + q.String())
	}
	if err := d.startLog(ctx); err != nil {
		return err
	}
	for i, rec := range recs {
		switch rec.Status {
		case store.StatusSucceeded:
			var out Out
			if err := cd.Unmarshal(rec.Output, &out); err != nil {
				return fmt.Errorf("maptask: execution %q: decoding the stored output of element %d: %w", d.id, i, err)
			}
			r.values.set(i, out)
			r.eng.Preset(i, engine.Element{Attempts: rec.Attempts, Duration: time.Duration(rec.DurationNS)})
		case "":
		default:
			r.eng.SetAttempts(i, rec.Attempts)
		}
	}
	return nil
}

// specDiff names the fields in which a stored execution differs from this map.
func specDiff(old, cur *store.Spec) string {
	var d []string
	add := func(field, was, now string) {
		if was != now {
			d = append(d, fmt.Sprintf("%s %q, now %q", field, was, now))
		}
	}
	add("task", old.Task, cur.Task)
	add("cache version", old.CacheVersion, cur.CacheVersion)
	add("codec", old.Codec, cur.Codec)
	if old.N != cur.N {
		d = append(d, fmt.Sprintf("%d inputs, now %d", old.N, cur.N))
	} else if old.InputsDigest != cur.InputsDigest {
		d = append(d, "the same number of inputs with different values")
	}
	if old.BoundDigest != cur.BoundDigest {
		d = append(d, "a different bound value")
	}
	return strings.Join(d, "; ")
}

// inputBytes returns element i's encoded input.
func (d *durable[In, Out]) inputBytes(i int) ([]byte, error) {
	if d.offsets != nil {
		return d.data[d.offsets[i]:d.offsets[i+1]], nil
	}
	return d.r.cfg.codec.Marshal(d.r.inputs.get(i))
}

func (d *durable[In, Out]) cacheKey(i int) (string, error) {
	in, err := d.inputBytes(i)
	if err != nil {
		return "", fmt.Errorf("maptask: encoding input %d: %w", i, err)
	}
	return store.CacheKey(d.r.task.name, d.version, d.bound, in), nil
}

// lookupAll looks every element not yet done up in the cache, concurrently.
func (d *durable[In, Out]) lookupAll(ctx context.Context) error {
	todo := make(chan int)
	errs := make(chan error, cacheLookups)
	var wg sync.WaitGroup
	for range cacheLookups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if _, err := d.lookup(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range d.r.n {
		if d.r.eng.Element(i).State == engine.Succeeded {
			continue
		}
		select {
		case todo <- i:
		case err = <-errs:
			break feed
		}
	}
	close(todo)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	return err
}

// lookup presets element i when its output is in the cache. A streaming map
// calls lookupValue instead, before the element exists in the engine.
func (d *durable[In, Out]) lookup(ctx context.Context, i int) (bool, error) {
	hit, err := d.lookupValue(ctx, i)
	if hit {
		d.r.eng.Preset(i, engine.Element{})
	}
	return hit, err
}

func (d *durable[In, Out]) lookupValue(ctx context.Context, i int) (bool, error) {
	key, err := d.cacheKey(i)
	if err != nil {
		return false, err
	}
	data, err := d.st.CacheGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var out Out
	if err := d.r.cfg.codec.Unmarshal(data, &out); err != nil {
		// A cache entry this codec cannot read is a miss, not a failure: the
		// element runs and its fresh output replaces the entry.
		return false, nil
	}
	d.r.values.set(i, out)
	if d.log != nil {
		d.log.Add(store.Record{Index: i, Status: store.StatusSucceeded, Cached: true, Output: data, Time: time.Now().UnixNano()})
	}
	return true, nil
}

// recordFinished journals an element that reached its final state.
func (d *durable[In, Out]) recordFinished(ev engine.Event) {
	i, el := ev.Attempt.Index, ev.Element
	rec := store.Record{Index: i, Attempts: el.Attempts, DurationNS: int64(el.Duration), Time: time.Now().UnixNano()}
	if ev.Outcome.ExitCode >= 0 {
		code := ev.Outcome.ExitCode
		rec.ExitCode = &code
	}
	put := -1
	if el.State == engine.Succeeded {
		rec.Status = store.StatusSucceeded
		if ev.Outcome.Output != nil {
			// A remote worker's output: decode it into the results.
			rec.Output = ev.Outcome.Output
			var out Out
			if err := d.r.cfg.codec.Unmarshal(rec.Output, &out); err != nil {
				d.fail(fmt.Errorf("maptask: decoding the output of element %d: %w", i, err))
				return
			}
			d.r.values.set(i, out)
		} else {
			out, err := d.r.cfg.codec.Marshal(d.r.values.get(i))
			if err != nil {
				d.fail(fmt.Errorf("maptask: encoding the output of element %d: %w", i, err))
				return
			}
			rec.Output = out
		}
		if d.version != "" {
			put = i
		}
	} else {
		rec.Status = store.StatusFailed
		if el.Err != nil {
			rec.Err = el.Err.Error()
		}
		rec.Permanent = ev.Outcome.Permanent
	}
	if ev.Outcome.Recorded {
		rec.Status = "" // the worker journaled it already
	}
	d.append(rec, put)
}

// append queues a finished element's record for the next commit, and its
// cache entry (put >= 0) for the flusher.
func (d *durable[In, Out]) append(rec store.Record, put int) {
	if d.log != nil && rec.Status != "" {
		d.log.Add(rec)
		select { // committed promptly even when no slot launches anything next
		case d.commits <- struct{}{}:
		default:
		}
	}
	if put >= 0 {
		d.mu.Lock()
		d.puts = append(d.puts, put)
		full := len(d.puts) >= flushRecords
		d.mu.Unlock()
		if full {
			select {
			case d.kick <- struct{}{}:
			default:
			}
		}
	}
}

func (d *durable[In, Out]) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.mu.Unlock()
}

// flusher writes journal batches and cache entries until stop is closed, then
// writes what is left.
func (d *durable[In, Out]) flusher() {
	defer close(d.stopped)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.checkCancel()
			d.renewLease()
		case <-d.kick:
		case <-d.commits:
			d.sync()
			continue
		case <-d.stop:
			d.flush()
			return
		}
		d.flush()
	}
}

// warn tells the user of something the store did that they should know
// (a corrupt journal object put in quarantine): through the map's Logger,
// else on standard error.
func (d *durable[In, Out]) warn(msg string) {
	if log := d.r.cfg.logger; log != nil {
		log.Warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}

// renewLease keeps this driver's hold on the execution. Another driver that
// took it over (this one looked dead) stops this run: two drivers never run
// one execution.
func (d *durable[In, Out]) renewLease() {
	if d.lease == nil || time.Until(d.lease.Expires()) > 2*leaseTTL/3 {
		return
	}
	if err := d.lease.Renew(context.Background()); errors.Is(err, store.ErrLeaseLost) {
		d.r.eng.Halt(fmt.Errorf("maptask: execution %q: %w", d.id, err))
	}
}

// checkCancel stops the run when a cancel was requested through the store.
func (d *durable[In, Out]) checkCancel() {
	if d.id == "" || d.cancelRun == nil {
		return
	}
	if yes, err := d.st.Cancelled(context.Background(), d.id); err == nil && yes {
		d.cancelRun(ErrCancelled)
	}
}

func (d *durable[In, Out]) flush() {
	// Writes outlive the map's context: a cancelled map still keeps what finished.
	ctx := context.Background()
	d.sync()
	d.mu.Lock()
	puts := d.puts
	d.puts = nil
	d.mu.Unlock()
	for _, i := range puts {
		if err := d.putCache(ctx, i); err != nil {
			d.fail(err)
			return
		}
	}
}

func (d *durable[In, Out]) putCache(ctx context.Context, i int) error {
	key, err := d.cacheKey(i)
	if err != nil {
		return err
	}
	out, err := d.r.cfg.codec.Marshal(d.r.values.get(i))
	if err != nil {
		return fmt.Errorf("maptask: encoding the output of element %d: %w", i, err)
	}
	return d.st.CachePut(ctx, key, out)
}

// putLogs keeps an attempt's logs. A log that cannot be written is reported
// by Map at the end; it does not fail the element.
func (d *durable[In, Out]) putLogs(a backend.Attempt, out, errOut *logbuf.Buffer) {
	if err := d.st.PutAttemptLogs(context.Background(), d.id, a.Index, a.Number, out, errOut); err != nil {
		d.fail(fmt.Errorf("maptask: keeping the log of element %d: %w", a.Index, err))
	}
}

// finish writes the last records and the verdict, and returns the first store
// error of the run.
func (d *durable[In, Out]) finish(ctx context.Context, sum engine.Summary) error {
	close(d.stop)
	<-d.stopped
	if d.log != nil {
		// The verdict counts only what the journal holds: a run whose results
		// could not all be recorded never claims them.
		ready := d.r.feed.take()
		if err := d.log.Sync(); err == nil {
			d.r.feed.deliver(ready)
		} else {
			d.fail(fmt.Errorf("maptask: execution %q: %w", d.id, err))
			sum.Success = false
			if sum.Cause == nil {
				sum.Cause = err
			}
		}
	}
	if d.id != "" {
		v := store.Verdict{Outcome: "succeeded", Required: sum.Required, Succeeded: sum.Succeeded,
			Failed: sum.Failed, Skipped: sum.Skipped, Time: time.Now().UTC()}
		if !sum.Success {
			v.Outcome = "failed"
			if sum.Cause != nil && !errors.Is(sum.Cause, engine.ErrStopped) {
				v.Outcome = "cancelled"
			}
		}
		if sum.Cause != nil {
			v.Error = sum.Cause.Error()
		}
		if err := d.st.PutVerdict(context.WithoutCancel(ctx), d.id, v); err != nil {
			d.fail(err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

var _ backend.Invoker = (*mapRun[int, int])(nil)
