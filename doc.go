// Package maptask maps a task over a list of inputs with a concurrency limit,
// failure tolerance, per-element retries and timeouts, caching and durable,
// resumable executions: Flyte's map tasks, for Go, on goroutines, local
// processes, Kubernetes Indexed Jobs or Slurm job arrays, behind one engine.
//
//	var square = maptask.NewTask("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	}, maptask.Retries(2), maptask.Timeout(time.Minute))
//
//	res, err := maptask.Map(ctx, square, []int{1, 2, 3},
//		maptask.Concurrency(10), maptask.MinSuccessRatio(0.75))
//
// # Tasks
//
// A Task is a typed function registered under a unique name (NewTask, at
// package level), with its per-element options: Retries, Timeout, Cache,
// Resources, Image, Interruptible. The name is how a worker process finds the
// function again. A BoundTask (NewBoundTask, then Bind) also takes one shared
// value, encoded once per map. Call runs a task once, directly.
//
// # Maps and elements
//
// Map runs a task over a slice, MapSeq over an iter.Seq whose elements start
// as they arrive. Each input is an element; Map returns one Result per element
// in input order (Value, Err, Attempts, Cached, Duration), and never nil
// Results: empty when the map refused to start. MapOptions apply to the map
// as a whole: Concurrency bounds the elements in flight on any backend (0 is
// unbounded), Progress and Logger report, OnResult hands over each result as
// its element becomes final, Backend picks where elements run.
//
// # Attempts
//
// An element runs as attempts. An attempt ends succeeded; failed (the task
// returned an error or panicked, see PanicError); timed out; or lost (the
// system lost it: a killed worker, an evicted pod). Failures and timeouts
// spend the task's Retries; lost attempts spend a separate budget
// (SystemRetries), so infrastructure trouble never eats a user's retries.
// Permanent(err) fails an element at once, without retrying.
// AttemptFromContext tells a task which attempt it is running, and
// LogFromContext and ErrorLogFromContext give it logs kept with the attempt.
//
// # The verdict
//
// A map needs required = ceil(MinSuccessRatio × n) successes of its n
// elements, or MinSuccesses(k) directly (one or the other, not both); by
// default every element must succeed. The moment success becomes impossible
// (succeeded + unfinished < required) the map stops: running elements are
// cancelled, nothing more starts, unfinished elements get ErrNotRun, and the
// error, a *MapError, wraps ErrStopped. A map that does not reach its verdict
// returns its results together with the *MapError: computed values are never
// thrown away. Reaching required early does not stop the map; with RunAll,
// neither does missing it: every element runs, and the verdict is the same.
//
// # Backends
//
// A backend (package backend) only launches attempts and reports how they
// ended; one engine owns every rule above, so the semantics are the same on
// all of them. The default runs elements as goroutines of this program;
// backend/process, backend/kubernetes and backend/slurm run them in other
// processes, and backend/backendtest is the conformance suite each passes.
//
// # Durable executions and the store
//
// Execution(id) makes a map durable: its inputs, every element's attempts,
// outcome, output and log, and the verdict are kept in a store (package
// store), and calling Map again with the same id resumes it: succeeded
// elements are not recomputed; a different task, input list or bound value
// under the same id is refused. The store is a local directory by default
// ($MAPTASK_STORE, else the user's cache directory), or any URL given to
// StoreURL: file://, mem://, and s3:// after a blank import of its driver,
// which links the AWS SDK and so is opt-in:
//
//	import _ "github.com/maptask/maptask/store/s3"
//
// A map on a remote backend is always durable: workers read their inputs from
// the store and write their outcomes back.
//
// # Caching
//
// With Cache(version), an element whose (task name, version, bound value,
// input) was computed before, in any execution in the same store, is not run
// again: its stored output comes back with Result.Cached set. Change the
// version when the task's code changes its results.
//
// # Init and workers
//
// A backend other than the in-process one runs this same program as its
// worker: call Init first thing in main. In a process a backend started, Init
// runs the elements it was given and exits; elsewhere it returns at once.
// Without Init, every worker would run main and start a map of its own; in a
// process started as a worker, Map without Init says so and exits instead
// (worker.ExitNoInit), which fails the whole map at once.
package maptask
