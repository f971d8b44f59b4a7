package store

// This file fixes the store's exported surface; the implementation lives beside it.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned (wrapped) when an execution, input or cache entry does not exist.
var ErrNotFound = errors.New("not found")

// ErrCorrupt is returned (wrapped, with the object's key) when a stored object cannot
// be parsed. Corrupt objects are never deleted or overwritten by the store.
var ErrCorrupt = errors.New("corrupt store object")

// ErrInputsMissing is returned (wrapped, with ErrCorrupt) by LoadSpec when the
// input index of an execution whose spec exists is missing: its inputs are
// gone, and its N cannot be checked.
var ErrInputsMissing = errors.New("inputs missing")

// ErrSymlink is returned (wrapped, with the link's path) when a local store
// meets a symbolic link below its root directory: it is never followed.
var ErrSymlink = errors.New("symbolic link inside the store")

// Spec describes an execution. It is written once, when the execution is created,
// and compared field by field when the execution is resumed.
type Spec struct {
	// Version is the schema the execution was created with: SpecVersion (2)
	// for every execution CreateExecution makes, whatever the caller sets;
	// 1 for executions written before versions existed (their spec has no
	// "version": LoadSpec returns 1). See the package doc for both layouts.
	Version      int    `json:"version,omitempty"`
	ID           string `json:"id"`
	Task         string `json:"task"`          // registered task name, or "command" for CLI maps
	CacheVersion string `json:"cache_version"` // "" when caching is off
	Codec        string `json:"codec"`
	N            int    `json:"n"`             // number of elements
	InputsDigest string `json:"inputs_digest"` // sha256 hex over the encoded inputs (see InputsDigest)
	// Inputs names the objects holding the inputs and bound value
	// (<Inputs>.data, .index, .bound). CreateExecution chooses it afresh each
	// time, so a creator that loses a race for the id never touches the
	// winner's inputs. Empty means the fixed names inputs.data, inputs.index, bound.
	Inputs      string    `json:"inputs,omitempty"`
	BoundDigest string    `json:"bound_digest"` // sha256 hex of the encoded bound value, "" when none
	Command     []string  `json:"command,omitempty"`
	Created     time.Time `json:"created"`
	// Labels are free-form facts a backend or the CLI records (backend name, options).
	Labels map[string]string `json:"labels,omitempty"`
}

// Status is the final or latest state of one element as recorded in the journal.
type Status string

const (
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"  // failed for good in the run that wrote it (retries spent, permanent, or lost too often)
	StatusSkipped   Status = "skipped" // never finished: the map stopped early or was cancelled
	// StatusRunning records that an attempt started: written before it runs,
	// so attempts are counted across a driver's crash. An element whose latest
	// record says running did not finish.
	StatusRunning Status = "running"
)

// Record is one journal entry: what became of an element in one run.
type Record struct {
	Index      int    `json:"i"`
	Status     Status `json:"s"`
	Attempts   int    `json:"a,omitempty"`
	Err        string `json:"e,omitempty"`
	Permanent  bool   `json:"p,omitempty"`
	DurationNS int64  `json:"d,omitempty"`
	Cached     bool   `json:"c,omitempty"`
	ExitCode   *int   `json:"x,omitempty"`
	Output     []byte `json:"o,omitempty"` // encoded output (succeeded only)
	Time       int64  `json:"t,omitempty"` // unix nanoseconds when written
	// Outcome is how the attempt that wrote the record ended, when a worker wrote
	// it (see Outcome).
	Outcome Outcome `json:"oc,omitempty"`
}

// Outcome is how one attempt ended, as a worker's journal record says
// (Record.Outcome). The store owns these strings: they are the on-disk
// format, read by every later maptask, and never a display string. Change
// one only with a new SpecVersion. OutcomeOf and Outcome.Status are the one
// mapping to and from backend.Status.
type Outcome string

const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeFailed    Outcome = "failed"    // the task said so: an error, a panic, a non-zero exit
	OutcomeTimedOut  Outcome = "timed out" // ran past the task's timeout
	OutcomeLost      Outcome = "lost"      // the system lost it
	OutcomeCancelled Outcome = "cancelled" // stopped because its worker was told to stop
)

// Verdict is written at the end of every run of an execution: the outcome the
// driver reached and the bar it measured against.
type Verdict struct {
	Outcome   string    `json:"outcome"` // "succeeded", "failed" or "cancelled"
	Required  int       `json:"required"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Skipped   int       `json:"skipped"`          // not run (the on-disk word is kept)
	Cached    int       `json:"cached,omitempty"` // succeeded from the cache, among Succeeded
	Error     string    `json:"error,omitempty"`
	Time      time.Time `json:"time"`
}

// SpecVersion is the schema version of an execution: the layout
// CreateExecution writes, and the format of everything under it, journal
// records (their Status and Outcome words) included. LoadSpec reads it and
// version 1 (a spec without "version"); a newer one is an error saying to
// upgrade. Whatever changes how a stored execution reads back takes a new
// version, with a test that the old one still loads (testdata/format-v2 is
// version 2 as maptask wrote it; see TestFormatV2).
const SpecVersion = 2

// ErrExists is returned (wrapped) by CreateExecution when the execution already exists.
var ErrExists = errors.New("already exists")

// AttemptLog is the kept output of one attempt of one element.
type AttemptLog struct {
	Attempt int
	Data    []byte // standard output (a Go task's log)
	Stderr  []byte // standard error; nil when none was kept
}

// LeaseOwner says who holds, or asks for, an execution's lease (see
// AcquireLease). NewLeaseOwner fills it for the calling process.
type LeaseOwner struct {
	Host    string    `json:"host"`    // os.Hostname() of the driver
	PID     int       `json:"pid"`     // its process id
	Started time.Time `json:"started"` // when it started, to tell a reused PID
	Token   string    `json:"token"`   // random, unique per driver run
}

// LeaseHeldError is AcquireLease's error when another live driver holds the
// execution's lease.
type LeaseHeldError struct {
	ID      string     // the execution
	Owner   LeaseOwner // who holds it
	Since   time.Time  // when it took the lease
	Expires time.Time  // when the lease ends unless renewed
}

// Error says who runs the execution and what to do about it.
func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("execution %s is being run by %s/%d since %s; wait, or `maptask cancel %s`",
		e.ID, e.Owner.Host, e.Owner.PID, e.Since.Local().Format(time.RFC3339), e.ID)
}

// ErrLeaseLost is returned (wrapped) by Lease.Renew and Lease.Release when
// another driver took the lease over: the holder must stop driving the
// execution.
var ErrLeaseLost = errors.New("lease lost: another driver took over the execution")

// compile-time check that *Store has the agreed surface.
var _ interface {
	Close() error
	URL() string
	CreateExecution(ctx context.Context, spec Spec, data []byte, offsets []uint64, bound []byte) error
	LoadSpec(ctx context.Context, id string) (*Spec, error)
	ListExecutions(ctx context.Context) ([]Spec, error)
	ReadInput(ctx context.Context, id string, i int) ([]byte, error)
	ReadInputs(ctx context.Context, id string, from, to int) ([][]byte, error)
	ReadAllInputs(ctx context.Context, id string) ([]byte, []uint64, error)
	ReadBound(ctx context.Context, id string) ([]byte, error)
	AppendRecords(ctx context.Context, id, writer string, recs []Record) error
	LoadRecords(ctx context.Context, id string, n int) ([]Record, error)
	CacheGet(ctx context.Context, key string) ([]byte, error)
	CachePut(ctx context.Context, key string, output []byte) error
	PutLog(ctx context.Context, id string, index, attempt int, data []byte) error
	PutErrorLog(ctx context.Context, id string, index, attempt int, data []byte) error
	ReadLogs(ctx context.Context, id string, index int) ([]AttemptLog, error)
	ReadAttemptLog(ctx context.Context, id string, index, attempt int) (AttemptLog, error)
	LoggedElements(ctx context.Context, id string) ([]int, error)
	DeleteExecution(ctx context.Context, id string) error
	PutVerdict(ctx context.Context, id string, v Verdict) error
	LoadVerdict(ctx context.Context, id string) (*Verdict, error)
	ReadJournal(ctx context.Context, id, writer string) ([]Record, error)
	ReadJournals(ctx context.Context, id, prefix string) ([]Record, error)
	OpenJournal(ctx context.Context, id, writer string) (*JournalWriter, error)
	LoadRecordsReport(ctx context.Context, id string, n int) ([]Record, []Quarantined, error)
	LoadState(ctx context.Context, id string, n int, outputs bool) (*State, []Quarantined, error)
	Checkpoint(ctx context.Context, id string) error
	AcquireLease(ctx context.Context, id string, owner LeaseOwner, ttl time.Duration) (*Lease, error)
	CheckWritable(ctx context.Context) error
	ClearCancel(ctx context.Context, id string) error
	ClearVerdict(ctx context.Context, id string) error
	SetCancel(ctx context.Context, id string) error
	Cancelled(ctx context.Context, id string) (bool, error)
} = (*Store)(nil)

var _ interface {
	Append(ctx context.Context, recs []Record) error
	Track(base *State) error
	Checkpoint(ctx context.Context) error
	Close() error
} = (*JournalWriter)(nil)

var _ interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
} = (*Lease)(nil)
