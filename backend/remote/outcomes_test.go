package remote

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/store"
)

func rec(i, attempt int, outcome store.Outcome, t int64) store.Record {
	r := store.Record{Index: i, Attempts: attempt, Outcome: outcome, Time: t, Status: store.StatusFailed, Err: string(outcome)}
	if outcome == store.OutcomeSucceeded {
		r.Status, r.Err, r.Output = store.StatusSucceeded, "", []byte(`"ok"`)
	}
	return r
}

// want is what one outcome should be.
type want struct {
	status    backend.Status
	unstarted bool
	permanent bool
	number    int
	prior     int
	code      int
}

func TestOutcomes(t *testing.T) {
	three := []backend.Attempt{{Index: 4, Number: 2}, {Index: 5, Number: 1}, {Index: 6, Number: 1}}
	stopped := errors.New("map stopped")
	for _, c := range []struct {
		name string
		b    Batch
		want []want
	}{
		{"all recorded", Batch{Attempts: three, Exit: Exit{Code: 1},
			Records: []store.Record{rec(4, 2, store.OutcomeSucceeded, 1), rec(5, 1, store.OutcomeFailed, 2), rec(6, 1, store.OutcomeTimedOut, 3)}},
			[]want{{backend.Succeeded, false, false, 2, 0, 1}, {backend.Failed, false, false, 1, 0, 1}, {backend.TimedOut, false, false, 1, 0, 1}}},
		{"a record of an older attempt does not count", Batch{Attempts: three, Exit: Exit{How: Killed, Code: -1, Signal: 9},
			Records: []store.Record{rec(4, 1, store.OutcomeSucceeded, 1)}},
			[]want{{backend.Lost, false, false, 2, 0, -1}, {backend.Lost, true, false, 1, 0, -1}, {backend.Lost, true, false, 1, 0, -1}}},
		{"killed at the second", Batch{Attempts: three, Exit: Exit{How: Killed, Code: -1, Signal: 9},
			Records: []store.Record{rec(4, 2, store.OutcomeSucceeded, 1)}},
			[]want{{backend.Succeeded, false, false, 2, 0, -1}, {backend.Lost, false, false, 1, 0, -1}, {backend.Lost, true, false, 1, 0, -1}}},
		{"timed out", Batch{Attempts: three, Exit: Exit{How: TimedOut, Code: -1}},
			[]want{{backend.TimedOut, false, false, 2, 0, -1}, {backend.Lost, true, false, 1, 0, -1}, {backend.Lost, true, false, 1, 0, -1}}},
		{"out of memory", Batch{Attempts: three, Exit: Exit{How: OutOfMemory, Code: 137}},
			[]want{{backend.Failed, false, false, 2, 0, 137}, {backend.Lost, true, false, 1, 0, 137}, {backend.Lost, true, false, 1, 0, 137}}},
		{"vanished", Batch{Attempts: three, Exit: Exit{How: Vanished, Code: -1, Detail: "NODE_FAIL"}},
			[]want{{backend.Lost, false, false, 2, 0, -1}, {backend.Lost, true, false, 1, 0, -1}, {backend.Lost, true, false, 1, 0, -1}}},
		{"stopped by SIGTERM", Batch{Attempts: three, Exit: Exit{Code: ExitStopped}},
			[]want{{backend.Lost, false, false, 2, 0, ExitStopped}, {backend.Lost, true, false, 1, 0, ExitStopped}, {backend.Lost, true, false, 1, 0, ExitStopped}}},
		{"crashed", Batch{Attempts: three, Exit: Exit{Code: 2}},
			[]want{{backend.Failed, false, false, 2, 0, 2}, {backend.Lost, true, false, 1, 0, 2}, {backend.Lost, true, false, 1, 0, 2}}},
		{"exited 0 without recording", Batch{Attempts: three, Exit: Exit{Code: 0}},
			[]want{{backend.Lost, false, false, 2, 0, 0}, {backend.Lost, true, false, 1, 0, 0}, {backend.Lost, true, false, 1, 0, 0}}},
		{"cannot run: every attempt fails for good", Batch{Attempts: three, Exit: Exit{Code: ExitTaskNotFound}},
			[]want{{backend.Failed, false, true, 2, 0, 65}, {backend.Failed, false, true, 1, 0, 65}, {backend.Failed, false, true, 1, 0, 65}}},
		{"journal unreadable: nothing counts", Batch{Attempts: three, Exit: Exit{Code: ExitTaskNotFound}, ReadErr: errors.New("store down"),
			Records: []store.Record{rec(4, 2, store.OutcomeSucceeded, 1)}},
			[]want{{backend.Lost, false, false, 2, 0, 65}, {backend.Lost, true, false, 1, 0, 65}, {backend.Lost, true, false, 1, 0, 65}}},
		{"map stopped", Batch{Attempts: three, Exit: Exit{Code: ExitStopped}, Stopped: stopped,
			Records: []store.Record{rec(4, 2, store.OutcomeSucceeded, 1), rec(5, 1, store.OutcomeCancelled, 2)}},
			[]want{{backend.Succeeded, false, false, 2, 0, 75}, {backend.Cancelled, false, false, 1, 0, 75}, {backend.Cancelled, true, false, 1, -0, -1}}},
		{"cancelled by someone else is lost", Batch{Attempts: three, Exit: Exit{Code: ExitStopped},
			Records: []store.Record{rec(4, 2, store.OutcomeCancelled, 1)}},
			[]want{{backend.Lost, false, false, 2, 0, 75}, {backend.Lost, false, false, 1, 0, 75}, {backend.Lost, true, false, 1, 0, 75}}},
		{"the latest record counts", Batch{Attempts: three[:1], Exit: Exit{Code: 0},
			Records: []store.Record{rec(4, 2, store.OutcomeFailed, 5), rec(4, 2, store.OutcomeSucceeded, 4)}},
			[]want{{backend.Failed, false, false, 2, 0, 0}}},
		{"retried by the platform: earlier failures are spent retries", Batch{Attempts: three[:1], Exit: Exit{Code: 0}, Retried: true,
			Records: []store.Record{rec(4, 2, store.OutcomeFailed, 1), rec(4, 3, store.OutcomeTimedOut, 2), rec(4, 4, store.OutcomeLost, 3), rec(4, 5, store.OutcomeSucceeded, 4)}},
			[]want{{backend.Succeeded, false, false, 5, 2, 0}}},
		{"adopted: any attempt counts, old failures do not", Batch{Attempts: three[:2], Exit: Exit{Code: -1, How: Vanished}, Adopted: true, Since: 10, Retried: true,
			Records: []store.Record{rec(4, 1, store.OutcomeSucceeded, 3), rec(5, 1, store.OutcomeFailed, 4), rec(5, 2, store.OutcomeFailed, 11), rec(5, 3, store.OutcomeFailed, 12)}},
			[]want{{backend.Succeeded, false, false, 2, 0, -1}, {backend.Failed, false, false, 3, 1, -1}}},
		{"adopted, only old failures: not recorded", Batch{Attempts: three[1:2], Exit: Exit{Code: -1, How: Vanished}, Adopted: true, Since: 10,
			Records: []store.Record{rec(5, 1, store.OutcomeFailed, 4)}},
			[]want{{backend.Lost, false, false, 1, 0, -1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Outcomes(c.b)
			if len(got) != len(c.want) {
				t.Fatalf("%d outcomes, want %d", len(got), len(c.want))
			}
			for k, o := range got {
				w := c.want[k]
				if o.Index != c.b.Attempts[k].Index || o.Status != w.status || o.Unstarted != w.unstarted || o.Permanent != w.permanent ||
					o.Number != w.number || o.PriorFailures != w.prior || o.ExitCode != w.code {
					t.Errorf("attempt %d: %+v\nwant %+v", k, o, w)
				}
				if o.Status != backend.Succeeded && o.Err == nil {
					t.Errorf("attempt %d: %v without an error", k, o.Status)
				}
				if o.Status == backend.TimedOut && !errors.Is(o.Err, context.DeadlineExceeded) {
					t.Errorf("attempt %d: timed out with %v", k, o.Err)
				}
			}
		})
	}
}

func TestRecorded(t *testing.T) {
	code := 3
	a := backend.Attempt{Index: 1, Number: 2}
	o := Recorded(a, store.Record{Index: 1, Attempts: 2, Outcome: store.OutcomeFailed, Err: "boom", Permanent: true, ExitCode: &code, DurationNS: int64(time.Second)})
	if o.Status != backend.Failed || !o.Permanent || o.ExitCode != 3 || o.Duration != time.Second || o.Err.Error() != "boom" || !o.Recorded {
		t.Fatalf("%+v", o)
	}
	if o := Recorded(a, store.Record{Outcome: "exploded", Err: "x"}); o.Status != backend.Failed {
		t.Fatalf("an unknown outcome: %v", o.Status)
	}
	if o := Recorded(a, store.Record{Outcome: store.OutcomeSucceeded, Output: []byte("1")}); o.Status != backend.Succeeded || string(o.Output) != "1" || o.Err != nil {
		t.Fatalf("%+v", o)
	}
}

type haltQueue struct {
	backend.Queue
	halted   error
	reported []backend.Outcome
}

func (q *haltQueue) Halt(err error)           { q.halted = err }
func (q *haltQueue) Report(o backend.Outcome) { q.reported = append(q.reported, o) }

func TestReportHaltsWithoutInit(t *testing.T) {
	q := &haltQueue{}
	Report(q, Batch{Attempts: []backend.Attempt{{Index: 0, Number: 1}, {Index: 1, Number: 1}}, Exit: Exit{Code: ExitNoInit}}, "prog")
	if q.halted == nil || len(q.reported) != 2 || !q.reported[1].Permanent {
		t.Fatalf("halted %v, reported %+v", q.halted, q.reported)
	}
	q = &haltQueue{}
	Report(q, Batch{Attempts: []backend.Attempt{{Index: 0, Number: 1}}, Exit: Exit{Code: 1}}, "prog")
	if q.halted != nil {
		t.Fatal("halted on exit 1")
	}
}

// TestRecordedKeepsTheExitCode: a failure recorded with its command's exit
// status reaches the driver with ExitCode, as a local failure does.
func TestRecordedKeepsTheExitCode(t *testing.T) {
	code := 3
	a := backend.Attempt{Index: 4, Number: 1}
	o := Recorded(a, store.Record{Index: 4, Attempts: 1, Status: store.StatusFailed, Outcome: store.OutcomeOf(backend.Failed),
		Err: "command exited with status 3: boom", ExitCode: &code})
	var ec interface{ ExitCode() int }
	if !errors.As(o.Err, &ec) || ec.ExitCode() != 3 || o.Err.Error() != "command exited with status 3: boom" {
		t.Fatalf("Recorded = %+v (%v), want an error with ExitCode 3 and the worker's message", o, o.Err)
	}
	o = Recorded(a, store.Record{Index: 4, Attempts: 1, Status: store.StatusFailed, Outcome: store.OutcomeOf(backend.Failed), Err: "no code"})
	if errors.As(o.Err, &ec) {
		t.Fatalf("a record without an exit code gave ExitCode %d", ec.ExitCode())
	}
}

// A worker killed at its time limit says "timed out" once, with the limit,
// and the error still is a context.DeadlineExceeded.
func TestTimedOutSaysItOnce(t *testing.T) {
	o, _ := Ended(Exit{How: TimedOut, Code: -1, Where: "pod p", Limit: 3 * time.Second, Output: []byte("working\n")}, nil, backend.Attempt{Index: 0, Number: 1})
	if got, want := o.Err.Error(), "pod p timed out after 3s (killed at its time limit): working"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if !errors.Is(o.Err, context.DeadlineExceeded) {
		t.Errorf("%v is not a DeadlineExceeded", o.Err)
	}
	o, _ = Ended(Exit{How: TimedOut, Code: -1, Where: "pod p"}, nil, backend.Attempt{Index: 0, Number: 1})
	if got := o.Err.Error(); got != "pod p timed out (killed at its time limit)" {
		t.Errorf("without a limit: %q", got)
	}
}

// A stopped batch whose worker never started leaves every unrecorded
// attempt Unstarted: an element that never ran shows no attempt.
func TestStoppedBeforeStarting(t *testing.T) {
	three := []backend.Attempt{{Index: 4, Number: 1}, {Index: 5, Number: 1}, {Index: 6, Number: 1}}
	stop := errors.New("map stopped")
	for _, c := range []struct {
		name       string
		notStarted bool
		want       []bool
	}{
		{"the worker ran", false, []bool{false, false, true}},
		{"no worker started", true, []bool{false, true, true}},
	} {
		got := Outcomes(Batch{Attempts: three, Records: []store.Record{rec(4, 1, store.OutcomeSucceeded, 1)}, Stopped: stop,
			Exit: Exit{How: Vanished, Code: -1}, NotStarted: c.notStarted})
		for k, o := range got {
			if o.Unstarted != c.want[k] {
				t.Errorf("%s: attempt %d: %+v, want unstarted %v", c.name, k, o, c.want[k])
			}
		}
	}
}
