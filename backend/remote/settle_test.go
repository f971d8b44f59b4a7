package remote

import (
	"errors"
	"testing"

	"github.com/maptask/maptask/backend"
)

func TestSettle(t *testing.T) {
	batch := []backend.Attempt{{Index: 0, Number: 1}, {Index: 1, Number: 1}, {Index: 2, Number: 2}, {Index: 3, Number: 1}}
	recordedUpTo := func(n int) func(backend.Attempt) (backend.Outcome, bool) {
		return func(a backend.Attempt) (backend.Outcome, bool) {
			if a.Index < n {
				return backend.Outcome{Attempt: a, Status: backend.Succeeded, Recorded: true}, true
			}
			return backend.Outcome{}, false
		}
	}
	killed := func(backend.Attempt) (backend.Outcome, bool) {
		return backend.Outcome{Status: backend.Lost, Err: errors.New("killed"), ExitCode: 137}, false
	}
	cannotRun := func(backend.Attempt) (backend.Outcome, bool) {
		return backend.Outcome{Status: backend.Failed, Permanent: true, Err: errors.New("task not registered"), ExitCode: 65}, true
	}
	type want struct {
		status    backend.Status
		unstarted bool
	}
	for _, c := range []struct {
		name     string
		recorded int
		stop     error
		ended    func(backend.Attempt) (backend.Outcome, bool)
		want     []want
	}{
		{"all recorded", 4, nil, killed, []want{{backend.Succeeded, false}, {backend.Succeeded, false}, {backend.Succeeded, false}, {backend.Succeeded, false}}},
		{"killed at the third", 2, nil, killed, []want{{backend.Succeeded, false}, {backend.Succeeded, false}, {backend.Lost, false}, {backend.Lost, true}}},
		{"killed at once", 0, nil, killed, []want{{backend.Lost, false}, {backend.Lost, true}, {backend.Lost, true}, {backend.Lost, true}}},
		{"cannot run", 0, nil, cannotRun, []want{{backend.Failed, false}, {backend.Failed, false}, {backend.Failed, false}, {backend.Failed, false}}},
		{"stopped", 1, errors.New("stopped"), killed, []want{{backend.Succeeded, false}, {backend.Cancelled, false}, {backend.Cancelled, true}, {backend.Cancelled, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Settle(batch, recordedUpTo(c.recorded), c.stop, c.ended)
			if len(got) != len(batch) {
				t.Fatalf("%d outcomes for %d attempts", len(got), len(batch))
			}
			for k, o := range got {
				if o.Attempt != batch[k] || o.Status != c.want[k].status || o.Unstarted != c.want[k].unstarted {
					t.Errorf("attempt %d: %+v, want %v unstarted %v", k, o, c.want[k].status, c.want[k].unstarted)
				}
			}
		})
	}
}
