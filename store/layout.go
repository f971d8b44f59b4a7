package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"gocloud.dev/gcerrors"
)

// runPrefix returns the prefix, ending in "/", of the objects that belong to
// one creation of an execution (its journal, logs, verdict and cancel
// request): "executions/<id>/<Spec.Inputs>/" from version 2 on, the
// execution's own prefix in version 1.
func runPrefix(spec *Spec) string {
	if spec.Version >= 2 {
		return execKey(spec.ID, spec.Inputs+"/")
	}
	return execKey(spec.ID, "")
}

// specOf returns the spec of execution id, read once per Store: a spec never
// changes once written. An execution deleted and created again behind a
// Store's back is not seen by that Store.
func (s *Store) specOf(ctx context.Context, id string) (*Spec, error) {
	s.mu.Lock()
	spec, ok := s.specs[id]
	s.mu.Unlock()
	if ok {
		return spec, nil
	}
	if _, err := s.LoadSpec(ctx, id); err != nil { // which keeps it
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.specs[id], nil
}

// keepSpec remembers spec as the one of its execution.
func (s *Store) keepSpec(spec Spec) {
	s.mu.Lock()
	s.specs[spec.ID] = &spec
	s.mu.Unlock()
}

// runOf returns runPrefix of execution id.
func (s *Store) runOf(ctx context.Context, id string) (string, error) {
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return "", err
	}
	return runPrefix(spec), nil
}

// createOnly writes key only if no object is there: created is false, with a
// nil error, when one is. It relies on the bucket's IfNotExist: a hard link
// in a local directory, If-None-Match: * on S3. S3's 409
// ConditionalRequestConflict (a concurrent conditional write still in
// flight) is tried again, a few times.
func (s *Store) createOnly(ctx context.Context, key string, data []byte) (created bool, err error) {
	for try := 0; ; try++ {
		err := s.writeAll(ctx, key, data, true)
		switch {
		case err == nil:
			return true, nil
		case gcerrors.Code(err) == gcerrors.FailedPrecondition:
			return false, nil
		case conditionalConflict(err) && try < 8:
			select {
			case <-time.After(time.Duration(1+rand.IntN(10<<try)) * time.Millisecond):
			case <-ctx.Done():
				return false, wrap("writing", key, context.Cause(ctx))
			}
			continue
		}
		return false, wrap("writing", key, err)
	}
}

// conditionalConflict reports S3's ConditionalRequestConflict.
func conditionalConflict(err error) bool {
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && api.ErrorCode() == "ConditionalRequestConflict"
}

// localDir is what the driver of a local directory store offers beyond the
// blob API (see localOf).
type localDir interface {
	// createAppend creates the file key names, exclusively (errExists when
	// something is there), for appending.
	createAppend(key string) (appender, error)
	// readSmall reads the whole file key names, when it holds at most limit
	// bytes; else it returns its size and no data. A missing object wraps
	// fs.ErrNotExist.
	readSmall(key string, limit int64) (data []byte, size int64, err error)
	// size returns the size of the file key names, as Attributes does, with
	// one fstatat.
	size(key string) (int64, error)
}

// appender is a segment file of a local store's journal.
type appender interface {
	// Append writes data at the end, whole or not at all.
	Append(data []byte) error
	// Broken reports that a failed Append may have left part of its data.
	Broken() bool
	Sync() error
	Close() error
}
