package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Change asks a running map to change (maptask update, the console's action):
// its concurrency bound and the successes it requires. Nil fields stay as
// they are. Changes are numbered in the order they were asked for; the driver
// running the execution applies each (within a second) and answers it with a
// ChangeResult. A later run of the execution (resume) starts with every
// change that was not refused, in order.
type Change struct {
	Seq             int       `json:"seq"`
	Time            time.Time `json:"time"`
	By              string    `json:"by,omitempty"` // who asked: "maptask update", "maptask ui", "resume", "library"
	Concurrency     *int      `json:"concurrency,omitempty"`
	MinSuccesses    *int      `json:"min_successes,omitempty"`
	MinSuccessRatio *float64  `json:"min_success_ratio,omitempty"`
}

// ChangeResult is the driver's answer to a Change.
type ChangeResult struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Applied bool      `json:"applied"`
	Error   string    `json:"error,omitempty"` // why it was refused (nothing changed)
	// What the map runs with once it was applied (or refused).
	Concurrency int `json:"concurrency"` // 0: unbounded
	Required    int `json:"required"`    // successes required; -1 while a stream's size is unknown
}

// ChangeEntry is a change with the driver's answer, if any yet.
type ChangeEntry struct {
	Change
	Result *ChangeResult `json:"result,omitempty"`
}

// maxChangeSize bounds one change or result object.
const maxChangeSize = 64 << 10

// Check refuses a change that no map of n elements could take (n < 0: the
// number is not known yet): nothing to change, a negative bound, a bar above
// the element count or a ratio outside (0, 1]. Flags are named as the CLI
// spells them.
func (c *Change) Check(n int) error {
	switch {
	case c.Concurrency == nil && c.MinSuccesses == nil && c.MinSuccessRatio == nil:
		return errors.New("maptask: nothing to change: give --concurrency, --min-successes or --min-success-ratio")
	case c.MinSuccesses != nil && c.MinSuccessRatio != nil:
		return errors.New("maptask: --min-successes and --min-success-ratio: give one of them, not both")
	case c.Concurrency != nil && *c.Concurrency < 0:
		return fmt.Errorf("maptask: --concurrency %d: must be >= 0 (0 means unbounded)", *c.Concurrency)
	case c.MinSuccesses != nil && *c.MinSuccesses < 0:
		return fmt.Errorf("maptask: --min-successes %d: must be >= 0", *c.MinSuccesses)
	case c.MinSuccesses != nil && n >= 0 && *c.MinSuccesses > n:
		return fmt.Errorf("maptask: --min-successes %d: more than the %d elements", *c.MinSuccesses, n)
	case c.MinSuccessRatio != nil && !(*c.MinSuccessRatio > 0 && *c.MinSuccessRatio <= 1):
		return fmt.Errorf("maptask: --min-success-ratio %v: must be in (0, 1]", *c.MinSuccessRatio)
	}
	return nil
}

// String describes the change in the CLI's words.
func (c *Change) String() string {
	var parts []string
	if c.Concurrency != nil {
		parts = append(parts, "concurrency "+strconv.Itoa(*c.Concurrency))
	}
	if c.MinSuccesses != nil {
		parts = append(parts, "min-successes "+strconv.Itoa(*c.MinSuccesses))
	}
	if c.MinSuccessRatio != nil {
		parts = append(parts, "min-success-ratio "+strconv.FormatFloat(*c.MinSuccessRatio, 'g', -1, 64))
	}
	return strings.Join(parts, ", ")
}

func changeKey(run string, seq int) string { return fmt.Sprintf("%schanges/%08d.json", run, seq) }

func changeResultKey(run string, seq int) string {
	return fmt.Sprintf("%schanges/%08d.result.json", run, seq)
}

// RequestChange records c as the execution's next change and returns it with
// its number and time. Two requests at once get different numbers: each is
// created only where no object is (createOnly).
func (s *Store) RequestChange(ctx context.Context, id string, c Change) (Change, error) {
	if err := ValidateID(id); err != nil {
		return c, err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return c, err
	}
	seqs, _, err := s.changeSeqs(ctx, run)
	if err != nil {
		return c, err
	}
	c.Seq = 1
	if len(seqs) > 0 {
		c.Seq = seqs[len(seqs)-1] + 1
	}
	c.Time = time.Now().UTC()
	for range 100 {
		js, err := json.Marshal(c)
		if err != nil {
			return c, err
		}
		created, err := s.createOnly(ctx, changeKey(run, c.Seq), js)
		if err != nil {
			return c, err
		}
		if created {
			return c, nil
		}
		c.Seq++ // another request took this number
	}
	return c, fmt.Errorf("store: execution %q: could not number a change (too many at once)", id)
}

// PutChangeResult records the driver's answer to change r.Seq.
func (s *Store) PutChangeResult(ctx context.Context, id string, r ChangeResult) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return err
	}
	if len(r.Error) > maxErrLen {
		r.Error = r.Error[:maxErrLen]
	}
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.write(ctx, changeResultKey(run, r.Seq), js)
}

// Changes returns the execution's changes numbered above after, in order,
// each with the driver's answer when there is one. One listing of a small
// prefix, then only the objects above after are read: a driver polls it.
func (s *Store) Changes(ctx context.Context, id string, after int) ([]ChangeEntry, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return nil, err
	}
	seqs, answered, err := s.changeSeqs(ctx, run)
	if err != nil {
		return nil, err
	}
	var out []ChangeEntry
	for _, seq := range seqs {
		if seq <= after {
			continue
		}
		var e ChangeEntry
		if err := s.readChangeObject(ctx, changeKey(run, seq), &e.Change); err != nil {
			return nil, err
		}
		if e.Seq != seq {
			return nil, fmt.Errorf("store: %s: %w: it says it is change %d", changeKey(run, seq), ErrCorrupt, e.Seq)
		}
		if answered[seq] {
			var r ChangeResult
			if err := s.readChangeObject(ctx, changeResultKey(run, seq), &r); err != nil {
				return nil, err
			}
			e.Result = &r
		}
		out = append(out, e)
	}
	return out, nil
}

// changeSeqs lists the numbers of the changes under run, in order, and which
// of them have an answer.
func (s *Store) changeSeqs(ctx context.Context, run string) ([]int, map[int]bool, error) {
	keys, err := s.list(ctx, run+"changes/")
	if err != nil {
		return nil, nil, err
	}
	var seqs []int
	answered := map[int]bool{}
	for _, k := range keys {
		name := path.Base(k)
		num, result := strings.CutSuffix(name, ".result.json")
		if !result {
			var ok bool
			if num, ok = strings.CutSuffix(name, ".json"); !ok {
				continue
			}
		}
		seq, err := strconv.Atoi(num)
		if err != nil || seq <= 0 {
			continue // not ours
		}
		if result {
			answered[seq] = true
		} else {
			seqs = append(seqs, seq) // listed in key order: zero-padded numbers sort
		}
	}
	return seqs, answered, nil
}

func (s *Store) readChangeObject(ctx context.Context, key string, v any) error {
	data, err := s.readCapped(ctx, key, "a change", maxChangeSize, 0)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store: %s: %w: %v", key, ErrCorrupt, err)
	}
	return nil
}

// AwaitChangeResult waits up to timeout for the driver's answer to change
// seq, looking every poll; it returns nil, with no error, when none came.
func (s *Store) AwaitChangeResult(ctx context.Context, id string, seq int, timeout, poll time.Duration) (*ChangeResult, error) {
	deadline := time.Now().Add(timeout)
	for {
		entries, err := s.Changes(ctx, id, seq-1)
		if err != nil {
			return nil, err
		}
		if len(entries) > 0 && entries[0].Seq == seq && entries[0].Result != nil {
			return entries[0].Result, nil
		}
		if time.Now().After(deadline) {
			return nil, nil
		}
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}
