// Package durable is the stored side of a map, apart from the user's types:
// the execution (its spec, inputs, journal, lease and verdict) when the map
// has an id, and the cache when its task has a cache version. Package maptask
// is its only user; it encodes and decodes values with the map's codec
// through Values, and reports to OnResult from the hook run after each
// successful journal sync.
//
// The journal is a group commit (internal/commit): every attempt's start and
// every element's end is recorded, and made durable before the slot it used
// runs anything else, so a crashed driver recomputes only what was in flight.
// The flusher writes cache entries, renews the lease and polls for a cancel
// request.
package durable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/commit"
	"github.com/maptask/maptask/internal/engine"
	"github.com/maptask/maptask/store"
)

const (
	flushInterval = time.Second
	flushRecords  = 4096
	cacheLookups  = 16 // concurrent cache reads before a map starts
)

// leaseTTL is how long an execution's lease lasts unless its driver renews
// it (every third of it): a driver that died on another host is taken over
// after this long; one that died on this host at once.
const leaseTTL = 30 * time.Second

// Values is the typed side of a run: the user's inputs and outputs, encoded
// and decoded with the map's codec. Package maptask implements it.
type Values interface {
	// EncodeInput returns element i's input, encoded. It is called from
	// several goroutines at once (for different elements).
	EncodeInput(i int) ([]byte, error)
	// EncodeOutput returns element i's value, encoded.
	EncodeOutput(i int) ([]byte, error)
	// SetOutput decodes data into element i's value; on error the value is
	// left as it was.
	SetOutput(i int, data []byte) error
	// KeepOutput keeps data, element i's output as a resumed execution
	// stored it, as its value: decoded now (then an error is a decoding
	// error), or when the value is first read.
	KeepOutput(i int, data []byte) error
}

// Config describes a run's stored side.
type Config struct {
	ID       string // the execution; "" when only the cache is used
	StoreURL string // "" means store.DefaultURL()
	Task     string
	Version  string // cache version; "" when caching is off
	Codec    string // the codec's name, recorded in the spec
	Labels   map[string]string
	N        int  // the number of elements, when known up front
	Known    bool // the inputs are known up front: the cache is read before the run
	Logger   *slog.Logger
	Engine   *engine.Engine
	Values   Values
	// BeforeSync, when set, is called before each journal sync; the function
	// it returns (if not nil) is called once that sync has succeeded. What
	// was journaled before the call is covered by the sync after it, so
	// OnResult reports only what the journal holds.
	BeforeSync func() (after func())
	// Apply applies a change asked for through the store (maptask update)
	// to the running map and says how it went; nil ignores changes.
	Apply func(store.Change) store.ChangeResult

	checkpointEvery time.Duration // tests: instead of checkpointEvery
}

// Run is the stored side of one map.
type Run struct {
	cfg     Config
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
	puts    []cachePut // outputs that go into the cache
	err     error
	kick    chan struct{} // cache entries are waiting
	commits chan struct{} // finished elements are waiting to be committed
	stop    chan struct{}
	stopped chan struct{}
	// cancel ends the run when a cancel is requested through the store.
	cancel func()

	checkpointed time.Time // the last periodic checkpoint, or the start
	stopOnce     sync.Once

	changeMu  sync.Mutex // one change applied at a time
	changeSeq int        // the last change applied or answered
}

// Open opens the store a run uses. Close releases it.
func Open(ctx context.Context, cfg Config) (*Run, error) {
	d := &Run{cfg: cfg, id: cfg.ID, version: cfg.Version}
	if d.id != "" {
		if err := store.ValidateID(d.id); err != nil {
			return nil, err
		}
	}
	url := cfg.StoreURL
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
	d.writer = fmt.Sprintf("%s%d", store.DriverWriterPrefix, time.Now().UnixNano())
	return d, nil
}

// SetBound sets the task's encoded bound value, before Prepare.
func (d *Run) SetBound(b []byte) { d.bound = b }

// ID returns the execution's id, "" when only the cache is used.
func (d *Run) ID() string { return d.id }

// Store returns the run's store.
func (d *Run) Store() *store.Store { return d.st }

// Journaled reports whether the run has a journal (an execution was opened).
func (d *Run) Journaled() bool { return d.log != nil }

// Close closes the journal, releases the lease and closes the store.
func (d *Run) Close() {
	d.stopFlusher() // a run that never finished (Prepare's caller gave up)
	if d.journal != nil {
		_ = d.journal.Close()
	}
	if d.lease != nil {
		_ = d.lease.Release(context.Background())
	}
	d.st.Close()
}

// Prepare creates or checks the execution, takes in what earlier runs and the
// cache already computed, and starts the journal writer. cancel is called
// when a cancel is requested through the store.
func (d *Run) Prepare(ctx context.Context, cancel func()) error {
	d.cancel = cancel
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
		// Changes made to earlier runs (maptask update) hold for this one.
		if err := d.applyChanges(ctx); err != nil {
			return err
		}
	}
	if d.version != "" && d.cfg.Known {
		if err := d.lookupAll(ctx); err != nil {
			return err
		}
	}
	d.kick = make(chan struct{}, 1)
	d.commits = make(chan struct{}, 1)
	d.stop = make(chan struct{})
	d.stopped = make(chan struct{})
	d.checkpointed = time.Now()
	go d.flusher()
	return nil
}

// startLog opens the journal and its group commit, once the execution
// exists. A commit that cannot be written for good halts the map: nothing
// more is launched that could not be recorded.
func (d *Run) startLog(ctx context.Context) error {
	jw, err := d.st.OpenJournal(ctx, d.id, d.writer)
	if err != nil {
		return err
	}
	d.journal = jw
	d.log = commit.New(jw, commit.Policy{}, func(err error) {
		d.cfg.Engine.Halt(fmt.Errorf("maptask: execution %q: %w", d.id, err))
	})
	return nil
}

// RecordStarted journals the start of an attempt (made durable by Sync
// before the attempt runs), so attempts are counted across driver crashes.
func (d *Run) RecordStarted(ev engine.Event) {
	if d.log == nil {
		return
	}
	d.log.Add(store.Record{Index: ev.Attempt.Index, Status: store.StatusRunning, Attempts: ev.Attempt.Number, Time: time.Now().UnixNano()})
}

// Sync makes the journal durable before a slot runs another attempt, then
// reports to OnResult (through BeforeSync's function) the elements it
// recorded.
func (d *Run) Sync() {
	if d.log == nil {
		return
	}
	after := d.beforeSync()
	if d.log.Sync() == nil && after != nil { // a failure halts the map (see startLog)
		after()
	}
}

func (d *Run) beforeSync() func() {
	if d.cfg.BeforeSync == nil {
		return nil
	}
	return d.cfg.BeforeSync()
}

func (d *Run) openExecution(ctx context.Context) error {
	n := d.cfg.N
	old, err := d.st.LoadSpec(ctx, d.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := d.encodeInputs(); err != nil {
			return err
		}
		if err := d.st.CreateExecution(ctx, d.spec(store.InputsDigest(d.data, d.offsets)), d.data, d.offsets, d.bound); err != nil {
			return err
		}
		if err := d.startLog(ctx); err != nil {
			return err
		}
		return d.journal.Track(nil)
	case err != nil:
		return err
	}
	digest, err := d.inputsDigest(ctx, old)
	if err != nil {
		return err
	}
	spec := d.spec(digest)
	if diff := specDiff(old, &spec); diff != "" {
		return fmt.Errorf("maptask: execution %q in %s was created for a different map (%s): refusing to resume it; use another Execution id", d.id, d.st.URL(), diff)
	}
	// A cancel request was for the run it stopped; this one starts afresh.
	if err := d.st.ClearCancel(ctx, d.id); err != nil {
		return err
	}
	// So does its verdict: until this run ends, the journal is the truth.
	if err := d.st.ClearVerdict(ctx, d.id); err != nil {
		return err
	}
	// The journal as its checkpoint (written at the end of the last run)
	// and what was written after it hold it.
	state, quarantined, err := d.st.LoadState(ctx, d.id, n, true)
	if err != nil {
		return err
	}
	for _, q := range quarantined {
		d.warn("maptask: execution " + d.id + ": " + q.String())
	}
	if err := d.startLog(ctx); err != nil {
		return err
	}
	eng := d.cfg.Engine
	checked := false
	for i := range n {
		switch state.Status(i) {
		case store.StatusSucceeded:
			// The first stored output is decoded at once, so that a map whose
			// output type changed is refused before it runs; the others when
			// first read.
			keep := d.cfg.Values.KeepOutput
			if !checked {
				keep, checked = d.cfg.Values.SetOutput, true
			}
			if err := keep(i, state.Output(i)); err != nil {
				return fmt.Errorf("maptask: execution %q: decoding the stored output of element %d: %w", d.id, i, err)
			}
			eng.Preset(i, engine.Element{Attempts: state.Attempts(i), Duration: time.Duration(state.DurationNS(i))})
		case "":
		default:
			eng.SetAttempts(i, state.Attempts(i))
		}
	}
	// The journal writer keeps the state up to date, for the checkpoint
	// Finish writes.
	return d.journal.Track(state)
}

// spec is the spec of this map, its inputs fingerprinted by digest.
func (d *Run) spec(digest string) store.Spec {
	spec := store.Spec{
		ID: d.id, Task: d.cfg.Task, CacheVersion: d.version, Codec: d.cfg.Codec, N: d.cfg.N,
		InputsDigest: digest, Created: time.Now().UTC(), Labels: d.cfg.Labels,
	}
	if d.bound != nil {
		spec.BoundDigest = store.InputsDigest(d.bound, []uint64{0, uint64(len(d.bound))})
	}
	return spec
}

// encodeInputs encodes every input into d.data, cut at d.offsets.
func (d *Run) encodeInputs() error {
	n := d.cfg.N
	d.data, d.offsets = nil, make([]uint64, 1, n+1)
	for i := range n {
		b, err := d.cfg.Values.EncodeInput(i)
		if err != nil {
			return fmt.Errorf("maptask: encoding input %d: %w", i, err)
		}
		d.data = append(d.data, b...)
		d.offsets = append(d.offsets, uint64(len(d.data)))
	}
	return nil
}

// inputsDigest returns the digest of this map's inputs, to compare with the
// stored execution's (old). When the map's encoded inputs are the stored
// ones byte for byte, and those hash to the spec's digest, it is the spec's
// digest, and the stored inputs become d.data: each input is encoded and
// compared, several at once, without being copied or hashed, and the stored
// ones are hashed beside. Otherwise (other inputs) it is their own digest,
// which differs. With another number of inputs, nothing is encoded: the
// spec differs already.
func (d *Run) inputsDigest(ctx context.Context, old *store.Spec) (string, error) {
	n := d.cfg.N
	if old.N != n {
		return "", nil
	}
	data, offsets, err := d.st.ReadAllInputs(ctx, d.id)
	if err != nil {
		return "", err
	}
	stored := make(chan string, 1)
	go func() { stored <- store.InputsDigest(data, offsets) }()
	same, err := d.sameInputs(data, offsets)
	digest := <-stored
	switch {
	case err != nil:
		return "", err
	case !same:
		if err := d.encodeInputs(); err != nil {
			return "", err
		}
		return store.InputsDigest(d.data, d.offsets), nil
	case digest != old.InputsDigest:
		return "", fmt.Errorf("maptask: execution %q in %s: %w: its stored inputs do not hash to the digest its spec recorded", d.id, d.st.URL(), store.ErrCorrupt)
	}
	d.data, d.offsets = data, offsets
	return digest, nil
}

// sameInputs reports whether the map's inputs encode to data cut at
// offsets, encoding them in a few goroutines; an input that cannot be
// encoded is an error naming the first one.
func (d *Run) sameInputs(data []byte, offsets []uint64) (bool, error) {
	n := d.cfg.N
	parts := max(1, min(runtime.GOMAXPROCS(0), n/4096))
	errs := make([]error, parts)
	var differ atomic.Bool
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Go(func() {
			for i := lo; i < hi && !differ.Load(); i++ {
				b, err := d.cfg.Values.EncodeInput(i)
				if err != nil {
					errs[p] = fmt.Errorf("maptask: encoding input %d: %w", i, err)
					return
				}
				if !bytes.Equal(b, data[offsets[i]:offsets[i+1]]) {
					differ.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return false, err
		}
	}
	return !differ.Load(), nil
}

// inputBytes returns element i's encoded input.
func (d *Run) inputBytes(i int) ([]byte, error) {
	if d.offsets != nil {
		return d.data[d.offsets[i]:d.offsets[i+1]], nil
	}
	return d.cfg.Values.EncodeInput(i)
}

func (d *Run) cacheKey(i int) (string, error) {
	in, err := d.inputBytes(i)
	if err != nil {
		return "", fmt.Errorf("maptask: encoding input %d: %w", i, err)
	}
	return store.CacheKey(d.cfg.Task, d.version, d.bound, in), nil
}

// lookupAll looks every element not yet done up in the cache, concurrently.
func (d *Run) lookupAll(ctx context.Context) error {
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
	for i := range d.cfg.N {
		if d.cfg.Engine.Element(i).State == engine.Succeeded {
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
// calls LookupValue instead, before the element exists in the engine.
func (d *Run) lookup(ctx context.Context, i int) (bool, error) {
	hit, err := d.LookupValue(ctx, i)
	if hit {
		d.cfg.Engine.Preset(i, engine.Element{})
	}
	return hit, err
}

// LookupValue sets element i's value when its output is in the cache, and
// journals it as a cached success.
func (d *Run) LookupValue(ctx context.Context, i int) (bool, error) {
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
	if err := d.cfg.Values.SetOutput(i, data); err != nil {
		// A cache entry this codec cannot read is a miss, not a failure: the
		// element runs and its fresh output replaces the entry.
		return false, nil
	}
	if d.log != nil {
		d.log.Add(store.Record{Index: i, Status: store.StatusSucceeded, Cached: true, Output: data, Time: time.Now().UnixNano()})
	}
	return true, nil
}

// RecordFinished journals an element that reached its final state.
func (d *Run) RecordFinished(ev engine.Event) {
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
			if err := d.cfg.Values.SetOutput(i, rec.Output); err != nil {
				d.fail(fmt.Errorf("maptask: decoding the output of element %d: %w", i, err))
				return
			}
		} else {
			out, err := d.cfg.Values.EncodeOutput(i)
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

// cachePut is an element's output on its way to the cache, encoded when the
// element finished: by the time the flusher writes it, the map may have
// dropped the value (DiscardResults, OnResult).
type cachePut struct {
	index  int
	output []byte
}

// append queues a finished element's record for the next commit, and its
// cache entry (put >= 0, its output in rec.Output) for the flusher.
func (d *Run) append(rec store.Record, put int) {
	if d.log != nil && rec.Status != "" {
		d.log.Add(rec)
		select { // committed promptly even when no slot launches anything next
		case d.commits <- struct{}{}:
		default:
		}
	}
	if put >= 0 {
		d.mu.Lock()
		d.puts = append(d.puts, cachePut{put, rec.Output})
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

func (d *Run) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.mu.Unlock()
}

// flusher writes journal batches and cache entries until stop is closed, then
// writes what is left.
func (d *Run) flusher() {
	defer close(d.stopped)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.checkCancel()
			d.checkChanges()
			d.renewLease()
			d.periodicCheckpoint()
		case <-d.kick:
		case <-d.commits:
			d.Sync()
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
func (d *Run) warn(msg string) {
	if log := d.cfg.Logger; log != nil {
		log.Warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, msg)
}

// renewLease keeps this driver's hold on the execution. Another driver that
// took it over (this one looked dead) stops this run: two drivers never run
// one execution.
func (d *Run) renewLease() {
	if d.lease == nil || time.Until(d.lease.Expires()) > 2*leaseTTL/3 {
		return
	}
	if err := d.lease.Renew(context.Background()); errors.Is(err, store.ErrLeaseLost) {
		d.cfg.Engine.Halt(fmt.Errorf("maptask: execution %q: %w", d.id, err))
	}
}

// checkCancel stops the run when a cancel was requested through the store.
func (d *Run) checkCancel() {
	if d.id == "" || d.cancel == nil {
		return
	}
	if yes, err := d.st.Cancelled(context.Background(), d.id); err == nil && yes {
		d.cancel()
	}
}

// checkpointEvery is how often a long run compacts its journal into the
// execution's checkpoint, so that the resume of a crashed driver reads the
// checkpoint and the journal written since, not the whole journal. Writing
// it holds up journal commits for as long as it takes (about 0.2 s for a
// million elements), hence not often. Config.checkpointEvery overrides it
// in tests.
const checkpointEvery = 2 * time.Minute

// stopFlusher stops the flusher, which writes what is left, once; it was
// started by Prepare, if at all.
func (d *Run) stopFlusher() {
	d.stopOnce.Do(func() {
		if d.stop != nil {
			close(d.stop)
			<-d.stopped
		}
	})
}

// periodicCheckpoint writes the checkpoint when checkpointEvery has passed
// since the last (the writer skips it when nothing was journaled since).
func (d *Run) periodicCheckpoint() {
	every := checkpointEvery
	if d.cfg.checkpointEvery > 0 {
		every = d.cfg.checkpointEvery
	}
	if d.id == "" || d.journal == nil || time.Since(d.checkpointed) < every {
		return
	}
	d.checkpointed = time.Now()
	if err := d.journal.Checkpoint(context.Background()); err != nil {
		d.warn(fmt.Sprintf("maptask: execution %s: writing its checkpoint: %v", d.id, err))
	}
}

// checkChanges applies the changes asked for since the last look.
func (d *Run) checkChanges() {
	if d.id == "" || d.cfg.Apply == nil {
		return
	}
	if err := d.applyChanges(context.Background()); err != nil {
		d.warn(fmt.Sprintf("maptask: execution %s: reading its changes: %v", d.id, err))
	}
}

// applyChanges applies, in order, the changes numbered above the last one
// applied, and answers those not answered yet. At the start of a run
// (resuming) the changes of earlier runs are applied again; refused ones
// never are.
func (d *Run) applyChanges(ctx context.Context) error {
	if d.cfg.Apply == nil {
		return nil
	}
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	entries, err := d.st.Changes(ctx, d.id, d.changeSeq)
	if err != nil {
		return err
	}
	for _, e := range entries {
		d.changeSeq = e.Seq
		if e.Result != nil && !e.Result.Applied {
			continue // refused: it changes nothing, now or on resume
		}
		// An applied one is applied again: on resume, and when the program's
		// own change (Control) got a number after one still to apply, so
		// that the engine ends where the order of the numbers says.
		res := d.cfg.Apply(e.Change)
		res.Seq, res.Time = e.Seq, time.Now().UTC()
		if e.Result != nil {
			continue // answered by an earlier run
		}
		if err := d.st.PutChangeResult(ctx, d.id, res); err != nil {
			return err
		}
		if res.Applied {
			d.warn(fmt.Sprintf("maptask: execution %s: changed: %s (%s)", d.id, e.Change.String(), e.By))
		} else {
			d.warn(fmt.Sprintf("maptask: execution %s: change refused: %s: %s", d.id, e.Change.String(), res.Error))
		}
	}
	return nil
}

// Change records a change made by the program itself (maptask.Control)
// after apply has applied it, so that status shows it and a resume keeps it.
func (d *Run) Change(ctx context.Context, c store.Change, apply func() store.ChangeResult) (store.ChangeResult, error) {
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	if d.id == "" {
		return apply(), nil
	}
	c, err := d.st.RequestChange(ctx, d.id, c)
	if err != nil {
		return store.ChangeResult{}, err
	}
	res := apply()
	res.Seq, res.Time = c.Seq, time.Now().UTC()
	if c.Seq == d.changeSeq+1 {
		d.changeSeq = c.Seq // else a change asked through the store came in between: the poller applies it next
	}
	return res, d.st.PutChangeResult(ctx, d.id, res)
}

func (d *Run) flush() {
	// Writes outlive the map's context: a cancelled map still keeps what finished.
	ctx := context.Background()
	d.Sync()
	d.mu.Lock()
	puts := d.puts
	d.puts = nil
	d.mu.Unlock()
	for _, p := range puts {
		if err := d.putCache(ctx, p); err != nil {
			d.fail(err)
			return
		}
	}
}

func (d *Run) putCache(ctx context.Context, p cachePut) error {
	key, err := d.cacheKey(p.index)
	if err != nil {
		return err
	}
	return d.st.CachePut(ctx, key, p.output)
}

// PutLogs keeps an attempt's logs. A log that cannot be written is reported
// by Finish at the end; it does not fail the element.
func (d *Run) PutLogs(a backend.Attempt, out, errOut store.Output) {
	if err := d.st.PutAttemptLogs(context.Background(), d.id, a.Index, a.Number, out, errOut); err != nil {
		d.fail(fmt.Errorf("maptask: keeping the log of element %d: %w", a.Index, err))
	}
}

// Finish writes the last records and the verdict, and returns the first store
// error of the run.
func (d *Run) Finish(ctx context.Context, sum engine.Summary) error {
	d.stopFlusher()
	if d.log != nil {
		// The verdict counts only what the journal holds: a run whose results
		// could not all be recorded never claims them.
		after := d.beforeSync()
		if err := d.log.Sync(); err == nil {
			if after != nil {
				after()
			}
		} else {
			d.fail(fmt.Errorf("maptask: execution %q: %w", d.id, err))
			sum.Success = false
			if sum.Cause == nil {
				sum.Cause = err
			}
		}
	}
	if d.id != "" {
		if err := d.journal.Checkpoint(context.WithoutCancel(ctx)); err != nil { // only a faster resume depends on it
			d.warn(fmt.Sprintf("maptask: execution %s: writing its checkpoint: %v", d.id, err))
		}
		v := store.Verdict{Outcome: "succeeded", Required: sum.Required, Succeeded: sum.Succeeded,
			Failed: sum.Failed, Skipped: sum.NotRun, Cached: sum.Cached, Time: time.Now().UTC()}
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
