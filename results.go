package maptask

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maptask/maptask/internal/engine"
)

// Result is what became of one element.
type Result[Out any] struct {
	Value    Out           // the task's output; the zero value unless the element succeeded
	Err      error         // nil when the element succeeded
	Attempts int           // attempts started, across runs of a durable execution
	Cached   bool          // the value came from the cache or an earlier run, not from running the task now
	Duration time.Duration // time spent running the element, all attempts together (in-process attempts under ~20µs share one clock read per 64: each gets their average)
}

// Results holds a map's per-element results, in input order. It is returned
// also when the map fails, so no computed value is lost. Map and MapSeq never
// return a nil *Results: when they refuse to run (invalid options, a store
// that cannot be opened), the results are empty (Len 0), so code that reads
// them before checking the error does not panic. The zero Results is empty.
type Results[Out any] struct {
	values *chunked[Out]
	eng    *engine.Engine // its records no longer change: read without its lock
	n      int
	// discarded: DiscardResults kept no values, and of elements that
	// succeeded not even their attempts and durations.
	discarded bool
}

// DiscardResults makes the map keep no element's result once the element is
// final: use OnResult to see each result as its element finishes. Memory then
// stays flat in the number of elements, also for MapSeq over a sequence of
// any length: inputs, values and records are dropped as elements finish, but
// a byte for every 4096 elements and the errors of the failed ones. The
// Results that Map returns say only whether each element succeeded, and the
// error of those that did not (as MapError does): values are the zero value.
func DiscardResults() MapOption { return func(c *mapConfig) { c.discard = true } }

// Len returns the number of elements: 0 when the map did not start.
func (r *Results[Out]) Len() int { return r.n }

// At returns the result of element i. It panics when i is not in [0, Len()),
// as indexing a slice does.
//
// The values a resumed execution reads back from its store (the elements
// that succeeded in earlier runs) are decoded when first read, a few
// thousand at a time: an element whose stored output cannot be decoded
// reads as the zero value, with an Err saying why.
func (r *Results[Out]) At(i int) Result[Out] {
	if uint(i) >= uint(r.n) {
		panic(fmt.Sprintf("maptask: Results.At: index %d out of range [0, %d)", i, r.n))
	}
	el := r.eng.Final(i)
	res := Result[Out]{Err: el.Err, Attempts: el.Attempts, Cached: el.Cached, Duration: el.Duration}
	if el.State == engine.Succeeded && !r.discarded {
		res.Value = r.values.get(i)
		res.Err = r.values.err(i)
	}
	return res
}

// All iterates over the results in input order.
func (r *Results[Out]) All() iter.Seq2[int, Result[Out]] {
	return func(yield func(int, Result[Out]) bool) {
		for i := range r.n {
			if !yield(i, r.At(i)) {
				return
			}
		}
	}
}

// Values returns every element's value in input order (the zero value for
// elements that did not succeed, and for those whose stored output could not
// be decoded: see At).
func (r *Results[Out]) Values() []Out {
	out := make([]Out, r.n)
	if r.discarded {
		return out
	}
	for i := range r.n {
		if r.eng.FinalState(i) == engine.Succeeded {
			out[i] = r.values.get(i)
		}
	}
	return out
}

// Succeeded returns how many elements succeeded, cached ones included.
func (r *Results[Out]) Succeeded() int {
	n := 0
	for i := range r.n {
		if r.eng.FinalState(i) == engine.Succeeded {
			n++
		}
	}
	return n
}

// orEmpty makes a nil *Results empty, for the paths that return before a map
// starts: callers always get results they can read.
func orEmpty[Out any](res *Results[Out], err error) (*Results[Out], error) {
	if res == nil {
		res = &Results[Out]{}
	}
	return res, err
}

// chunked is a slice that can grow while other goroutines read and write the
// elements already in it: elements live in fixed chunks that never move, and
// the list of chunks is replaced (copy on write) when it grows. A chunk can
// be dropped once none of its elements is needed any more (done).
//
// It may also hold elements still encoded (keep), as a resumed execution
// reads them from its store: get decodes them, a chunk at a time, the first
// time it reads one of the chunk's elements.
type chunked[T any] struct {
	chunks atomic.Pointer[[]*chunkOf[T]]
	stored *stored[T] // set before any goroutine but the one that made it reads; nil when nothing is kept encoded
}

type chunkOf[T any] struct {
	data []T
	size int32        // len(data), which done cannot read once another may drop it
	done atomic.Int32 // elements no longer needed; at size data is dropped
}

// stored holds the encoded elements of a chunked slice, by chunk.
type stored[T any] struct {
	decode func([]byte, *T) error
	wrap   func(i int, err error) error // describes a decoding error of element i
	once   []sync.Once
	raw    [][][]byte      // by chunk, then element; nil where nothing is kept; only read under its once
	errs   []map[int]error // by chunk: elements that did not decode; written under its once
}

// keepEncoded readies c to hold elements encoded (keep): decode decodes
// one, and wrap describes element i's error when it cannot. Only the
// goroutine that made c may call it, before any other reads c.
func (c *chunked[T]) keepEncoded(decode func([]byte, *T) error, wrap func(int, error) error) {
	k := len(*c.chunks.Load())
	c.stored = &stored[T]{decode: decode, wrap: wrap, once: make([]sync.Once, k), raw: make([][][]byte, k), errs: make([]map[int]error, k)}
}

// keep holds data, encoded, as element i, to be decoded when first read,
// after keepEncoded, by the same goroutine, before any other reads c.
func (c *chunked[T]) keep(i int, data []byte) {
	s := c.stored
	k := i >> chunkBits
	if s.raw[k] == nil {
		s.raw[k] = make([][]byte, 1<<chunkBits)
	}
	if data == nil {
		data = []byte{} // kept, even if empty
	}
	s.raw[k][i&(1<<chunkBits-1)] = data
}

// load decodes the kept elements of chunk k, once.
func (c *chunked[T]) load(k int) {
	s := c.stored
	if k >= len(s.once) {
		return
	}
	s.once[k].Do(func() {
		base := k << chunkBits
		for j, data := range s.raw[k] {
			if data == nil {
				continue
			}
			var v T
			if err := s.decode(data, &v); err != nil {
				if s.errs[k] == nil {
					s.errs[k] = map[int]error{}
				}
				s.errs[k][base+j] = s.wrap(base+j, err)
				continue
			}
			c.set(base+j, v)
		}
		s.raw[k] = nil
	})
}

// err returns why element i, kept encoded, could not be decoded; nil when
// it was, or was never kept.
func (c *chunked[T]) err(i int) error {
	if c.stored == nil {
		return nil
	}
	c.load(i >> chunkBits)
	return c.stored.errs[i>>chunkBits][i]
}

const chunkBits = 12

// newChunked views s as a chunked slice without copying it.
func newChunked[T any](s []T) *chunked[T] {
	c := &chunked[T]{}
	list := make([]*chunkOf[T], 0, (len(s)>>chunkBits)+1)
	for lo := 0; lo < len(s); lo += 1 << chunkBits {
		hi := min(lo+1<<chunkBits, len(s))
		list = append(list, &chunkOf[T]{data: s[lo:hi:hi], size: int32(hi - lo)})
	}
	c.chunks.Store(&list)
	return c
}

// newChunkedN is a chunked slice of n zero values, each chunk allocated on
// its own, so that dropping one frees it.
func newChunkedN[T any](n int) *chunked[T] {
	c := newChunked[T](nil)
	if n > 0 {
		c.grow(n - 1)
	}
	return c
}

func (c *chunked[T]) get(i int) T {
	if c.stored != nil {
		c.load(i >> chunkBits)
	}
	return (*c.chunks.Load())[i>>chunkBits].data[i&(1<<chunkBits-1)]
}

func (c *chunked[T]) set(i int, v T) { (*c.chunks.Load())[i>>chunkBits].data[i&(1<<chunkBits-1)] = v }

// grow makes index i addressable. Only one goroutine may call it.
func (c *chunked[T]) grow(i int) {
	list := *c.chunks.Load()
	if i>>chunkBits < len(list) {
		return
	}
	next := list[:len(list):len(list)]
	for i>>chunkBits >= len(next) {
		next = append(next, &chunkOf[T]{data: make([]T, 1<<chunkBits), size: 1 << chunkBits})
	}
	c.chunks.Store(&next)
}

// done says element i is no longer needed; once every element of its chunk
// is, the chunk is dropped. Call it once per element, after its last use:
// the atomic count orders every use before the drop.
func (c *chunked[T]) done(i int) {
	ch := (*c.chunks.Load())[i>>chunkBits]
	if ch.done.Add(1) == ch.size {
		ch.data = nil
	}
}
