package console

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/maptask/maptask/store"
)

// Element states as the grid carries them: one byte per element.
const (
	stPending   byte = iota // no record yet
	stRunning               // an attempt started, not finished
	stSucceeded             // succeeded by running
	stCached                // succeeded from the cache
	stFailed                // failed for good
	stNotRun                // skipped, or unfinished when the run ended
)

var stateNames = [...]string{"waiting", "running", "succeeded", "cached", "failed", "not run"}

// failure is what the console keeps of a failed element beside its state.
type failure struct {
	err       string
	exit      *int
	permanent bool
	outcome   string
}

// execState is what the console knows of one execution: built from its journal
// read incrementally (store.JournalTail), its verdict and its cancel request.
// mu guards everything below it.
type execState struct {
	id string

	mu          sync.Mutex
	spec        *store.Spec
	command     string
	tail        *store.JournalTail
	state       []byte  // per element, st*
	times       []int64 // per element, Time of its winning record (the merge rule's tiebreak)
	attempts    []uint16
	durMS       []uint32 // per element, duration of its finished attempt
	failures    map[int]failure
	refs        []lineRef         // where each element's first two journal records are: 2 per element
	nrefs       []uint8           // how many of the two are set
	more        map[int][]lineRef // the records of an element after its first two
	keys        []string          // the journal objects lineRef.key numbers
	keyNum      map[string]uint32 // and their numbers
	verdict     *store.Verdict
	cancel      bool                // a cancel request is in the store
	changes     []store.ChangeEntry // made while it ran (maptask update), with their answers
	changesRead bool
	err         string // why the last refresh failed, "" when it did not
	warns       []string
	version     uint64    // bumped on every change
	last        time.Time // when it was last refreshed
	lastRec     int64     // the latest Time of a journal record (unix ns)
	// replaced: the execution was deleted and created again under its id
	// (another spec, maybe another number of elements); this state is for
	// the old one, and the server makes a new one (Server.current).
	replaced bool
}

// lineRef is a store.RecordRef in 16 bytes: an element's records are read
// back from their places for its page, instead of the whole journal.
type lineRef struct {
	key uint32 // in execState.keys
	len uint32
	off int64
}

// summary is one execution as the list and the execution page show it.
type summary struct {
	ID        string    `json:"id"`
	Task      string    `json:"task"`
	Command   string    `json:"command"`
	Backend   string    `json:"backend"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated,omitzero"` // last journal record or verdict
	N         int       `json:"n"`
	Succeeded int       `json:"succeeded"` // cached included
	Cached    int       `json:"cached"`
	Failed    int       `json:"failed"`
	Running   int       `json:"running"`
	Waiting   int       `json:"waiting"`
	NotRun    int       `json:"not_run"`
	Outcome   string    `json:"outcome"` // "" before any verdict
	Required  int       `json:"required"`
	// RequiredFrom says where Required comes from: "verdict", "labels", or ""
	// when unknown (a library map before its verdict).
	RequiredFrom string `json:"required_from"`
	Cancelling   bool   `json:"cancelling"`
	// Concurrency is the bound the map runs with (0: unbounded), -1 when
	// unknown (a library map with no change made to it).
	Concurrency int                 `json:"concurrency"`
	Changes     []store.ChangeEntry `json:"changes,omitempty"`
	Live        bool                `json:"live"` // no verdict yet
	Error       string              `json:"error,omitempty"`
	Warnings    []string            `json:"warnings,omitempty"`
	Version     uint64              `json:"version"`
}

func newExecState(spec *store.Spec, command string) *execState {
	return &execState{id: spec.ID, spec: spec, command: command}
}

// allocate makes the per-element state, when the journal is first read.
func (e *execState) allocate() {
	if e.state != nil {
		return
	}
	n := e.spec.N
	e.state, e.times, e.attempts, e.durMS = make([]byte, n), make([]int64, n), make([]uint16, n), make([]uint32, n)
	e.refs, e.nrefs = make([]lineRef, 2*n), make([]uint8, n)
	e.failures, e.more, e.keyNum = map[int]failure{}, map[int][]lineRef{}, map[string]uint32{}
}

// loaded reports whether the journal was read: the per-element state exists.
func (e *execState) loaded() bool { return e.state != nil }

// reset forgets what the journal said, to read it again from the start.
func (e *execState) reset() {
	clear(e.state)
	clear(e.times)
	clear(e.attempts)
	clear(e.durMS)
	e.failures = map[int]failure{}
	clear(e.nrefs)
	e.lastRec = 0
	e.more = map[int][]lineRef{}
	e.keys, e.keyNum = nil, map[string]uint32{}
	e.tail = nil
}

func statusOf(st byte) store.Status {
	switch st {
	case stRunning:
		return store.StatusRunning
	case stSucceeded, stCached:
		return store.StatusSucceeded
	case stFailed:
		return store.StatusFailed
	case stNotRun:
		return store.StatusSkipped
	}
	return ""
}

// apply merges one journal record, by the store's rule (store.Wins), and
// keeps where it is.
func (e *execState) apply(r *store.Record, ref store.RecordRef) {
	i := r.Index
	k, ok := e.keyNum[ref.Key]
	if !ok {
		k = uint32(len(e.keys))
		e.keys = append(e.keys, ref.Key)
		e.keyNum[ref.Key] = k
	}
	lr := lineRef{key: k, len: uint32(ref.Length), off: ref.Offset}
	if n := e.nrefs[i]; n < 2 {
		e.refs[2*i+int(n)] = lr
		e.nrefs[i]++
	} else {
		e.more[i] = append(e.more[i], lr)
	}
	e.lastRec = max(e.lastRec, r.Time)
	cur := store.Record{Status: statusOf(e.state[i]), Time: e.times[i]}
	if !store.Wins(r, &cur) {
		return
	}
	var st byte
	switch r.Status {
	case store.StatusRunning:
		st = stRunning
	case store.StatusSucceeded:
		st = stSucceeded
		if r.Cached {
			st = stCached
		}
	case store.StatusFailed:
		st = stFailed
	case store.StatusSkipped:
		st = stNotRun
	}
	if e.state[i] == stFailed && st != stFailed {
		delete(e.failures, i)
	}
	e.state[i], e.times[i] = st, r.Time
	e.attempts[i] = uint16(min(r.Attempts, math.MaxUint16))
	e.durMS[i] = uint32(min(max(r.DurationNS/1e6, 0), math.MaxUint32))
	if st == stFailed {
		e.failures[i] = failure{err: r.Err, exit: r.ExitCode, permanent: r.Permanent, outcome: string(r.Outcome)}
	}
}

// refresh reads what the journal gained since the last refresh, the verdict
// and the cancel request: one listing of the journal, a ranged read of each
// segment that grew, one small read and one existence check.
func (e *execState) refresh(ctx context.Context, st *store.Store, stats *stats, full bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.replaced {
		return
	}
	defer func() { e.last = time.Now() }()
	fail := func(err error) {
		if msg := err.Error(); msg != e.err {
			e.err = msg
			e.version++
		}
	}
	changed := false
	// The verdict first: a run writes it after its journal, so the journal
	// read next holds every record the verdict counted.
	v, err := st.LoadVerdict(ctx, e.id)
	stats.smallReads.Add(1)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if e.verdict != nil {
			e.verdict, changed = nil, true // a new run started
		}
	case err != nil:
		fail(err)
		return
	default:
		if e.verdict == nil || *v != *e.verdict {
			e.verdict, changed = v, true
		}
	}
	if e.verdict != nil && e.tail == nil && !full {
		// Ended, and no page looks at its elements: its verdict says
		// enough, as for maptask ls, and its journal is not read.
		e.cancel = false
		if e.err != "" {
			e.err, changed = "", true
		}
		if changed {
			e.version++
		}
		return
	}
	if e.tail == nil {
		t, err := st.TailJournal(ctx, e.id)
		if err != nil {
			fail(err)
			return
		}
		if sp := t.Spec(); sp.N != e.spec.N || !sp.Created.Equal(e.spec.Created) || sp.Inputs != e.spec.Inputs {
			e.replaced = true
			fail(fmt.Errorf("execution %s was deleted and created again: reload the page", e.id))
			e.version++
			return
		}
		e.tail = t
		e.allocate()
		changed = true
	}
	read := e.tail.BytesRead()
	rep, err := e.tail.ReadRefs(ctx, func(r *store.Record, ref store.RecordRef) {
		e.apply(r, ref)
		changed = true
	})
	stats.journalBytes.Add(e.tail.BytesRead() - read)
	stats.listings.Add(1)
	stats.listed.Add(int64(rep.Objects))
	if err != nil {
		fail(err)
		return
	}
	if len(rep.Vanished) > 0 { // quarantined by a driver, or the execution deleted
		e.reset()
		e.version++
		if _, err := st.LoadSpec(ctx, e.id); errors.Is(err, store.ErrNotFound) {
			fail(fmt.Errorf("execution %s was deleted from the store", e.id))
		}
		return
	}
	for _, c := range rep.Corrupt {
		e.warns = append(e.warns, c.Error())
		changed = true
	}
	c := false
	if e.verdict == nil { // only a running map reads its cancel request
		c, err = st.Cancelled(ctx, e.id)
		stats.smallReads.Add(1)
		if err != nil {
			fail(err)
			return
		}
	}
	if c != e.cancel {
		e.cancel, changed = c, true
	}
	if e.verdict == nil || !e.changesRead { // changes come only while it runs
		ch, err := st.Changes(ctx, e.id, 0)
		stats.listings.Add(1)
		if err != nil {
			fail(err)
			return
		}
		if len(ch) != len(e.changes) || len(ch) > 0 && (ch[len(ch)-1].Result == nil) != (e.changes[len(ch)-1].Result == nil) {
			changed = true
		}
		e.changes, e.changesRead = ch, true
	}
	if e.err != "" {
		e.err, changed = "", true
	}
	if changed {
		e.version++
	}
}

// summaryLocked counts the elements, as `maptask status` does.
func (e *execState) summaryLocked() (s summary) {
	s = summary{ID: e.id, Task: e.spec.Task, Command: e.command, Backend: e.spec.Labels["cli.backend"], Created: e.spec.Created,
		N: e.spec.N, Cancelling: e.cancel, Error: e.err, Warnings: e.warns, Version: e.version, Concurrency: -1, Changes: e.changes}
	if c, err := strconv.Atoi(e.spec.Labels["cli.concurrency"]); err == nil {
		s.Concurrency = c
	}
	defer func() { // the last change applied says what the map runs with now
		for i := len(e.changes) - 1; i >= 0; i-- {
			if r := e.changes[i].Result; r != nil && r.Applied {
				s.Concurrency = r.Concurrency
				if s.Live && r.Required >= 0 {
					s.Required, s.RequiredFrom = r.Required, "change"
				}
				break
			}
		}
	}()
	if e.lastRec > 0 {
		s.Updated = time.Unix(0, e.lastRec)
	}
	if !e.loaded() {
		if v := e.verdict; v != nil { // counted from the verdict alone
			s.Succeeded, s.Cached, s.Failed, s.NotRun = v.Succeeded, v.Cached, v.Failed, v.Skipped
			s.Outcome, s.Required, s.RequiredFrom = v.Outcome, v.Required, "verdict"
			s.Updated = v.Time
		} else {
			s.Live, s.Waiting = true, e.spec.N
			s.Required, s.RequiredFrom = requiredFromLabels(e.spec)
		}
		return s
	}
	var count [6]int
	for _, st := range e.state {
		count[st]++
	}
	s.Succeeded = count[stSucceeded] + count[stCached]
	s.Cached = count[stCached]
	s.Failed = count[stFailed]
	s.NotRun = count[stNotRun]
	if e.verdict != nil {
		s.Outcome, s.Required, s.RequiredFrom = e.verdict.Outcome, e.verdict.Required, "verdict"
		s.NotRun += count[stPending] + count[stRunning] // the run ended without them
		s.Cancelling = false
		if e.verdict.Time.After(s.Updated) {
			s.Updated = e.verdict.Time
		}
	} else {
		s.Live = true
		s.Running, s.Waiting = count[stRunning], count[stPending]
		s.Required, s.RequiredFrom = requiredFromLabels(e.spec)
	}
	return s
}

// requiredFromLabels is the bar a CLI map recorded in its labels; 0, "" when
// there is none to read.
func requiredFromLabels(spec *store.Spec) (int, string) {
	if v, ok := spec.Labels["cli.min-successes"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return min(n, spec.N), "labels"
		}
	}
	if v, ok := spec.Labels["cli.ratio"]; ok {
		if r, err := strconv.ParseFloat(v, 64); err == nil && r > 0 && r <= 1 {
			return int(math.Ceil(r * float64(spec.N))), "labels"
		}
	}
	if _, ok := spec.Labels["cli.backend"]; ok { // a CLI map without a bar: all
		return spec.N, "labels"
	}
	return 0, ""
}

// refsLocked returns where element i's records are.
func (e *execState) refsLocked(i int) []store.RecordRef {
	refs := append(e.refs[2*i:2*i+int(e.nrefs[i]):2*i+int(e.nrefs[i])], e.more[i]...)
	out := make([]store.RecordRef, len(refs))
	for k, r := range refs {
		out[k] = store.RecordRef{Key: e.keys[r.key], Offset: r.off, Length: int(r.len)}
	}
	return out
}

// gridLocked returns the state of every element as the page draws it: once
// there is a verdict, unfinished elements did not run.
func (e *execState) gridLocked(dst []byte) []byte {
	dst = append(dst[:0], e.state...)
	if e.verdict != nil {
		for i, st := range dst {
			if st == stPending || st == stRunning {
				dst[i] = stNotRun
			}
		}
	}
	return dst
}

// histogram bins the durations of finished, non-cached elements: bins of equal
// width from 0 to the longest.
type histogram struct {
	MaxMS  uint32 `json:"max_ms"`
	Counts []int  `json:"counts"`
	N      int    `json:"n"`
}

func (e *execState) histogramLocked(bins int) histogram {
	var h histogram
	for i, st := range e.state {
		if (st == stSucceeded || st == stFailed) && e.durMS[i] > h.MaxMS {
			h.MaxMS = e.durMS[i]
		}
	}
	h.Counts = make([]int, bins)
	width := (float64(h.MaxMS) + 1) / float64(bins) // in float: MaxMS may be MaxUint32
	for i, st := range e.state {
		if st == stSucceeded || st == stFailed {
			b := min(int(float64(e.durMS[i])/width), bins-1)
			h.Counts[b]++
			h.N++
		}
	}
	return h
}

// timeline counts the elements that finished (in this execution's runs,
// not from the cache) in each of Bins equal spans of time from Start to End.
type timeline struct {
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
	Succeeded []int     `json:"succeeded"`
	Failed    []int     `json:"failed"`
}

func (e *execState) timelineLocked(bins int) timeline {
	first, last := int64(math.MaxInt64), int64(0)
	for i, st := range e.state {
		if (st == stSucceeded || st == stFailed) && e.times[i] > 0 {
			first, last = min(first, e.times[i]), max(last, e.times[i])
		}
	}
	t := timeline{Succeeded: make([]int, bins), Failed: make([]int, bins)}
	if last == 0 {
		return t
	}
	t.Start, t.End = time.Unix(0, first), time.Unix(0, last)
	width := float64(last-first+1) / float64(bins)
	for i, st := range e.state {
		if (st != stSucceeded && st != stFailed) || e.times[i] == 0 {
			continue
		}
		b := min(int(float64(e.times[i]-first)/width), bins-1)
		if st == stSucceeded {
			t.Succeeded[b]++
		} else {
			t.Failed[b]++
		}
	}
	return t
}

// failedLocked returns the failed elements' indices, in order, at most limit.
func (e *execState) failedLocked(limit int) []int {
	idx := make([]int, 0, min(len(e.failures), limit))
	for i := range e.failures {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	if len(idx) > limit {
		idx = idx[:limit]
	}
	return idx
}
