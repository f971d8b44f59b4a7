package backend_test

import (
	"context"
	"errors"
	"testing"

	"github.com/maptask/maptask/backend"
)

type permanentErr struct{}

func (permanentErr) Error() string   { return "permanent" }
func (permanentErr) Permanent() bool { return true }

// A permanent failure is a failure even when the run was cancelled meanwhile;
// any other error then is a cancellation.
func TestClassifyAfterCancel(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(live)
	cancel()
	for name, tc := range map[string]struct {
		run       context.Context
		err       error
		status    backend.Status
		permanent bool
	}{
		"success after cancel":   {done, nil, backend.Succeeded, false},
		"permanent after cancel": {done, permanentErr{}, backend.Failed, true},
		"error after cancel":     {done, errors.New("x"), backend.Cancelled, false},
		"context error":          {done, context.Canceled, backend.Cancelled, false},
		"permanent":              {live, permanentErr{}, backend.Failed, true},
		"error":                  {live, errors.New("x"), backend.Failed, false},
	} {
		st, perm := backend.Classify(tc.run, tc.run, tc.err)
		if st != tc.status || perm != tc.permanent {
			t.Errorf("%s: %v %v, want %v %v", name, st, perm, tc.status, tc.permanent)
		}
	}
}
