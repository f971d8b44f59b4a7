package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

func logPrefix(id string, index int) string { return execKey(id, "logs/"+strconv.Itoa(index)+"/") }

// PutLog keeps the log of one attempt of one element, replacing any kept
// before for that attempt.
func (s *Store) PutLog(ctx context.Context, id string, index, attempt int, data []byte) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if index < 0 || attempt < 0 {
		return fmt.Errorf("store: execution %q: log of element %d, attempt %d: must not be negative", id, index, attempt)
	}
	if len(data) > MaxLogSize {
		return fmt.Errorf("store: execution %q: log of element %d, attempt %d: %d bytes, more than the %d the store keeps", id, index, attempt, len(data), MaxLogSize)
	}
	return s.write(ctx, logPrefix(id, index)+strconv.Itoa(attempt)+".log", data)
}

// ReadLogs returns the logs of every attempt of element index, by attempt
// number; an empty slice when none was kept. It lists the element's logs and
// reads each.
func (s *Store) ReadLogs(ctx context.Context, id string, index int) ([]AttemptLog, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if index < 0 {
		return nil, fmt.Errorf("store: execution %q: logs of element %d: must not be negative", id, index)
	}
	prefix := logPrefix(id, index)
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	logs := []AttemptLog{}
	for _, key := range keys {
		attempt, ok := parseLogName(strings.TrimPrefix(key, prefix))
		if !ok {
			continue // not a log: a write in progress
		}
		data, err := s.readCapped(ctx, key, "a log", MaxLogSize, 0)
		if err != nil {
			return nil, err
		}
		logs = append(logs, AttemptLog{Attempt: attempt, Data: data})
	}
	slices.SortFunc(logs, func(a, b AttemptLog) int { return a.Attempt - b.Attempt })
	return logs, nil
}

// parseLogName returns the attempt number of a log named "<attempt>.log".
func parseLogName(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, ".log")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}
