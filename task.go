package maptask

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/codec"
	"github.com/maptask/maptask/internal/registry"
)

// Task is a typed function that Map runs over a list of inputs: Flyte's task,
// with its metadata (retries, timeout, cache version, resources) attached.
//
// A Task is immutable; WithOverrides returns a changed copy. It is safe to use
// from many goroutines and many maps at once.
type Task[In, Out any] struct {
	name string
	fn   func(context.Context, In) (Out, error)
	meta taskMeta
	// bound is the value a BoundTask was bound to, encoded once per map. hasBound
	// tells nil-able bound values apart from no bound value.
	bound    any
	hasBound bool
}

// taskMeta is Flyte's TaskMetadata plus resource overrides; it applies to each
// element, not to the map as a whole.
type taskMeta struct {
	retries       int
	timeout       time.Duration
	cacheVersion  string
	interruptible bool
	resources     ResourceSpec
	image         string
	err           error // the first invalid option, reported by Map before anything runs
}

// TaskOption sets a task's metadata. Options apply to each element of a map.
type TaskOption func(*taskMeta)

// Retries lets each element fail n times (errors, panics, non-zero exits,
// timeouts) before it fails for good: up to n+1 attempts. Attempts lost by the
// system (a killed worker, an evicted pod) do not count; see SystemRetries.
func Retries(n int) TaskOption {
	return func(m *taskMeta) {
		if n < 0 {
			m.setErr(fmt.Errorf("maptask: Retries %d: must be >= 0", n))
		}
		m.retries = n
	}
}

// Timeout bounds each attempt of each element; 0 means no bound. A timed-out
// attempt spends a retry. In-process, the task sees it as its context's deadline.
func Timeout(d time.Duration) TaskOption {
	return func(m *taskMeta) {
		if d < 0 {
			m.setErr(fmt.Errorf("maptask: Timeout %v: must be >= 0", d))
		}
		m.timeout = d
	}
}

// Cache turns on result caching under version: an element whose (task name,
// version, bound value, input) was computed before, in any execution, is not run
// again; its stored output is returned with Result.Cached set. Change the version
// when the task's code changes its results.
func Cache(version string) TaskOption {
	return func(m *taskMeta) {
		if version == "" {
			m.setErr(fmt.Errorf("maptask: Cache version is empty"))
		}
		m.cacheVersion = version
	}
}

// Interruptible marks elements as safe to run on preemptible capacity (spot
// nodes, preemptible partitions). Cluster backends map it to their own mechanism;
// a preempted attempt spends the system budget, not a retry.
func Interruptible() TaskOption { return func(m *taskMeta) { m.interruptible = true } }

// ResourceList is an amount of each resource, in Kubernetes quantity syntax
// ("500m", "2", "1.5Gi"). Empty fields are unset.
type ResourceList struct {
	CPU    string
	Memory string
	GPU    string
}

// ResourceSpec is what each element requests and at most may use.
type ResourceSpec struct {
	Requests ResourceList
	Limits   ResourceList
}

func (r ResourceSpec) backend() backend.Resources {
	return backend.Resources{CPU: r.Requests.CPU, Memory: r.Requests.Memory, GPU: r.Requests.GPU,
		LimitCPU: r.Limits.CPU, LimitMemory: r.Limits.Memory, LimitGPU: r.Limits.GPU}
}

// Resources sets each element's resource requests and limits, used by cluster
// backends (Kubernetes requests/limits, Slurm --cpus-per-task/--mem/--gres). The
// in-process backend ignores them.
func Resources(r ResourceSpec) TaskOption {
	return func(m *taskMeta) {
		for _, q := range []struct{ field, v string }{
			{"Requests.CPU", r.Requests.CPU}, {"Requests.Memory", r.Requests.Memory}, {"Requests.GPU", r.Requests.GPU},
			{"Limits.CPU", r.Limits.CPU}, {"Limits.Memory", r.Limits.Memory}, {"Limits.GPU", r.Limits.GPU},
		} {
			if _, _, _, ok := backend.ParseQuantity(q.v); q.v != "" && !ok {
				m.setErr(fmt.Errorf("maptask: Resources %s %q: not a quantity (like \"500m\", \"2\" or \"1Gi\")", q.field, q.v))
			}
		}
		m.resources = r
	}
}

// Image names the container image cluster backends run the task in.
func Image(ref string) TaskOption { return func(m *taskMeta) { m.image = ref } }

func (m *taskMeta) setErr(err error) {
	if m.err == nil {
		m.err = err
	}
}

// NewTask creates a task and registers it under name, so that a worker process
// resolves the name to this function. Call it at package level (var x =
// maptask.NewTask(...)) so every run of the program registers the same tasks.
// It panics if name is empty or already registered.
func NewTask[In, Out any](name string, fn func(context.Context, In) (Out, error), opts ...TaskOption) *Task[In, Out] {
	if fn == nil {
		panic(fmt.Sprintf("maptask: NewTask %q: nil function", name))
	}
	t := &Task[In, Out]{name: name, fn: fn}
	for _, o := range opts {
		o(&t.meta)
	}
	registry.Register(entry[In, Out]{name: name, run: func(any) func(context.Context, In) (Out, error) { return fn }})
	return t
}

// Name returns the name the task is registered under.
func (t *Task[In, Out]) Name() string { return t.name }

// WithOverrides returns a copy of t with opts applied on top of its options,
// like Flyte's with_overrides. The copy runs the same registered function.
func (t *Task[In, Out]) WithOverrides(opts ...TaskOption) *Task[In, Out] {
	c := *t
	for _, o := range opts {
		o(&c.meta)
	}
	return &c
}

// BoundTask is a task that takes a shared value B (a model, a configuration, a
// lookup table) besides each element, like functools.partial over a Flyte task.
// Bind it to a value to get a Task to Map. The bound value is encoded once per
// map (for the store, the cache key and remote workers), never once per element.
type BoundTask[B, In, Out any] struct {
	name string
	fn   func(context.Context, B, In) (Out, error)
	meta taskMeta
}

// NewBoundTask creates and registers a task that takes a bound value; see
// BoundTask. It panics if name is empty or already registered.
func NewBoundTask[B, In, Out any](name string, fn func(context.Context, B, In) (Out, error), opts ...TaskOption) *BoundTask[B, In, Out] {
	if fn == nil {
		panic(fmt.Sprintf("maptask: NewBoundTask %q: nil function", name))
	}
	t := &BoundTask[B, In, Out]{name: name, fn: fn}
	for _, o := range opts {
		o(&t.meta)
	}
	registry.Register(entry[In, Out]{name: name, bound: true, decodeBound: func(c codec.Codec, data []byte) (any, error) {
		var b B
		err := c.Unmarshal(data, &b)
		return b, err
	}, run: func(b any) func(context.Context, In) (Out, error) {
		bv := b.(B)
		return func(ctx context.Context, in In) (Out, error) { return fn(ctx, bv, in) }
	}})
	return t
}

// Bind returns a Task that calls the bound task with b and each element.
func (t *BoundTask[B, In, Out]) Bind(b B) *Task[In, Out] {
	return &Task[In, Out]{
		name:     t.name,
		fn:       func(ctx context.Context, in In) (Out, error) { return t.fn(ctx, b, in) },
		meta:     t.meta,
		bound:    b,
		hasBound: true,
	}
}

// entry is how the registry sees a task: it decodes inputs and the bound value
// and encodes outputs with the map's codec.
type entry[In, Out any] struct {
	name        string
	bound       bool
	decodeBound func(codec.Codec, []byte) (any, error)
	run         func(bound any) func(context.Context, In) (Out, error)
}

func (e entry[In, Out]) Name() string { return e.name }

func (e entry[In, Out]) NewRunner(c codec.Codec, bound []byte) (registry.Runner, error) {
	var b any
	if e.bound {
		if bound == nil {
			return nil, fmt.Errorf("maptask: task %q takes a bound value and none was stored", e.name)
		}
		var err error
		if b, err = e.decodeBound(c, bound); err != nil {
			return nil, fmt.Errorf("maptask: task %q: decoding bound value: %w", e.name, err)
		}
	}
	fn := e.run(b)
	return func(ctx context.Context, a backend.Attempt, log, errLog io.Writer, input []byte) ([]byte, error) {
		ctx = &attemptContext{Context: ctx, a: a, log: log, errLog: errLog}
		var in In
		if err := c.Unmarshal(input, &in); err != nil {
			return nil, Permanent(fmt.Errorf("maptask: task %q: decoding input: %w", e.name, err))
		}
		out, err := call(ctx, fn, in)
		if err != nil {
			return nil, err
		}
		data, err := c.Marshal(out)
		if err != nil {
			return nil, Permanent(fmt.Errorf("maptask: task %q: encoding output: %w", e.name, err))
		}
		return data, nil
	}, nil
}

// Call runs the task once on in, in this process, with the task's timeout and
// panic handling but without retries or any store: for tests, and for calling a
// task from ordinary code.
func (t *Task[In, Out]) Call(ctx context.Context, in In) (Out, error) {
	if t.meta.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.meta.timeout)
		defer cancel()
	}
	return call(ctx, t.fn, in)
}

// Name returns the name the task is registered under.
func (t *BoundTask[B, In, Out]) Name() string { return t.name }
