package remote

import (
	"github.com/maptask/maptask/backend"
)

// Settle returns the outcome of each attempt a worker was given, in order.
//
//   - An attempt the worker recorded has the outcome recorded says.
//   - When the map was stopped (stop is non-nil), the others are Cancelled
//     with that error; all but the first of them never started (a worker
//     records each attempt before it starts the next), so they are also
//     Unstarted: an element that never ran shows no attempt.
//   - The first attempt the worker did not record is the one it was running
//     when it ended: ended classifies it from how the worker ended (lost,
//     timed out, failed...).
//   - The attempts after it never started: they run again without spending
//     any budget (Unstarted), unless ended says the worker could not run at
//     all (every, true), in which case each of them gets the same outcome.
func Settle(attempts []backend.Attempt, recorded func(backend.Attempt) (backend.Outcome, bool), stop error,
	ended func(backend.Attempt) (o backend.Outcome, every bool)) []backend.Outcome {
	out := make([]backend.Outcome, 0, len(attempts))
	var first *backend.Outcome // the running attempt's outcome, once known
	every := false
	cancelled := false // an attempt before this one was stopped: this one never started
	for _, a := range attempts {
		if o, ok := recorded(a); ok {
			out = append(out, o)
			cancelled = cancelled || o.Status == backend.Cancelled
			continue
		}
		switch {
		case stop != nil:
			out = append(out, backend.Outcome{Attempt: a, Status: backend.Cancelled, Err: stop, ExitCode: -1, Unstarted: cancelled})
			cancelled = true
		case first == nil:
			o, all := ended(a)
			o.Attempt = a
			out = append(out, o)
			first, every = &out[len(out)-1], all
		case every:
			o := *first
			o.Attempt = a
			out = append(out, o)
		default:
			out = append(out, backend.Outcome{Attempt: a, Status: backend.Lost, Unstarted: true,
				Err: errNotReached, ExitCode: first.ExitCode})
		}
	}
	return out
}

type notReached struct{}

func (notReached) Error() string { return "its worker ended before starting it" }

var errNotReached error = notReached{}
