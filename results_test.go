package maptask_test

import (
	"context"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/store"
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

// A resumed execution's stored values are decoded when read, from any
// goroutine; one that cannot be decoded reads as the zero value with an
// error naming it, and the others are unaffected.
func TestResumedValuesDecodedWhenRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := make([]int, 10000) // three chunks of values
	for i := range in {
		in[i] = i
	}
	opts := []maptask.MapOption{maptask.StoreURL(dir), maptask.Execution("lazy"), maptask.Concurrency(8)}
	if _, err := maptask.Map(ctx, counted, in, opts...); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := []store.Record{{Index: 5000, Status: store.StatusSucceeded, Attempts: 1, Output: []byte(`"oops"`), Time: time.Now().UnixNano()}}
	if err := st.AppendRecords(ctx, "lazy", "by-hand", bad); err != nil {
		t.Fatal(err)
	}
	st.Close()
	calls.Store(0)
	res, err := maptask.Map(ctx, counted, in, opts...)
	if err != nil || calls.Load() != 0 {
		t.Fatalf("resume: %v, %d calls", err, calls.Load())
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, r := range res.All() {
				if i == 5000 {
					if r.Err == nil || !strings.Contains(r.Err.Error(), `execution "lazy": decoding the stored output of element 5000`) || r.Value != 0 {
						t.Errorf("element 5000: %+v", r)
					}
					continue
				}
				if r.Err != nil || r.Value != i+1 || !r.Cached || r.Attempts != 1 {
					t.Errorf("element %d: %+v", i, r)
					return
				}
			}
		})
	}
	wg.Wait()
	if v := res.Values(); v[5000] != 0 || v[4999] != 5000 || v[9999] != 10000 {
		t.Errorf("values: %d %d %d", v[4999], v[5000], v[9999])
	}
}
