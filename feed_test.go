package maptask_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/store"
)

var halves = maptask.NewTask("test.halves", func(_ context.Context, x int) (int, error) {
	if x%2 != 0 {
		return 0, maptask.Permanent(errors.New("odd"))
	}
	return x / 2, nil
})

// TestOnResultReportsEachFinishedElementOnce: every element that reaches a
// final state is reported once, with its value or error, while Map runs.
func TestOnResultReportsEachFinishedElementOnce(t *testing.T) {
	in := make([]int, 200)
	for i := range in {
		in[i] = i
	}
	var mu sync.Mutex
	seen := map[int]maptask.Result[int]{}
	res, err := maptask.Map(context.Background(), halves, in, maptask.Concurrency(8), maptask.RunAll(),
		maptask.OnResult(func(i int, r maptask.Result[int]) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := seen[i]; dup {
				t.Errorf("element %d reported twice", i)
			}
			seen[i] = r
		}))
	var me *maptask.MapError
	if !errors.As(err, &me) || me.Succeeded != 100 {
		t.Fatalf("Map = %v, want 100 of 200 succeeded", err)
	}
	if len(seen) != 200 {
		t.Fatalf("%d elements reported, want 200", len(seen))
	}
	for i, r := range seen {
		want := res.At(i)
		if r.Value != want.Value || (r.Err == nil) != (want.Err == nil) || r.Attempts != want.Attempts {
			t.Errorf("element %d reported %+v, Results has %+v", i, r, want)
		}
	}
}

// TestRunAllRunsEveryElement: without RunAll the first failure stops a map
// that needs every element; with it every element runs and the verdict is
// the same.
func TestRunAllRunsEveryElement(t *testing.T) {
	in := []int{1, 2, 4, 6, 8, 10, 12, 14}
	res, err := maptask.Map(context.Background(), halves, in, maptask.Concurrency(1))
	if !errors.Is(err, maptask.ErrStopped) || res.Succeeded() != 0 {
		t.Fatalf("without RunAll: %v, %d succeeded; want an early stop before anything else ran", err, res.Succeeded())
	}
	res, err = maptask.Map(context.Background(), halves, in, maptask.Concurrency(1), maptask.RunAll())
	var me *maptask.MapError
	if !errors.As(err, &me) || errors.Is(err, maptask.ErrStopped) || me.Succeeded != 7 || me.Required != 8 {
		t.Fatalf("with RunAll: %v; want 7 of 8 succeeded, 8 required, no early stop", err)
	}
	for i := 1; i < len(in); i++ {
		if res.At(i).Err != nil {
			t.Errorf("element %d: %v", i, res.At(i).Err)
		}
	}
}

// TestOnResultInDurableMapComesAfterTheRecord: a durable map reports an
// element only once the store's journal holds it, and a resumed execution
// reports what earlier runs finished as cached.
func TestOnResultInDurableMapComesAfterTheRecord(t *testing.T) {
	ctx := context.Background()
	url := storeURL(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := []int{2, 4, 5, 8, 10, 12}
	var reported []int
	check := func(i int, r maptask.Result[int]) {
		reported = append(reported, i) // calls come one at a time
		recs, err := st.LoadRecords(ctx, "feed", len(in))
		if err != nil {
			t.Errorf("element %d: reading the journal: %v", i, err)
			return
		}
		if recs[i].Status != store.StatusSucceeded && recs[i].Status != store.StatusFailed {
			t.Errorf("element %d reported before the journal held it (status %q)", i, recs[i].Status)
		}
	}
	_, err = maptask.Map(ctx, halves, in, maptask.Execution("feed"), maptask.StoreURL(url), maptask.Concurrency(2),
		maptask.RunAll(), maptask.OnResult(check))
	if err == nil {
		t.Fatal("element 2 is odd: the map should fail")
	}
	slices.Sort(reported)
	if !slices.Equal(reported, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("reported %v, want every element once", reported)
	}
	var cached []int
	_, _ = maptask.Map(ctx, halves, in, maptask.Execution("feed"), maptask.StoreURL(url), maptask.MinSuccesses(5),
		maptask.OnResult(func(i int, r maptask.Result[int]) {
			if r.Cached {
				cached = append(cached, i)
			}
		}))
	slices.Sort(cached)
	if !slices.Equal(cached, []int{0, 1, 3, 4, 5}) {
		t.Errorf("resumed run reported %v as cached, want [0 1 3 4 5]", cached)
	}
}

func TestOnResultOfAnotherTypeIsRefused(t *testing.T) {
	ran := false
	_, err := maptask.Map(context.Background(), halves, []int{2}, maptask.OnResult(func(int, maptask.Result[string]) { ran = true }))
	if err == nil || !strings.Contains(err.Error(), "OnResult") || ran {
		t.Fatalf("Map = %v (ran %v), want OnResult's type refused", err, ran)
	}
}

// TestResumeClearsTheVerdictUntilItEnds: while a resumed run goes on, the
// execution has no verdict (its last run's would be stale: maptask ls counts
// from a verdict alone); the run's own end writes the new one.
func TestResumeClearsTheVerdictUntilItEnds(t *testing.T) {
	ctx := context.Background()
	url := storeURL(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := []int{2, 3, 4}
	if _, err := maptask.Map(ctx, halves, in, maptask.Execution("stale"), maptask.StoreURL(url), maptask.RunAll()); err == nil {
		t.Fatal("3 is odd: the map should fail")
	}
	if v, err := st.LoadVerdict(ctx, "stale"); err != nil || v.Outcome != "failed" || v.Succeeded != 2 {
		t.Fatalf("verdict after the first run: %+v, %v", v, err)
	}
	checked := false
	_, _ = maptask.Map(ctx, halves, in, maptask.Execution("stale"), maptask.StoreURL(url), maptask.MinSuccesses(2),
		maptask.OnResult(func(int, maptask.Result[int]) {
			if _, err := st.LoadVerdict(ctx, "stale"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a verdict is there while the resumed run goes on: %v", err)
			}
			checked = true
		}))
	if !checked {
		t.Fatal("OnResult was never called")
	}
	if v, err := st.LoadVerdict(ctx, "stale"); err != nil || v.Outcome != "succeeded" || v.Required != 2 {
		t.Fatalf("verdict after the resumed run: %+v, %v", v, err)
	}
}
