package store

import "encoding/binary"

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
	attempts  []int32 // bigAttempts holds those that do not fit
	durations []int64
	times     []int64
	outcomes  []uint8 // outcome codes; outcomeOther: the word is in rare
	exits     []int   // exit codes where flagExit is set; nil until one is
	rare      map[int]rareFields
	big       map[int]int // attempts that do not fit an int32 (a crafted journal's)
	// Outputs, when loaded: element i's is in blocks[outs[i]>>40], at
	// outs[i]&(1<<40-1), as a uvarint length and the bytes (the form of a
	// checkpoint's outputs section, which is block 0 of a State read from
	// one). Pointer-free references: a million outputs cost 8 MB, and
	// nothing for the garbage collector to scan.
	outs   []uint64 // nil when the outputs were not loaded
	blocks [][]byte
	arena  int // the block that takes new outputs; -1 before the first

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
		attempts:  make([]int32, n),
		durations: make([]int64, n),
		times:     make([]int64, n),
		outcomes:  make([]uint8, n),
		cover:     map[string]int64{},
	}
	if outputs {
		st.outs = make([]uint64, n)
		st.arena = -1
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
	if st.outs == nil || st.flags[i]&flagOutput == 0 {
		return nil
	}
	ref := st.outs[i]
	b := st.blocks[ref>>40][ref&(1<<40-1):]
	l, k := binary.Uvarint(b)
	return b[k : k+int(l) : k+int(l)]
}

// Attempts returns element i's attempts, as its record says.
func (st *State) Attempts(i int) int { return st.attempt(i) }

// DurationNS returns element i's duration in nanoseconds, as its record
// says.
func (st *State) DurationNS(i int) int64 { return st.durations[i] }

// attempt returns element i's attempts.
func (st *State) attempt(i int) int {
	if a, ok := st.big[i]; ok {
		return a
	}
	return int(st.attempts[i])
}

// Record returns element i's record, as LoadRecords returns it (Index is i;
// a zero Record but for Index when there is none).
func (st *State) Record(i int) Record {
	f := st.flags[i]
	r := Record{Index: i, Status: statusOfCode[f&statusMask]}
	if r.Status == "" {
		return r
	}
	r.Attempts, r.DurationNS, r.Time = st.attempt(i), st.durations[i], st.times[i]
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

// merge merges r, read after everything the State holds, into it. It
// copies r's output (when it keeps outputs).
func (st *State) merge(r *Record) {
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
	if r.Output != nil && st.outs != nil {
		f |= flagOutput
		st.outs[i] = st.keepOutput(r.Output)
	}
	st.flags[i] = f
	st.durations[i], st.times[i], st.outcomes[i] = r.DurationNS, r.Time, oc
	if a := r.Attempts; a == int(int32(a)) {
		st.attempts[i] = int32(a)
		if st.big != nil {
			delete(st.big, i)
		}
	} else {
		if st.big == nil {
			st.big = map[int]int{}
		}
		st.big[i] = a
	}
	st.checkpointed = false
}

// keepOutput copies an output into the State's blocks, and returns its
// reference.
func (st *State) keepOutput(b []byte) uint64 {
	need := binary.MaxVarintLen64 + len(b)
	if st.arena < 0 || cap(st.blocks[st.arena])-len(st.blocks[st.arena]) < need {
		st.blocks = append(st.blocks, make([]byte, 0, max(64<<10, need)))
		st.arena = len(st.blocks) - 1
	}
	blk := st.blocks[st.arena]
	ref := uint64(st.arena)<<40 | uint64(len(blk))
	blk = binary.AppendUvarint(blk, uint64(len(b)))
	st.blocks[st.arena] = append(blk, b...)
	return ref
}
