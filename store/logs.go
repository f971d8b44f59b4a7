package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gocloud.dev/gcerrors"
)

// An attempt's output is kept as two objects under the element's log prefix:
// "<attempt>.log" (standard output, or a Go task's log) and "<attempt>.err.log"
// (standard error). Either is absent when the attempt wrote nothing there.
const (
	stdoutSuffix = ".log"
	stderrSuffix = ".err.log"
)

// logPrefix returns the prefix of element index's logs in execution id,
// once id and index are checked.
func (s *Store) logPrefix(ctx context.Context, id string, index int) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	if index < 0 {
		return "", fmt.Errorf("store: execution %q: logs of element %d: must not be negative", id, index)
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return "", err
	}
	return run + "logs/" + strconv.Itoa(index) + "/", nil
}

// attemptLogKey returns the key of one attempt's log (suffix: which stream),
// once id, index and attempt are checked.
func (s *Store) attemptLogKey(ctx context.Context, id string, index, attempt int, suffix string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	if index < 0 || attempt < 0 {
		return "", fmt.Errorf("store: execution %q: log of element %d, attempt %d: must not be negative", id, index, attempt)
	}
	prefix, err := s.logPrefix(ctx, id, index)
	if err != nil {
		return "", err
	}
	return prefix + strconv.Itoa(attempt) + suffix, nil
}

// PutLog keeps the log (a command's standard output) of one attempt of one
// element, replacing any kept before for that attempt.
func (s *Store) PutLog(ctx context.Context, id string, index, attempt int, data []byte) error {
	return s.putLog(ctx, id, index, attempt, stdoutSuffix, data)
}

// PutErrorLog keeps the error output (a command's standard error) of one
// attempt of one element, replacing any kept before for that attempt.
func (s *Store) PutErrorLog(ctx context.Context, id string, index, attempt int, data []byte) error {
	return s.putLog(ctx, id, index, attempt, stderrSuffix, data)
}

// Output is what an attempt wrote to one stream (a logbuf.Buffer).
type Output interface {
	Len() int      // bytes written, 0 when nothing was
	Bytes() []byte // what is kept
}

// PutAttemptLogs keeps what an attempt wrote to its standard output and
// standard error; a stream it wrote nothing to is not stored.
func (s *Store) PutAttemptLogs(ctx context.Context, id string, index, attempt int, stdout, stderr Output) error {
	if stdout.Len() > 0 {
		if err := s.PutLog(ctx, id, index, attempt, stdout.Bytes()); err != nil {
			return err
		}
	}
	if stderr.Len() > 0 {
		return s.PutErrorLog(ctx, id, index, attempt, stderr.Bytes())
	}
	return nil
}

func (s *Store) putLog(ctx context.Context, id string, index, attempt int, suffix string, data []byte) error {
	if len(data) > MaxLogSize {
		return fmt.Errorf("store: execution %q: log of element %d, attempt %d: %d bytes, more than the %d the store keeps", id, index, attempt, len(data), MaxLogSize)
	}
	key, err := s.attemptLogKey(ctx, id, index, attempt, suffix)
	if err != nil {
		return err
	}
	return s.write(ctx, key, data)
}

// ReadLogs returns the logs of every attempt of element index, by attempt
// number; an empty slice when none was kept. It lists the element's logs and
// reads each.
func (s *Store) ReadLogs(ctx context.Context, id string, index int) ([]AttemptLog, error) {
	prefix, err := s.logPrefix(ctx, id, index)
	if err != nil {
		return nil, err
	}
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	logs := []AttemptLog{}
	at := func(attempt int) *AttemptLog {
		for i := range logs {
			if logs[i].Attempt == attempt {
				return &logs[i]
			}
		}
		logs = append(logs, AttemptLog{Attempt: attempt})
		return &logs[len(logs)-1]
	}
	for _, key := range keys {
		attempt, stderr, ok := parseLogName(strings.TrimPrefix(key, prefix))
		if !ok {
			continue // not a log: a write in progress
		}
		data, err := s.readCapped(ctx, key, "a log", MaxLogSize, 0)
		if err != nil {
			return nil, err
		}
		if l := at(attempt); stderr {
			l.Stderr = data
		} else {
			l.Data = data
		}
	}
	slices.SortFunc(logs, func(a, b AttemptLog) int { return a.Attempt - b.Attempt })
	return logs, nil
}

// ReadAttemptLog returns the output of one attempt of element index, without
// listing: empty streams when it kept none.
func (s *Store) ReadAttemptLog(ctx context.Context, id string, index, attempt int) (AttemptLog, error) {
	l := AttemptLog{Attempt: attempt}
	base, err := s.attemptLogKey(ctx, id, index, attempt, "")
	if err != nil {
		return l, err
	}
	for _, stream := range []struct {
		suffix string
		dst    *[]byte
	}{{stdoutSuffix, &l.Data}, {stderrSuffix, &l.Stderr}} {
		key := base + stream.suffix
		data, err := s.readCapped(ctx, key, "a log", MaxLogSize, 0)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return l, err
		}
		*stream.dst = data
	}
	return l, nil
}

// LoggedElements returns, in one listing, the element indexes of execution id
// that kept any output, in increasing order.
func (s *Store) LoggedElements(ctx context.Context, id string) ([]int, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return nil, err
	}
	keys, err := s.list(ctx, run+"logs/")
	if err != nil {
		return nil, err
	}
	var indexes []int
	for _, key := range keys {
		rest := strings.TrimPrefix(key, run+"logs/")
		digits, name, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		if _, _, ok := parseLogName(name); !ok {
			continue
		}
		i, err := strconv.Atoi(digits)
		if err != nil || i < 0 {
			continue
		}
		if n := len(indexes); n == 0 || indexes[n-1] != i {
			indexes = append(indexes, i)
		}
	}
	slices.Sort(indexes)
	return slices.Compact(indexes), nil
}

// parseLogName returns the attempt number of a log named "<attempt>.log" or
// "<attempt>.err.log", and whether it is the error stream.
func parseLogName(name string) (attempt int, stderr bool, ok bool) {
	digits, stderr := strings.CutSuffix(name, stderrSuffix)
	if !stderr {
		if digits, ok = strings.CutSuffix(name, stdoutSuffix); !ok {
			return 0, false, false
		}
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false, false
	}
	n, err := strconv.Atoi(digits)
	return n, stderr, err == nil
}

// LogTail is the end of one attempt's logs: at most the bytes asked for of
// each stream, and each one's whole size.
type LogTail struct {
	Attempt                int
	Stdout, Stderr         []byte // nil when none was kept
	StdoutSize, StderrSize int64
}

// ReadLogTails returns the last max bytes of every kept log of element
// index, by attempt: one listing, then one ranged read per log, whatever
// their size (a page showing tails never reads whole logs).
func (s *Store) ReadLogTails(ctx context.Context, id string, index int, max int64) ([]LogTail, error) {
	prefix, err := s.logPrefix(ctx, id, index)
	if err != nil {
		return nil, err
	}
	tails := []LogTail{}
	at := func(attempt int) *LogTail {
		for i := range tails {
			if tails[i].Attempt == attempt {
				return &tails[i]
			}
		}
		tails = append(tails, LogTail{Attempt: attempt})
		return &tails[len(tails)-1]
	}
	objs, err := s.listObjects(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		attempt, stderr, ok := parseLogName(strings.TrimPrefix(obj.Key, prefix))
		if !ok {
			continue // not a log: a write in progress
		}
		data, err := s.readRange(ctx, obj.Key, obj.Size-min(obj.Size, max), min(obj.Size, max))
		if err != nil {
			return nil, err
		}
		t := at(attempt)
		if stderr {
			t.Stderr, t.StderrSize = data, obj.Size
		} else {
			t.Stdout, t.StdoutSize = data, obj.Size
		}
	}
	return tails, nil
}

// ReadAttemptLogTail returns the last max bytes of each log of one attempt
// of element index (nil for a stream that kept nothing): for each stream,
// its size, then one ranged read.
func (s *Store) ReadAttemptLogTail(ctx context.Context, id string, index, attempt int, max int64) (LogTail, error) {
	t := LogTail{Attempt: attempt}
	base, err := s.attemptLogKey(ctx, id, index, attempt, "")
	if err != nil {
		return t, err
	}
	for _, stream := range []struct {
		suffix string
		dst    *[]byte
		size   *int64
	}{{stdoutSuffix, &t.Stdout, &t.StdoutSize}, {stderrSuffix, &t.Stderr, &t.StderrSize}} {
		key := base + stream.suffix
		attrs, err := s.bucket.Attributes(ctx, key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			continue
		}
		if err != nil {
			return t, wrap("reading", key, err)
		}
		n := min(attrs.Size, max)
		if *stream.dst, err = s.readRange(ctx, key, attrs.Size-n, n); err != nil {
			return t, err
		}
		*stream.size = attrs.Size
	}
	return t, nil
}
