package maptask

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/maptask/maptask/internal/commit"
	"github.com/maptask/maptask/internal/engine"
)

// Permanent marks err as final: the element fails without spending its
// remaining retries. errors.Is and errors.As see through it to err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (p *permanentError) Error() string   { return p.err.Error() }
func (p *permanentError) Unwrap() error   { return p.err }
func (p *permanentError) Permanent() bool { return true }

// PanicError is the error of an attempt whose task panicked. The panic does not
// escape: the element fails (and may be retried) like any other failure.
type PanicError struct {
	Value any    // what the task panicked with
	Stack []byte // the panicking goroutine's stack
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("maptask: task panicked: %v\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// call runs fn, turning a panic into a *PanicError.
func call[In, Out any](ctx context.Context, fn func(context.Context, In) (Out, error), in In) (out Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, in)
}

// MapError is returned by Map with the results when the map did not reach its
// verdict: fewer than the required elements succeeded, or the run was cancelled.
// Use errors.As to get it; errors.Is(err, context.Canceled) works through it.
type MapError struct {
	Task      string
	Total     int           // elements in the map
	Required  int           // successes the map needed
	Succeeded int           // successes it got, cached ones included
	Failures  map[int]error // every element that did not succeed, by index (failed, or not run)
	Cause     error         // why it stopped early, if it did: an early stop, the caller's context, a backend failure
}

func (e *MapError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "maptask: map %q: %d of %d elements succeeded, %d required", e.Task, e.Succeeded, e.Total, e.Required)
	if e.Cause != nil {
		fmt.Fprintf(&b, " (%v)", e.Cause)
	}
	idx := make([]int, 0, len(e.Failures))
	for i := range e.Failures {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for n, i := range idx {
		if n == 3 {
			fmt.Fprintf(&b, "; and %d more", len(idx)-3)
			break
		}
		msg := "no error recorded"
		if err := e.Failures[i]; err != nil { // a MapError built by hand may hold nil
			msg = err.Error()
		}
		if nl := strings.IndexByte(msg, '\n'); nl >= 0 {
			msg = msg[:nl]
		}
		fmt.Fprintf(&b, "; element %d: %s", i, msg)
	}
	return b.String()
}

// Unwrap returns the cause of an early stop, if any.
func (e *MapError) Unwrap() error { return e.Cause }

// ErrStopped is the cause of a map that stopped early because the required
// number of successes had become impossible. errors.Is(err, ErrStopped) reports it.
var ErrStopped = engine.ErrStopped

// ErrNotRun is the error of an element that never finished because the map
// stopped first (early stop or cancellation).
var ErrNotRun = engine.ErrNotRun

// ErrNotRecorded is the cause of a map stopped because its results could not
// be written to the store (after retries): what ran but was not recorded runs
// again when the execution is resumed. errors.Is(err, ErrNotRecorded) reports it.
var ErrNotRecorded = commit.ErrNotRecorded
