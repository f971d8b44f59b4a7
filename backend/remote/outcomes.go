package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/store"
)

// Journal is what a remote backend reads of the store: the records one
// worker journaled (its writer name), or every worker whose name starts with
// prefix. *store.Store implements it.
type Journal interface {
	ReadJournal(ctx context.Context, id, writer string) ([]store.Record, error)
	ReadJournals(ctx context.Context, id, prefix string) ([]store.Record, error)
}

var _ Journal = (*store.Store)(nil)

// How says how a worker ended, in the terms of the protocol. A backend maps
// what its platform says (a wait status, a Slurm state, a pod's) to one of
// these; Outcomes decides from it alone.
type How uint8

const (
	// Exited: the worker exited by itself with Exit.Code. (A shell's
	// 128+signal for a killed child is Killed: the backend that runs one knows.)
	Exited How = iota
	// Killed: a signal ended it (Exit.Signal), before it finished.
	Killed
	// TimedOut: the platform or the driver ended it at its time limit.
	TimedOut
	// OutOfMemory: it was killed for exceeding its memory limit.
	OutOfMemory
	// Vanished: the platform lost it (a failed node, a preemption, a deleted
	// pod, a job the scheduler forgot, a cancel by someone else).
	Vanished
)

// Exit is how one worker ended, as its backend learnt it.
type Exit struct {
	How    How
	Code   int    // its exit status; -1 when unknown or killed
	Signal int    // with Killed: the signal, when known
	Where  string // the worker, for messages: "worker process", "slurm array task 12_3", "pod x"
	Detail string // the platform's word for how it ended ("NODE_FAIL", "Evicted"; with OutOfMemory, the limit)
	// Output is what the worker printed (or the platform's message): its last
	// line is quoted in errors.
	Output []byte
	// Duration is the time the attempt it was running gets, when known.
	Duration time.Duration
	// Limit is the time limit a TimedOut worker reached, for the message.
	Limit time.Duration
}

// Batch is everything Outcomes decides from: the attempts one worker was
// given, what its journal holds, and how it ended.
type Batch struct {
	Attempts []backend.Attempt
	Records  []store.Record // what the worker (and earlier workers of the same attempts) journaled
	ReadErr  error          // reading them failed: nothing counts as recorded
	Exit     Exit
	// Stopped is non-nil when the map was stopped (a cancel, an early
	// verdict): attempts the worker did not record are Cancelled with it.
	Stopped error
	// Adopted: the worker was started by an earlier driver, which numbered
	// attempts its own way: a record of any attempt of the element counts.
	// Since then drops the failures it recorded before this driver started
	// (unix ns; the engine counted them already); 0 keeps all.
	Adopted bool
	Since   int64
	// NotStarted: the platform says no worker ever started for these
	// attempts (a pod that never ran, an array task still pending when it
	// was cancelled): with Stopped, each unrecorded attempt is Unstarted, so
	// that an element that never ran shows no attempt.
	NotStarted bool
	// Retried: the platform retries a worker by itself (Kubernetes'
	// backoffLimitPerIndex). The failures of an element before its latest
	// record are spent user retries (Outcome.PriorFailures).
	Retried bool
}

// Outcomes returns the outcome of each attempt of b, in order; it is pure.
//
// An attempt the worker journaled ends as its latest record says (see
// Recorded); a record saying cancelled while the map was not stopped is lost
// (its worker was stopped by someone else). Of the others (see Settle): when
// the map was stopped they are Cancelled; the first is the one the worker was
// running, which ends as the worker did (see Ended); the rest never started.
func Outcomes(b Batch) []backend.Outcome {
	latest := make(map[int]int, len(b.Attempts)) // element -> index in b.Records of the record that counts
	prior := map[int]int{}                       // element -> failures before it, for Retried
	min := make(map[int]int, len(b.Attempts))
	for _, a := range b.Attempts {
		if !b.Adopted {
			min[a.Index] = a.Number
		}
	}
	if b.ReadErr == nil {
		for k, rec := range b.Records {
			from, ok := min[rec.Index]
			if !ok && !b.Adopted || rec.Attempts < from ||
				b.Adopted && rec.Time < b.Since && rec.Status != store.StatusSucceeded {
				continue
			}
			if cur, ok := latest[rec.Index]; !ok || rec.Time >= b.Records[cur].Time {
				latest[rec.Index] = k
			}
		}
		if b.Retried {
			for k, rec := range b.Records {
				if l, ok := latest[rec.Index]; ok && k != l && rec.Attempts >= min[rec.Index] && rec.Outcome.Spends() &&
					!(b.Adopted && rec.Time < b.Since) {
					prior[rec.Index]++
				}
			}
		}
	}
	recorded := func(a backend.Attempt) (backend.Outcome, bool) {
		k, ok := latest[a.Index]
		if !ok {
			return backend.Outcome{}, false
		}
		rec := b.Records[k]
		o := Recorded(backend.Attempt{Index: a.Index, Number: max(a.Number, rec.Attempts)}, rec)
		o.PriorFailures = prior[a.Index]
		if o.ExitCode < 0 {
			o.ExitCode = b.Exit.Code
		}
		if o.Status == backend.Cancelled && b.Stopped == nil {
			o.Status, o.Err = backend.Lost, fmt.Errorf("%s was stopped before finishing element %d", b.Exit.Where, a.Index)
		}
		return o, true
	}
	ended := func(a backend.Attempt) (backend.Outcome, bool) { return Ended(b.Exit, b.ReadErr, a) }
	out := Settle(b.Attempts, recorded, b.Stopped, ended)
	if b.NotStarted && b.Stopped != nil {
		for k := range out {
			if !out[k].Recorded {
				out[k].Unstarted = true
			}
		}
	}
	return out
}

// Ended is the outcome of attempt a, which a worker was running when it
// ended as e without recording it; every says that each attempt of its batch
// gets the same (the worker could not run the map at all).
func Ended(e Exit, readErr error, a backend.Attempt) (o backend.Outcome, every bool) {
	o = backend.Outcome{Attempt: a, Duration: e.Duration, ExitCode: e.Code}
	last := Tail(e.Output)
	switch {
	case readErr != nil:
		o.Status, o.Err = backend.Lost, fmt.Errorf("reading the outcomes of %s: %w", e.Where, readErr)
	case e.How == TimedOut:
		// One "timed out", in the words the worker uses; errors.Is
		// context.DeadlineExceeded holds without saying so again.
		msg := e.Where + " timed out (killed at its time limit)"
		if e.Limit > 0 {
			msg = fmt.Sprintf("%s timed out after %v (killed at its time limit)", e.Where, e.Limit)
		}
		o.Status, o.Err = backend.TimedOut, timedOut(msg+last)
	case e.How == OutOfMemory:
		detail := ""
		if e.Detail != "" {
			detail = " (" + e.Detail + ")"
		}
		o.Status, o.Err = backend.Failed, fmt.Errorf("%s ran out of memory%s%s", e.Where, detail, last)
	case e.How == Vanished:
		o.Status, o.Err = backend.Lost, fmt.Errorf("%s ended (%s) before finishing element %d%s", e.Where, e.Detail, a.Index, last)
	case e.How == Killed:
		o.Status, o.Err = backend.Lost, fmt.Errorf("%s was killed by signal %d%s", e.Where, e.Signal, last)
	case e.Code == ExitStopped:
		o.Status, o.Err = backend.Lost, fmt.Errorf("%s was stopped by SIGTERM before finishing%s", e.Where, last)
	case CannotRun(e.Code):
		o.Status, o.Permanent = backend.Failed, true
		o.Err = fmt.Errorf("%s exited with status %d%s", e.Where, e.Code, last)
		return o, true
	case e.Code != 0:
		o.Status, o.Err = backend.Failed, fmt.Errorf("%s exited with status %d%s", e.Where, e.Code, last)
	default:
		o.Status, o.Err = backend.Lost, fmt.Errorf("%s exited without recording an outcome", e.Where)
	}
	return o, false
}

// Recorded is the outcome of attempt a from the journal record its worker
// wrote.
func Recorded(a backend.Attempt, rec store.Record) backend.Outcome {
	o := backend.Outcome{Attempt: a, Duration: time.Duration(rec.DurationNS), ExitCode: -1, Recorded: true, Permanent: rec.Permanent}
	if rec.ExitCode != nil {
		o.ExitCode = *rec.ExitCode
	}
	status, ok := rec.Outcome.Status()
	if !ok {
		status = backend.Failed // a word this maptask does not know
	}
	o.Status = status
	switch status {
	case backend.Succeeded:
		o.Output = rec.Output
	case backend.TimedOut:
		o.Err = timedOut(rec.Err) // "timed out after 2s", as the worker said
	default:
		o.Err = errors.New(rec.Err)
		if rec.ExitCode != nil {
			o.Err = &exitedError{msg: rec.Err, code: *rec.ExitCode}
		}
	}
	return o
}

// exitedError is a failure its worker recorded with the task's exit status
// (a command's): the driver sees ExitCode as on the local backend.
type exitedError struct {
	msg  string
	code int
}

func (e *exitedError) Error() string { return e.msg }

// ExitCode returns the exit status the worker recorded.
func (e *exitedError) ExitCode() int { return e.code }

// Report hands the outcomes of b to q. A worker that exited with ExitNoInit
// halts the map first: every worker would do the same.
func Report(q backend.Queue, b Batch, program string) {
	if b.Exit.How == Exited && b.Exit.Code == ExitNoInit {
		q.Halt(NoInitError(program))
	}
	for _, o := range Outcomes(b) {
		q.Report(o)
	}
}

// Tail quotes the last line of a worker's output in an error message:
// ": line", or "" when it printed nothing.
func Tail(out []byte) string {
	if line := logbuf.LastLine(out); line != "" {
		return ": " + line
	}
	return ""
}

// First returns a, or b when a is empty.
func First(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// OpenStore opens the store the workers of job write to, for a backend to
// read their journal (as a Journal) and keep their output; close it when the
// run ends. name is the backend's, for the error of a map that is not a
// durable execution.
func OpenStore(ctx context.Context, name string, job *backend.Job) (*store.Store, error) {
	if job.Execution == "" || job.StoreURL == "" {
		return nil, fmt.Errorf("the %s backend needs a durable execution (an execution id and a store)", name)
	}
	return store.Open(ctx, job.StoreURL)
}

// timedOut is a timeout recorded by a worker, in its words; it wraps
// context.DeadlineExceeded.
type timedOut string

func (e timedOut) Error() string { return string(e) }
func (e timedOut) Unwrap() error { return context.DeadlineExceeded }
