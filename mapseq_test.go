package maptask_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask"
)

// A stream that ends with fewer elements than MinSuccesses cannot succeed: the
// map says so, not that too many elements failed, and it stops at once.
func TestMapSeqFewerElementsThanMinSuccesses(t *testing.T) {
	seq := func(yield func(int) bool) {
		for i := range 3 {
			if !yield(i) {
				return
			}
		}
	}
	start := time.Now()
	res, err := maptask.MapSeq(context.Background(), counted, seq, maptask.MinSuccesses(5))
	var me *maptask.MapError
	if !errors.As(err, &me) {
		t.Fatalf("err %v, want a *MapError", err)
	}
	if errors.Is(err, maptask.ErrStopped) {
		t.Errorf("err %v: says elements failed, and none did", err)
	}
	if !strings.Contains(err.Error(), "5 successes required of 3 elements") {
		t.Errorf("err %v: does not say why", err)
	}
	if me.Total != 3 || me.Required != 5 {
		t.Errorf("Total %d Required %d, want 3 and 5", me.Total, me.Required)
	}
	if res == nil || res.Len() != 3 {
		t.Fatalf("results %v", res)
	}
	for i, r := range res.All() {
		if r.Err != nil && !errors.Is(r.Err, maptask.ErrNotRun) {
			t.Errorf("element %d: %v, want success or not run", i, r.Err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// A permanent failure that comes back after the map stopped (here: because a
// stream ended short of MinSuccesses) is reported as the failure it is, not
// as an element that did not run.
func TestMapSeqPermanentFailureAfterStop(t *testing.T) {
	bad := errors.New("bad input")
	started := make(chan struct{})
	task := maptask.NewTask("test.seal.permanent", func(ctx context.Context, x int) (int, error) {
		if x == 0 {
			close(started)
			select {
			case <-ctx.Done(): // the map stops once the stream ends
			case <-time.After(10 * time.Second):
			}
			return 0, maptask.Permanent(bad)
		}
		return x, nil
	})
	seq := func(yield func(int) bool) {
		if !yield(0) {
			return
		}
		<-started // element 0 is running before the stream ends
		yield(1)
	}
	res, err := maptask.MapSeq(context.Background(), task, seq, maptask.MinSuccesses(3), maptask.Concurrency(1))
	if err == nil || errors.Is(err, maptask.ErrStopped) || !strings.Contains(err.Error(), "3 successes required of 2 elements") {
		t.Fatalf("err %v", err)
	}
	if res == nil || res.Len() != 2 {
		t.Fatalf("results %v", res)
	}
	if got := res.At(0).Err; !errors.Is(got, bad) || errors.Is(got, maptask.ErrNotRun) {
		t.Errorf("element 0: %v, want the permanent failure", got)
	}
	if got := res.At(1).Err; !errors.Is(got, maptask.ErrNotRun) {
		t.Errorf("element 1: %v, want not run", got)
	}
}
