package maptask_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/store"
)

var cachedPlusOne = maptask.NewTask("test.discard.cached", func(_ context.Context, x int) (int, error) {
	return x + 1, nil
}, maptask.Cache("v1"))

// With DiscardResults and a cached task, values are dropped as elements
// finish while the flusher writes their cache entries later: the entries are
// encoded when the elements finish. The map must not crash, and the cache
// must get every value. (It once read dropped values: a panic.)
//
// The map runs in a child process: the crash is a panic in the flusher's
// goroutine, which would end this package's whole test binary.
func TestDiscardResultsWithCache(t *testing.T) {
	if os.Getenv("MAPTASK_TEST_DISCARD_CACHE_CHILD") == "1" {
		discardResultsWithCache(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiscardResultsWithCache$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAPTASK_TEST_DISCARD_CACHE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		if i := strings.Index(msg, "panic:"); i >= 0 {
			msg = msg[i:]
		}
		if len(msg) > 1500 {
			msg = msg[:1500]
		}
		t.Fatalf("Map with DiscardResults and a cached task: %v\n%s", err, msg)
	}
}

func discardResultsWithCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := make([]int, 3*4096)
	for i := range in {
		in[i] = i
	}
	res, err := maptask.Map(ctx, cachedPlusOne, in, maptask.StoreURL(dir), maptask.Concurrency(4), maptask.DiscardResults())
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded() != len(in) {
		t.Fatalf("%d succeeded", res.Succeeded())
	}
	// Every value went into the cache: a second map runs nothing and reads
	// them back.
	res, err = maptask.Map(ctx, cachedPlusOne, in, maptask.StoreURL(dir), maptask.Concurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.All() {
		if !r.Cached || r.Value != i+1 {
			t.Fatalf("element %d: %+v: its cache entry is wrong", i, r)
		}
	}
}

// A resumed map reads an undecodable stored output as the zero value with an
// Err naming the element (TestResumedValuesDecodedWhenRead). With OnResult
// it must do the same: the element is reported, with that error, and the
// map runs; the other elements are unaffected.
func TestResumeWithOnResultUndecodableOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := make([]int, 100)
	for i := range in {
		in[i] = i
	}
	opts := []maptask.MapOption{maptask.StoreURL(dir), maptask.Execution("lazy-feed"), maptask.Concurrency(4)}
	if _, err := maptask.Map(ctx, counted, in, opts...); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := []store.Record{{Index: 50, Status: store.StatusSucceeded, Attempts: 1, Output: []byte(`"oops"`), Time: time.Now().UnixNano()}}
	if err := st.AppendRecords(ctx, "lazy-feed", "by-hand", bad); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var mu sync.Mutex
	seen := map[int]maptask.Result[int]{}
	res, err := maptask.Map(ctx, counted, in, append(opts, maptask.OnResult(func(i int, r maptask.Result[int]) {
		mu.Lock()
		seen[i] = r
		mu.Unlock()
	}))...)
	if err != nil {
		t.Fatalf("resume with OnResult refused because element 50's stored output does not decode: %v", err)
	}
	if r := res.At(50); r.Err == nil || !strings.Contains(r.Err.Error(), "element 50") || r.Value != 0 {
		t.Errorf("element 50: %+v", r)
	}
	if r := seen[50]; r.Err == nil || r.Value != 0 {
		t.Errorf("element 50 reported as %+v", r)
	}
	if r := seen[49]; r.Err != nil || r.Value != 50 {
		t.Errorf("element 49 reported as %+v", r)
	}
}
