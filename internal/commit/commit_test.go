package commit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maptask/maptask/store"
)

// flaky is a journal that fails its first failures commits, then keeps what
// it is given (or fails for ever with failures < 0).
type flaky struct {
	mu       sync.Mutex
	failures int
	calls    int
	kept     []store.Record
	delay    time.Duration // each commit takes this long, as a store write does
}

func (f *flaky) Append(_ context.Context, recs []store.Record) error {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failures != 0 {
		f.failures--
		return errors.New("store unreachable")
	}
	f.kept = append(f.kept, recs...)
	return nil
}

// Concurrent writers are committed together: every record is kept, in fewer
// writes than records.
func TestGroupCommit(t *testing.T) {
	// A commit that takes time, as a real one does, lets the other writers'
	// records gather behind it however the goroutines are scheduled (with an
	// instant one, a loaded machine ran every sync alone once).
	f := &flaky{delay: 200 * time.Microsecond}
	l := New(f, Policy{}, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Add(store.Record{Index: g*500 + i, Status: store.StatusSucceeded})
				if err := l.Sync(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(f.kept) != 4000 {
		t.Fatalf("%d records kept, want 4000", len(f.kept))
	}
	t.Logf("4000 records in %d commits", f.calls)
	if f.calls >= 4000 {
		t.Errorf("%d commits for 4000 records: no grouping", f.calls)
	}
}

// A commit that fails for a while is retried until it succeeds.
func TestCommitRetries(t *testing.T) {
	f := &flaky{failures: 3}
	l := New(f, Policy{FirstWait: time.Millisecond}, nil)
	l.Add(store.Record{Index: 1, Status: store.StatusSucceeded})
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(f.kept) != 1 || f.calls != 4 {
		t.Fatalf("kept %d records in %d calls", len(f.kept), f.calls)
	}
}

// A commit that keeps failing fails the log for good: it says how many
// finished elements were not recorded, tells onFail once, and refuses later
// syncs, so the map launches nothing more.
func TestCommitGivesUp(t *testing.T) {
	f := &flaky{failures: -1}
	var failed atomic.Int32
	done := make(chan struct{})
	l := New(f, Policy{RetryFor: 50 * time.Millisecond, FirstWait: time.Millisecond}, func(error) { failed.Add(1); close(done) })
	l.Add(store.Record{Index: 1, Status: store.StatusSucceeded})
	l.Add(store.Record{Index: 2, Status: store.StatusRunning})
	err := l.Sync()
	if err == nil || !strings.Contains(err.Error(), "cannot record results: store unreachable; 1 finished elements will run again on resume") {
		t.Fatalf("Sync = %v", err)
	}
	<-done
	l.Add(store.Record{Index: 3, Status: store.StatusSucceeded})
	if l.Sync() == nil || failed.Load() != 1 {
		t.Fatalf("a failed log accepted another commit, or onFail ran %d times", failed.Load())
	}
}
