package maptask

import (
	"context"
	"io"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/logbuf"
)

// The attempt a task runs in reaches it through its context: which element
// and attempt it is, and the two logs the attempt keeps.

type attemptKey struct{}

// AttemptFromContext returns the element index and the 1-based attempt number of
// the attempt a task is running, from the context Map passed to it.
func AttemptFromContext(ctx context.Context) (index, attempt int, ok bool) {
	a, ok := ctx.Value(attemptKey{}).(backend.Attempt)
	return a.Index, a.Number, ok
}

// attemptContext carries the attempt, and the attempt's logs when they are
// kept, in one allocation (context.WithValue would take two per value).
type attemptContext struct {
	context.Context
	a      backend.Attempt
	log    io.Writer // nil: the log is discarded
	errLog io.Writer // nil: the error log is discarded
}

func (c *attemptContext) Value(key any) any {
	switch key {
	case attemptKey{}:
		return c.a
	case logKey{}:
		if c.log != nil {
			return c.log
		}
	case errLogKey{}:
		if c.errLog != nil {
			return c.errLog
		}
	}
	return c.Context.Value(key)
}

// loggedAttempt is an attempt context with the buffers that keep its logs.
type loggedAttempt struct {
	attemptContext
	buf, errBuf logbuf.Buffer
}

func withAttemptLog(ctx context.Context, a backend.Attempt) *loggedAttempt {
	l := &loggedAttempt{attemptContext: attemptContext{Context: ctx, a: a}}
	l.log, l.errLog = &l.buf, &l.errBuf
	return l
}

type logKey struct{}

// LogFromContext returns a writer for the running attempt's log. In a durable
// execution what is written there is kept in the store with the attempt (see
// `maptask logs`), bounded in size; otherwise it is discarded. It is never nil.
func LogFromContext(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(logKey{}).(io.Writer); ok {
		return w
	}
	return io.Discard
}

type errLogKey struct{}

// ErrorLogFromContext returns a writer for the running attempt's error log,
// kept apart from LogFromContext's (a command's standard error beside its
// standard output; `maptask logs --stderr`). It is never nil.
func ErrorLogFromContext(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(errLogKey{}).(io.Writer); ok {
		return w
	}
	return io.Discard
}
