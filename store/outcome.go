package store

import "github.com/maptask/maptask/backend"

// outcomes is the one table between backend.Status and the journal's
// Outcome strings.
var outcomes = []struct {
	status  backend.Status
	outcome Outcome
}{
	{backend.Succeeded, OutcomeSucceeded},
	{backend.Failed, OutcomeFailed},
	{backend.TimedOut, OutcomeTimedOut},
	{backend.Lost, OutcomeLost},
	{backend.Cancelled, OutcomeCancelled},
}

// OutcomeOf is how the journal writes status; "" for a status it has no
// word for.
func OutcomeOf(status backend.Status) Outcome {
	for _, e := range outcomes {
		if e.status == status {
			return e.outcome
		}
	}
	return ""
}

// Status is the backend.Status o stands for; false for "" and for a word this
// maptask does not know (written by hand, or by a newer version).
func (o Outcome) Status() (backend.Status, bool) {
	for _, e := range outcomes {
		if e.outcome == o {
			return e.status, true
		}
	}
	return 0, false
}

// Spends reports whether an attempt that ended so spends a user retry
// (failed or timed out).
func (o Outcome) Spends() bool { return o == OutcomeFailed || o == OutcomeTimedOut }
