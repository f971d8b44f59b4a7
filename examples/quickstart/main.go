// Quickstart maps a task over 2,000 inputs with a concurrency limit, a failure
// tolerance and retries, shows progress, and prints a summary. Run it twice: the
// second run resumes the durable execution and recomputes nothing.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/maptask/maptask"
)

// checksum pretends to fetch and hash a file: slow-ish, and flaky 5% of the time.
var checksum = maptask.NewTask("quickstart.checksum", func(ctx context.Context, n int) (uint64, error) {
	select {
	case <-time.After(time.Duration(1+rand.IntN(4)) * time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if rand.IntN(20) == 0 {
		return 0, errors.New("transient network error")
	}
	h := uint64(1469598103934665603)
	for i := range n%1000 + 1 {
		h = (h ^ uint64(i)) * 1099511628211
	}
	return h, nil
}, maptask.Retries(3), maptask.Timeout(5*time.Second))

func main() {
	inputs := make([]int, 2000)
	for i := range inputs {
		inputs[i] = i
	}
	store := filepath.Join(os.TempDir(), "maptask-quickstart")
	start := time.Now()
	res, err := maptask.Map(context.Background(), checksum, inputs,
		maptask.Concurrency(16),
		maptask.MinSuccessRatio(0.99),
		maptask.StoreURL(store),
		maptask.Execution("quickstart"),
		maptask.Progress(os.Stderr),
	)
	retried, cached := 0, 0
	for _, r := range res.All() {
		if r.Attempts > 1 {
			retried++
		}
		if r.Cached {
			cached++
		}
	}
	fmt.Printf("%d of %d elements succeeded in %v (%d needed retries, %d reused from an earlier run)\n",
		res.Succeeded(), res.Len(), time.Since(start).Round(time.Millisecond), retried, cached)
	if res.Len() > 42 { // empty when the map could not start (the error says why)
		fmt.Printf("element 42 -> %x\n", res.At(42).Value)
	}
	fmt.Printf("store: %s (inspect with: go run ./cmd/maptask status quickstart --store %s)\n", store, store)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
