package maptask

import (
	"context"
	"errors"
	"sync"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/engine"
	"github.com/maptask/maptask/store"
)

// Control changes a map while it runs: its concurrency bound and the
// successes it requires. Pass it to Map with WithControl and call its methods
// from any goroutine while Map runs. The zero value is ready to use; a
// Control serves one map at a time.
//
// A lower bound launches nothing new until fewer elements than it run
// (running elements finish); a higher one launches at once, on every backend
// (the Kubernetes backend patches its Jobs' parallelism, Slurm's the arrays'
// throttle). A changed bar decides the early stop again. In a durable map
// (Execution) each change is recorded in the execution, so that maptask
// status shows it and a resumed run keeps it; `maptask update ID` makes the
// same changes from another process.
type Control struct {
	mu  sync.Mutex
	run changer // the map running now; nil when none
}

// changer is the running map's side of a Control.
type changer interface {
	change(store.Change) (store.ChangeResult, error)
}

// ErrNotRunning is returned by a Control's methods when no map uses it.
var ErrNotRunning = errors.New("maptask: Control: no map is running with it")

// WithControl lets c change the map while it runs.
func WithControl(c *Control) MapOption {
	return func(m *mapConfig) { m.control = c }
}

// SetConcurrency changes the map's concurrency bound; 0 means unbounded (on
// a backend that pays a process per element, as many as the machine allows).
func (c *Control) SetConcurrency(n int) error {
	return c.change(store.Change{Concurrency: &n})
}

// SetMinSuccesses makes the map need n successes from now on. A bar above
// the number of elements, or above what can still succeed, is refused and
// nothing changes.
func (c *Control) SetMinSuccesses(n int) error {
	return c.change(store.Change{MinSuccesses: &n})
}

// SetMinSuccessRatio makes the map need ceil(r × n) successes from now on
// (see MinSuccessRatio).
func (c *Control) SetMinSuccessRatio(r float64) error {
	return c.change(store.Change{MinSuccessRatio: &r})
}

func (c *Control) change(ch store.Change) error {
	c.mu.Lock()
	run := c.run
	c.mu.Unlock()
	if run == nil {
		return ErrNotRunning
	}
	ch.By = "library"
	res, err := run.change(ch)
	if err != nil {
		return err
	}
	if !res.Applied {
		return errors.New(res.Error)
	}
	return nil
}

// attach makes c serve r until the returned function is called.
func (c *Control) attach(r changer) (detach func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	c.run = r
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.run = nil
		c.mu.Unlock()
	}
}

// change applies ch through the Control: checked, applied, and recorded in
// the execution when the map is durable.
func (r *mapRun[In, Out]) change(ch store.Change) (store.ChangeResult, error) {
	if err := ch.Check(-1); err != nil {
		return store.ChangeResult{}, err
	}
	if r.dur == nil {
		return r.apply(ch), nil
	}
	return r.dur.Change(context.Background(), ch, func() store.ChangeResult { return r.apply(ch) })
}

// apply applies ch to the running engine: the one way a change reaches a
// map, whether it came from a Control or through the store (maptask update).
func (r *mapRun[In, Out]) apply(ch store.Change) store.ChangeResult {
	var res store.ChangeResult
	err := ch.Check(-1) // the engine refuses a bar the map cannot take, in its own words
	if err == nil {
		var ec engine.Change
		if ch.Concurrency != nil {
			// As at the start: unbounded on a backend that pays a process per
			// element means as many as the machine allows.
			c := backend.EffectiveConcurrency(r.backend, *ch.Concurrency)
			ec.Concurrency = &c
		}
		switch {
		case ch.MinSuccesses != nil:
			k := *ch.MinSuccesses
			ec.Required = func(int) int { return k }
		case ch.MinSuccessRatio != nil:
			ratio := *ch.MinSuccessRatio
			ec.Required = func(n int) int { return engine.RatioRequired(ratio, n) }
		}
		err = r.eng.Update(ec)
	}
	res.Applied = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	limits, _ := r.eng.Limits()
	res.Concurrency, res.Required = limits.Concurrency, r.eng.Required()
	return res
}
