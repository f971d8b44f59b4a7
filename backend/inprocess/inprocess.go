// Package inprocess runs a map's elements as goroutines of the calling process:
// the embedded default backend, with no encoding, no I/O and no processes.
package inprocess

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/maptask/maptask/backend"
)

// Backend runs attempts as goroutines. The zero value is ready to use; it is
// stateless and safe to share between concurrent maps.
//
// A task that ignores its context cannot be stopped in-process: a timeout or a
// cancellation is seen only when the task returns. Use a process or cluster
// backend for tasks that must be killed.
type Backend struct{}

var _ backend.Backend = Backend{}

// New returns the in-process backend.
func New() Backend { return Backend{} }

// Name implements backend.Backend.
func (Backend) Name() string { return "inprocess" }

// errVanished is the error of an attempt whose goroutine exited without returning.
var errVanished = errors.New("maptask: task goroutine exited without returning (runtime.Goexit)")

// Run implements backend.Backend. With a concurrency bound it keeps that many
// goroutines pulling attempts (no goroutine per element), more when the bound
// is raised while the map runs; unbounded, it starts a goroutine per attempt.
func (b Backend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	if job.Invoker == nil {
		return errors.New("task cannot run in this process (no invoker)")
	}
	worker := func() {
		for {
			a, ok := q.Next()
			if !ok {
				return
			}
			attempt(ctx, job, q, a)
		}
	}
	perAttempt := func() {
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			a, ok := q.Next()
			if !ok {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				attempt(ctx, job, q, a)
			}()
		}
	}
	backend.Workers(q, job.Concurrency, worker, perAttempt)
	return nil
}

// attempt runs a and reports it, also when the task's goroutine exits under it.
func attempt(ctx context.Context, job *backend.Job, q backend.Queue, a backend.Attempt) {
	actx, cancel := ctx, context.CancelFunc(nil)
	if job.Timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, job.Timeout)
	}
	start := time.Now()
	returned := false
	defer func() {
		if cancel != nil {
			cancel()
		}
		if !returned { // runtime.Goexit: the attempt vanished
			q.Report(backend.Outcome{Attempt: a, Status: backend.Lost, Err: errVanished, Duration: time.Since(start), ExitCode: -1})
		}
	}()
	err := job.Invoker.Invoke(actx, a)
	returned = true
	status, permanent := backend.Classify(ctx, actx, err)
	if status == backend.TimedOut {
		err = &backend.TimedOutError{After: job.Timeout}
	}
	q.Report(backend.Outcome{Attempt: a, Status: status, Err: err, Permanent: permanent, Duration: time.Since(start), ExitCode: -1})
}
