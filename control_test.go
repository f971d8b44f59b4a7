package maptask_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/store"
)

// A change made through a Control to a durable map is recorded, and a
// resumed run of the execution starts with it, whatever its code says.
func TestControlChangeKeptOnResume(t *testing.T) {
	dir := t.TempDir()
	var c maptask.Control
	var failing atomic.Bool
	var running, peak atomic.Int64
	failing.Store(true)
	task := maptask.NewTask("test.control.resume", func(ctx context.Context, x int) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if x == 0 && failing.Load() {
			if err := c.SetConcurrency(3); err != nil {
				return 0, err
			}
		}
		time.Sleep(20 * time.Millisecond)
		if x >= 5 && failing.Load() {
			return 0, maptask.Permanent(errors.New("not yet"))
		}
		return x, nil
	})
	inputs := make([]int, 20)
	for i := range inputs {
		inputs[i] = i
	}
	opts := []maptask.MapOption{maptask.Execution("ctl"), maptask.StoreURL(dir), maptask.Concurrency(1), maptask.WithControl(&c)}
	if _, err := maptask.Map(context.Background(), task, inputs, opts...); err == nil {
		t.Fatal("the first run succeeded; want its early stop")
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ch, err := st.Changes(context.Background(), "ctl", 0)
	if err != nil || len(ch) != 1 || ch[0].By != "library" || *ch[0].Concurrency != 3 || ch[0].Result == nil || !ch[0].Result.Applied {
		t.Fatalf("changes recorded: %+v, %v", ch, err)
	}
	failing.Store(false)
	peak.Store(0)
	res, err := maptask.Map(context.Background(), task, inputs, opts...)
	if err != nil || res.Succeeded() != 20 {
		t.Fatalf("resumed run: %d succeeded, %v", res.Succeeded(), err)
	}
	if p := peak.Load(); p != 3 {
		t.Errorf("the resumed run ran %d elements at once, want the 3 the change set (its code says 1)", p)
	}
}
