// Package commit is the journal's group commit: a durable map adds a record
// for every attempt that starts and every element that finishes, and makes
// them durable before a slot of the concurrency bound is used again, so a
// driver killed at any moment recomputes at most the elements that were in
// flight (handed out: a slot's batch of short in-process attempts). Records added while a commit is being written go together into the
// next one, so the number of writes adapts to the store's latency rather than
// growing with the number of elements.
//
// A failed write is retried with backoff for a bounded time; then the log
// fails for good, says how many finished elements were not recorded, and
// refuses every later Sync, so the map launches nothing more.
package commit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/maptask/maptask/store"
)

// ErrNotRecorded is wrapped by the log's error once it failed for good.
var ErrNotRecorded = errors.New("cannot record results")

// Appender makes records durable; one call is one commit.
type Appender interface {
	Append(ctx context.Context, recs []store.Record) error
}

// Policy bounds the retries of a failed commit.
type Policy struct {
	RetryFor   time.Duration // give up after this long; 0 means 2 minutes
	TryTimeout time.Duration // one write's own deadline; 0 means 30 seconds
	FirstWait  time.Duration // wait before the first retry, doubling up to 5 s; 0 means 50 ms
}

// Log collects records and commits them in groups.
type Log struct {
	app    Appender
	policy Policy
	onFail func(error)

	mu        sync.Mutex
	cond      sync.Cond
	pending   []store.Record
	spare     []store.Record
	added     uint64 // records added so far
	committed uint64 // records known durable (or given up on)
	writing   bool   // a Sync is writing a commit
	err       error  // the log failed for good

	// tryCtx bounds writes: one context serves every write for half of
	// TryTimeout, so a commit does not pay for a timer of its own.
	tryCtx    context.Context
	tryCancel context.CancelFunc
	tryUntil  time.Time
}

// New returns a log writing through app. onFail, if set, is called once when
// the log fails for good.
func New(app Appender, p Policy, onFail func(error)) *Log {
	if p.RetryFor <= 0 {
		p.RetryFor = 2 * time.Minute
	}
	if p.TryTimeout <= 0 {
		p.TryTimeout = 30 * time.Second
	}
	if p.FirstWait <= 0 {
		p.FirstWait = 50 * time.Millisecond
	}
	l := &Log{app: app, policy: p, onFail: onFail}
	l.cond.L = &l.mu
	return l
}

// Add queues rec for the next commit. It does not wait.
func (l *Log) Add(rec store.Record) {
	l.mu.Lock()
	l.pending = append(l.pending, rec)
	l.added++
	l.mu.Unlock()
}

// Sync returns once every record added before the call is durable, writing
// the commit itself when no other Sync is (the caller that finds the log idle
// leads; the others wait for it). It returns the log's error once it failed.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	target := l.added
	for {
		if l.err != nil {
			return l.err
		}
		if l.committed >= target {
			return nil
		}
		if l.writing {
			l.cond.Wait()
			continue
		}
		recs := l.pending
		upto := l.added
		l.pending, l.spare = l.spare[:0], nil
		l.writing = true
		l.mu.Unlock()
		err := l.write(recs)
		unrecorded := 0
		if err != nil {
			unrecorded = finished(recs)
		}
		clear(recs) // drop the outputs they hold
		l.mu.Lock()
		l.writing = false
		l.spare = recs[:0]
		if err != nil && l.err == nil {
			lost := unrecorded + finished(l.pending)
			l.err = fmt.Errorf("%w: %w; %d finished elements will run again on resume", ErrNotRecorded, err, lost)
			if l.onFail != nil {
				go l.onFail(l.err)
			}
		}
		l.committed = upto
		l.cond.Broadcast()
	}
}

// finished counts the records of elements that reached a final state.
func finished(recs []store.Record) int {
	n := 0
	for _, r := range recs {
		if r.Status == store.StatusSucceeded || r.Status == store.StatusFailed {
			n++
		}
	}
	return n
}

// write appends recs, retrying with backoff within the policy.
func (l *Log) write(recs []store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var deadline time.Time
	wait := l.policy.FirstWait
	for {
		err := l.app.Append(l.tryContext(), recs)
		if err == nil {
			return nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(l.policy.RetryFor)
			if local(err) {
				// A full or read-only disk rarely heals by itself within
				// minutes: say so soon, and let resume go on later.
				deadline = time.Now().Add(min(l.policy.RetryFor, 5*time.Second))
			}
		}
		if errors.Is(err, store.ErrCorrupt) || time.Now().Add(wait).After(deadline) {
			return err // refused for good, or out of time
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// local reports whether err is this machine's disk refusing the write.
func local(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EACCES} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// tryContext returns a context with at least half of TryTimeout left. Only
// the Sync that writes calls it.
func (l *Log) tryContext() context.Context {
	if now := time.Now(); l.tryCtx == nil || now.After(l.tryUntil) {
		if l.tryCancel != nil {
			l.tryCancel()
		}
		l.tryCtx, l.tryCancel = context.WithTimeout(context.Background(), l.policy.TryTimeout)
		l.tryUntil = now.Add(l.policy.TryTimeout / 2)
	}
	return l.tryCtx
}

// Err returns the log's error, once it failed for good.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
