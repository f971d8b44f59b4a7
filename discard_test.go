package maptask_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/maptask/maptask"
)

// With DiscardResults, every result still reaches OnResult, with its value;
// the Results keep which elements failed and why, and no values.
func TestDiscardResults(t *testing.T) {
	const n = 3*4096 + 77
	in := make([]int, n)
	for i := range in {
		in[i] = i
		if i%1000 == 999 {
			in[i] = -1 // counted fails it for good
		}
	}
	ctx := context.Background()
	for name, run := range map[string]func(opts ...maptask.MapOption) (*maptask.Results[int], error){
		"Map": func(opts ...maptask.MapOption) (*maptask.Results[int], error) {
			return maptask.Map(ctx, counted, in, opts...)
		},
		"MapSeq": func(opts ...maptask.MapOption) (*maptask.Results[int], error) {
			return maptask.MapSeq(ctx, counted, func(yield func(int) bool) {
				for _, x := range in {
					if !yield(x) {
						return
					}
				}
			}, opts...)
		},
	} {
		var mu sync.Mutex
		seen := make(map[int]maptask.Result[int], n)
		res, err := run(maptask.Concurrency(4), maptask.RunAll(), maptask.DiscardResults(),
			maptask.OnResult(func(i int, r maptask.Result[int]) {
				mu.Lock()
				defer mu.Unlock()
				seen[i] = r
			}))
		var me *maptask.MapError
		if !errors.As(err, &me) || me.Succeeded != n-n/1000 || len(me.Failures) != n/1000 {
			t.Fatalf("%s: err %v", name, err)
		}
		if len(seen) != n || res.Len() != n || res.Succeeded() != n-n/1000 {
			t.Fatalf("%s: %d reported, Len %d, %d succeeded", name, len(seen), res.Len(), res.Succeeded())
		}
		for i, x := range in {
			r, got := seen[i], res.At(i)
			if x < 0 {
				if r.Err == nil || got.Err == nil || me.Failures[i] == nil {
					t.Fatalf("%s: element %d: reported %+v, Results %+v", name, i, r, got)
				}
				continue
			}
			if r.Err != nil || r.Value != x+1 || r.Attempts != 1 || got.Err != nil || got.Value != 0 {
				t.Fatalf("%s: element %d: reported %+v, Results %+v", name, i, r, got)
			}
		}
		if v := res.Values(); len(v) != n || v[0] != 0 {
			t.Fatalf("%s: Values %d long, first %d", name, len(v), v[0])
		}
	}
}

// A context a task keeps after it returns still names its own attempt:
// attempt contexts are never reused.
func TestKeptContextsKeepTheirAttempt(t *testing.T) {
	const n = 5000
	ctxs := make([]context.Context, n)
	keep := maptask.NewTask("test.keepctx", func(ctx context.Context, x int) (int, error) {
		ctxs[x] = ctx
		return x, nil
	})
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	if _, err := maptask.Map(context.Background(), keep, in, maptask.Concurrency(3)); err != nil {
		t.Fatal(err)
	}
	for i, ctx := range ctxs {
		if idx, a, ok := maptask.AttemptFromContext(ctx); !ok || idx != i || a != 1 {
			t.Fatalf("context of element %d: %d %d %v", i, idx, a, ok)
		}
	}
}

func TestResultsAtOutOfRangePanics(t *testing.T) {
	res, err := maptask.Map(context.Background(), counted, []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{-1, 2} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("At(%d) did not panic", i)
				}
			}()
			res.At(i)
		}()
	}
}
