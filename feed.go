package maptask

import (
	"fmt"
	"sync"

	"github.com/maptask/maptask/internal/engine"
)

// feed hands finished elements to the map's OnResult function, one call at a
// time. In a durable execution an element waits in pending until the journal
// sync that records it has returned (see openDurable's BeforeSync).
type feed[Out any] struct {
	fn     func(int, Result[Out])
	values *chunked[Out]
	gated  bool // durable: deliver only what the store holds
	drop   bool // DiscardResults: a value is dropped once delivered

	mu      sync.Mutex
	pending []finishedElement

	call sync.Mutex // one call of fn at a time
}

type finishedElement struct {
	index int
	el    engine.Element
}

// newFeed returns the feed for cfg's OnResult, nil when there is none, or an
// error when OnResult's function does not take this map's output type.
func newFeed[Out any](cfg *mapConfig, values *chunked[Out]) (*feed[Out], error) {
	if cfg.onResult == nil {
		return nil, nil
	}
	fn, ok := cfg.onResult.(func(int, Result[Out]))
	if !ok {
		var zero Out
		return nil, fmt.Errorf("maptask: OnResult: the function takes %T, but the task's results are maptask.Result[%T]", cfg.onResult, zero)
	}
	return &feed[Out]{fn: fn, values: values, drop: cfg.discard}, nil
}

// finished reports element i's final state: at once, or once recorded.
func (f *feed[Out]) finished(i int, el engine.Element) {
	if !f.gated {
		f.deliver([]finishedElement{{i, el}})
		return
	}
	f.mu.Lock()
	f.pending = append(f.pending, finishedElement{i, el})
	f.mu.Unlock()
}

// take returns the elements waiting for a sync. Whatever it returns was
// journaled before the call, so a sync started after it covers them.
func (f *feed[Out]) take() []finishedElement {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pending
	f.pending = nil
	return p
}

func (f *feed[Out]) deliver(list []finishedElement) {
	if f == nil || len(list) == 0 {
		return
	}
	f.call.Lock()
	defer f.call.Unlock()
	for k := range list {
		f.deliverLocked(list[k].index, &list[k].el)
	}
}

// finishedEvents reports the elements a batch finished (its EventFinished
// events; others are skipped) under one lock: at once, or once recorded.
func (f *feed[Out]) finishedEvents(evs []engine.Event) {
	if f.gated {
		f.mu.Lock()
		for k := range evs {
			if evs[k].Kind == engine.EventFinished {
				f.pending = append(f.pending, finishedElement{evs[k].Attempt.Index, evs[k].Element})
			}
		}
		f.mu.Unlock()
		return
	}
	f.call.Lock()
	defer f.call.Unlock()
	for k := range evs {
		if evs[k].Kind == engine.EventFinished {
			f.deliverLocked(evs[k].Attempt.Index, &evs[k].Element)
		}
	}
}

// deliverLocked calls fn with element i's result; f.call is held.
func (f *feed[Out]) deliverLocked(i int, el *engine.Element) {
	res := Result[Out]{Err: el.Err, Attempts: el.Attempts, Cached: el.Cached, Duration: el.Duration}
	if el.State == engine.Succeeded {
		res.Value = f.values.get(i)
		if err := f.values.err(i); err != nil { // a stored output that does not decode
			res.Err = err
		}
	}
	f.fn(i, res)
	if f.drop {
		f.values.done(i)
	}
}
