package maptask_test

import (
	"context"
	"iter"
	"os"
	"path/filepath"
	"testing"

	"github.com/maptask/maptask"
)

// Map and MapSeq never return nil results: a map that cannot start returns
// empty ones, which can be read before the error is checked.
func TestResultsNeverNil(t *testing.T) {
	ctx := context.Background()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	seq := func(yield func(int) bool) { yield(1) }
	for name, run := range map[string]func() (*maptask.Results[int], error){
		"nil task":      func() (*maptask.Results[int], error) { return maptask.Map[int, int](ctx, nil, []int{1}) },
		"nil task, seq": func() (*maptask.Results[int], error) { return maptask.MapSeq[int, int](ctx, nil, seq) },
		"bad option": func() (*maptask.Results[int], error) {
			return maptask.Map(ctx, counted, []int{1}, maptask.Concurrency(-1))
		},
		"bad option, seq": func() (*maptask.Results[int], error) {
			return maptask.MapSeq(ctx, counted, seq, maptask.Concurrency(-1))
		},
		"store not opened": func() (*maptask.Results[int], error) {
			return maptask.Map(ctx, counted, []int{1}, maptask.Execution("x"), maptask.StoreURL(filepath.Join(notDir, "store")))
		},
		"store not opened, seq": func() (*maptask.Results[int], error) {
			return maptask.MapSeq(ctx, counted, iter.Seq[int](seq), maptask.Execution("x"), maptask.StoreURL(filepath.Join(notDir, "store")))
		},
	} {
		res, err := run()
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if res == nil {
			t.Errorf("%s: nil results", name)
			continue
		}
		n := 0
		for range res.All() {
			n++
		}
		if res.Len() != 0 || n != 0 || len(res.Values()) != 0 || res.Succeeded() != 0 {
			t.Errorf("%s: results not empty: Len %d, %d from All", name, res.Len(), n)
		}
	}
	var zero maptask.Results[int]
	if zero.Len() != 0 || zero.Succeeded() != 0 || len(zero.Values()) != 0 {
		t.Error("the zero Results is not empty")
	}
	if res, err := maptask.Map(ctx, counted, nil); err != nil || res == nil || res.Len() != 0 {
		t.Errorf("no inputs: %v, %v", res, err)
	}
}
