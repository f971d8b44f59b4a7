package engine

import (
	"math"
	"time"
)

// The engine keeps every element's record packed: a map of ten million
// elements must cost little more than its values. Most elements end as they
// began, succeeded in one attempt with no error, so what every element has
// (state, attempts, duration) lives in fixed-size arrays, 6 bytes an element,
// and what few have (an error, failures, losses, an unusual exit code or
// attempt count, a duration over 4 s) moves the whole record into ext, a map
// of the elements that need it.

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

// Bits of a packed element's meta byte.
const (
	mState  = 0x07 // the State
	mCached = 0x08
	mExt    = 0x10 // the record (but State and Cached) is in ext
	mNoExit = 0x20 // ExitCode -1 (no process ran); else 0, or in ext
	mBatch  = 0x40 // running in a counted batch of several attempts: see running
	mOwned  = 0x80 // running in a batch whose slot its worker frees (Exchange)
)

// chunk holds the packed records of chunkSize consecutive elements. Chunks
// never move, so that a streaming map grows without copying its records.
type chunk struct {
	meta  [chunkSize]uint8
	att   [chunkSize]uint8  // Attempts, when the record is not in ext
	dur   [chunkSize]uint32 // Duration in ns, when the record is not in ext
	final int               // elements in a final state (Succeeded or Failed)
}

// records are the elements of a map. Its methods need the engine's lock.
type records struct {
	chunks []*chunk // nil once forgotten (Config.Forget): every element final
	ext    map[int]*Element
	forget bool
	// notRun is the error of every NotRun element, set when Run ends, so
	// that elements left unrun need no record of their own.
	notRun error
}

func (r *records) grow(n int) {
	for len(r.chunks)<<chunkBits < n {
		r.chunks = append(r.chunks, new(chunk))
	}
}

// state returns element i's state; cheap.
func (r *records) state(i int) State {
	c := r.chunks[i>>chunkBits]
	if c == nil {
		return r.forgotten(i).State
	}
	return State(c.meta[i&chunkMask] & mState)
}

// meta returns element i's meta byte and chunk; nil for a forgotten chunk.
func (r *records) meta(i int) (*chunk, uint8) {
	c := r.chunks[i>>chunkBits]
	if c == nil {
		return nil, 0
	}
	return c, c.meta[i&chunkMask]
}

// load returns element i's record.
func (r *records) load(i int) Element {
	c := r.chunks[i>>chunkBits]
	if c == nil {
		return r.forgotten(i)
	}
	k := i & chunkMask
	m := c.meta[k]
	var el Element
	if m&mExt != 0 {
		el = *r.ext[i]
	} else {
		el = Element{Attempts: int(c.att[k]), Duration: time.Duration(c.dur[k])}
		if m&mNoExit != 0 {
			el.ExitCode = -1
		}
	}
	el.State, el.Cached = State(m&mState), m&mCached != 0
	if el.State == NotRun {
		el.Err = r.notRun
	}
	return el
}

// forgotten is the record of an element whose chunk was forgotten: a
// failure kept its record in ext; anything else succeeded.
func (r *records) forgotten(i int) Element {
	if x, ok := r.ext[i]; ok {
		return *x
	}
	return Element{State: Succeeded}
}

// store sets element i's record; a running one keeps its batch bits.
func (r *records) store(i int, el Element) {
	c, k := r.chunks[i>>chunkBits], i&chunkMask
	old := c.meta[k]
	m := uint8(el.State)
	if el.State == Running {
		m |= old & (mBatch | mOwned)
	}
	if el.Cached {
		m |= mCached
	}
	if final(State(old&mState)) != final(el.State) {
		c.final++ // final states are never left
	}
	packed := old&mExt == 0 && el.Err == nil && el.UserFails == 0 && el.Lost == 0 &&
		(el.ExitCode == 0 || el.ExitCode == -1) && el.Attempts >= 0 && el.Attempts <= math.MaxUint8 &&
		el.Duration >= 0 && el.Duration <= math.MaxUint32
	if packed {
		if el.ExitCode == -1 {
			m |= mNoExit
		}
		c.att[k], c.dur[k] = uint8(el.Attempts), uint32(el.Duration)
	} else {
		m |= mExt // once there, a record stays: few ever go
		x := r.ext[i]
		if x == nil {
			if r.ext == nil {
				r.ext = map[int]*Element{}
			}
			x = new(Element)
			r.ext[i] = x
		}
		*x = el
	}
	c.meta[k] = m
	if r.forget && c.final == chunkSize {
		r.drop(i >> chunkBits)
	}
}

// setBits sets the running-batch bits of element i to bits.
func (r *records) setBits(i int, bits uint8) {
	c, k := r.chunks[i>>chunkBits], i&chunkMask
	c.meta[k] = c.meta[k]&^(mBatch|mOwned) | bits
}

// drop forgets chunk ci, all of whose elements are final: failures keep
// their record in ext, successes nothing.
func (r *records) drop(ci int) {
	c := r.chunks[ci]
	for k, m := range c.meta {
		if State(m&mState) == Failed {
			i := ci<<chunkBits | k
			el := r.load(i)
			if r.ext == nil {
				r.ext = map[int]*Element{}
			}
			r.ext[i] = &el
		} else if m&mExt != 0 {
			delete(r.ext, ci<<chunkBits|k)
		}
	}
	r.chunks[ci] = nil
}

func final(s State) bool { return s == Succeeded || s == Failed }
