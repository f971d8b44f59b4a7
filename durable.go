package maptask

import (
	"context"
	"errors"
	"fmt"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/durable"
)

// The stored side of a map (the execution's spec, journal, lease, cancel
// polling and verdict, and the cache) is internal/durable; what it cannot do
// without the map's types is here: encoding and decoding values with the
// map's codec, and reporting to OnResult only what the journal holds.

// ErrCancelled is the cause of a map stopped by a cancel request made through
// the store (maptask cancel ID, or store.SetCancel), from another process.
var ErrCancelled = errors.New("maptask: execution cancelled by request")

// openDurable opens the store of a map that has an execution id or a cached
// task.
func openDurable[In, Out any](ctx context.Context, r *mapRun[In, Out]) (*durable.Run, error) {
	cfg := durable.Config{
		ID: r.cfg.execution, StoreURL: r.cfg.storeURL, Task: r.task.name, Version: r.task.meta.cacheVersion,
		Codec: r.cfg.codec.Name(), Labels: r.cfg.labels, N: r.n, Known: r.slice != nil,
		Logger: r.cfg.logger, Engine: r.eng, Values: r, Apply: r.apply,
	}
	if r.feed != nil {
		// An element is reported once the sync that records it has returned.
		cfg.BeforeSync = func() func() {
			ready := r.feed.take()
			if len(ready) == 0 {
				return nil
			}
			return func() { r.feed.deliver(ready) }
		}
	}
	d, err := durable.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if r.task.hasBound {
		b, err := r.cfg.codec.Marshal(r.task.bound)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("maptask: encoding the bound value of task %q: %w", r.task.name, err)
		}
		d.SetBound(b)
	}
	return d, nil
}

// EncodeInput implements durable.Values.
func (r *mapRun[In, Out]) EncodeInput(i int) ([]byte, error) {
	return r.cfg.codec.Marshal(r.inputs.get(i))
}

// EncodeOutput implements durable.Values.
func (r *mapRun[In, Out]) EncodeOutput(i int) ([]byte, error) {
	return r.cfg.codec.Marshal(r.values.get(i))
}

// SetOutput implements durable.Values.
func (r *mapRun[In, Out]) SetOutput(i int, data []byte) error {
	var out Out
	if err := r.cfg.codec.Unmarshal(data, &out); err != nil {
		return err
	}
	r.values.set(i, out)
	return nil
}

// KeepOutput implements durable.Values: the value is decoded when first
// read (Results.At, or OnResult reporting it); one that does not decode reads
// as the zero value with an error naming the element, and the map runs.
func (r *mapRun[In, Out]) KeepOutput(i int, data []byte) error {
	if r.values.stored == nil {
		r.values.keepEncoded(func(b []byte, v *Out) error { return r.cfg.codec.Unmarshal(b, v) }, func(i int, err error) error {
			return fmt.Errorf("maptask: execution %q: decoding the stored output of element %d: %w", r.cfg.execution, i, err)
		})
	}
	r.values.keep(i, data)
	return nil
}

var (
	_ backend.Invoker = (*mapRun[int, int])(nil)
	_ durable.Values  = (*mapRun[int, int])(nil)
)
