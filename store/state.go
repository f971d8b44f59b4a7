package store

// State is an execution's journal merged into one entry per element, as
// LoadRecords merges it, kept in columns rather than as a []Record: a
// million elements take about 50 bytes each (plus their outputs) instead of
// a Record's 130, and a State read from a checkpoint points into the bytes
// it was read from. LoadState returns one; a JournalWriter keeps one up to
// date as it writes (Track), from which Checkpoint writes the execution's
// checkpoint.
//
// A State is not safe for concurrent use; its accessors only read.
type State struct {
	n         int
	flags     []uint8 // status code | flag bits, as the checkpoint stores them
	attempts  []int
	durations []int64
	times     []int64
	outcomes  []uint8 // outcome codes; outcomeOther: the word is in rare
	exits     []int   // exit codes where flagExit is set; nil until one is
	rare      map[int]rareFields
	outs      [][]byte // nil when the outputs were not loaded
	arena     []byte   // free space for outputs copied in (Track)

	// cover is what of the journal the State holds: bytes merged, by key
	// relative to the journal's prefix (writer/seq.jsonl).
	cover map[string]int64
	// checkpointed: read from a checkpoint, and nothing merged since, so the
	// checkpoint in the store says the same.
	checkpointed   bool
	fromCheckpoint bool
}

// rareFields are the parts of a record most elements do not have.
type rareFields struct {
	err     string
	outcome Outcome // a word this maptask does not know (outcomeOther)
}

// The low bits of a flags byte: the element's status.
const (
	codeNone uint8 = iota
	codeRunning
	codeSucceeded
	codeFailed
	codeSkipped
	statusMask uint8 = 0x07
)

// The other bits of a flags byte.
const (
	flagCached    uint8 = 0x08
	flagPermanent uint8 = 0x10
	flagExit      uint8 = 0x20 // the record has an exit code
	flagErr       uint8 = 0x40 // the record has an error message
	flagOutput    uint8 = 0x80 // the record has an output (possibly empty)
)

// Outcome codes.
const (
	outcomeNone uint8 = iota
	outcomeSucceeded
	outcomeFailed
	outcomeTimedOut
	outcomeLost
	outcomeCancelled
	outcomeOther uint8 = 0xff // the word is in rare
)

var statusOfCode = [...]Status{codeNone: "", codeRunning: StatusRunning, codeSucceeded: StatusSucceeded, codeFailed: StatusFailed, codeSkipped: StatusSkipped}

var outcomeOfCode = [...]Outcome{outcomeNone: "", outcomeSucceeded: OutcomeSucceeded, outcomeFailed: OutcomeFailed,
	outcomeTimedOut: OutcomeTimedOut, outcomeLost: OutcomeLost, outcomeCancelled: OutcomeCancelled}

func codeOfStatus(s Status) uint8 {
	switch s {
	case StatusRunning:
		return codeRunning
	case StatusSucceeded:
		return codeSucceeded
	case StatusFailed:
		return codeFailed
	case StatusSkipped:
		return codeSkipped
	}
	return codeNone
}

func codeOfOutcome(o Outcome) uint8 {
	for c, w := range outcomeOfCode {
		if w == o {
			return uint8(c)
		}
	}
	return outcomeOther
}

// newState returns the State of an empty journal of n elements, with room
// for outputs when outputs is true.
func newState(n int, outputs bool) *State {
	st := &State{
		n:         n,
		flags:     make([]uint8, n),
		attempts:  make([]int, n),
		durations: make([]int64, n),
		times:     make([]int64, n),
		outcomes:  make([]uint8, n),
		cover:     map[string]int64{},
	}
	if outputs {
		st.outs = make([][]byte, n)
	}
	return st
}

// Len returns the number of elements.
func (st *State) Len() int { return st.n }

// Status returns element i's status: "" when the journal has no record of
// it.
func (st *State) Status(i int) Status { return statusOfCode[st.flags[i]&statusMask] }

// Output returns element i's encoded output: nil when it has none, or when
// the State was loaded without outputs. The bytes must not be changed.
func (st *State) Output(i int) []byte {
	if st.outs == nil {
		return nil
	}
	return st.outs[i]
}

// Record returns element i's record, as LoadRecords returns it (Index is i;
// a zero Record but for Index when there is none).
func (st *State) Record(i int) Record {
	f := st.flags[i]
	r := Record{Index: i, Status: statusOfCode[f&statusMask]}
	if r.Status == "" {
		return r
	}
	r.Attempts, r.DurationNS, r.Time = st.attempts[i], st.durations[i], st.times[i]
	r.Cached, r.Permanent = f&flagCached != 0, f&flagPermanent != 0
	if f&flagExit != 0 {
		x := st.exits[i]
		r.ExitCode = &x
	}
	if c := st.outcomes[i]; c == outcomeOther {
		r.Outcome = st.rare[i].outcome
	} else {
		r.Outcome = outcomeOfCode[c]
	}
	if f&flagErr != 0 {
		r.Err = st.rare[i].err
	}
	r.Output = st.Output(i)
	return r
}

// Counts are an execution's elements by the status of their latest record.
type Counts struct {
	Succeeded int `json:"succeeded"`
	Cached    int `json:"cached"` // succeeded from the cache, among Succeeded
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	Running   int `json:"running"` // latest record says an attempt started
	None      int `json:"none"`    // no record at all
}

// Counts counts the elements by status.
func (st *State) Counts() Counts {
	var by [8]int
	cached := 0
	for _, f := range st.flags {
		by[f&statusMask]++
		if f&(statusMask|flagCached) == codeSucceeded|flagCached {
			cached++
		}
	}
	return Counts{Succeeded: by[codeSucceeded], Cached: cached, Failed: by[codeFailed], Skipped: by[codeSkipped],
		Running: by[codeRunning], None: by[codeNone]}
}

// FromCheckpoint reports whether the State was read from the execution's
// checkpoint (then completed with the journal written after it), rather
// than from the whole journal.
func (st *State) FromCheckpoint() bool { return st.fromCheckpoint }

// wins reports whether r, read after what the State holds of its element,
// replaces it: the rule of LoadRecords (see the function wins).
func (st *State) wins(r *Record) bool {
	c := st.flags[r.Index] & statusMask
	if c == codeNone {
		return true
	}
	if rs, cs := r.Status == StatusSucceeded, c == codeSucceeded; rs != cs {
		return rs
	}
	return r.Time >= st.times[r.Index]
}

// merge merges r, read after everything the State holds, into it. The
// State keeps r.Output as it is, unless copyOutput: then it copies it.
func (st *State) merge(r *Record, copyOutput bool) {
	if !st.wins(r) {
		return
	}
	i := r.Index
	f := codeOfStatus(r.Status)
	if r.Cached {
		f |= flagCached
	}
	if r.Permanent {
		f |= flagPermanent
	}
	if r.ExitCode != nil {
		f |= flagExit
		if st.exits == nil {
			st.exits = make([]int, st.n)
		}
		st.exits[i] = *r.ExitCode
	}
	oc := codeOfOutcome(r.Outcome)
	if r.Err != "" || oc == outcomeOther {
		if st.rare == nil {
			st.rare = map[int]rareFields{}
		}
		var rf rareFields
		if r.Err != "" {
			f |= flagErr
			rf.err = r.Err
		}
		if oc == outcomeOther {
			rf.outcome = r.Outcome
		}
		st.rare[i] = rf
	} else if st.rare != nil && (st.flags[i]&flagErr != 0 || st.outcomes[i] == outcomeOther) {
		delete(st.rare, i)
	}
	if r.Output != nil {
		f |= flagOutput
	}
	st.flags[i] = f
	st.attempts[i], st.durations[i], st.times[i], st.outcomes[i] = r.Attempts, r.DurationNS, r.Time, oc
	if st.outs != nil {
		out := r.Output
		if copyOutput && out != nil {
			out = st.copyOut(out)
		}
		st.outs[i] = out
	}
	st.checkpointed = false
}

// copyOut copies an output into the State's own memory, a few allocations
// for many small outputs.
func (st *State) copyOut(b []byte) []byte {
	if len(b) > 1024 {
		return append([]byte{}, b...)
	}
	if len(st.arena) < len(b) {
		st.arena = make([]byte, 64<<10)
	}
	out := st.arena[:len(b):len(b)]
	copy(out, b)
	st.arena = st.arena[len(b):]
	return out
}
