// Package bench measures maptask against the peers its users compare it with,
// in the same process and run: errgroup for in-process maps, and the in-memory
// map for the cost of durability. Run `go run ./bench/cmd/ratios` for the
// ratios, or `go test -bench . ./bench` for the raw numbers.
package bench

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/maptask/maptask"
)

// Double is the trivial task every benchmark maps.
var Double = maptask.NewTask("bench.double", func(_ context.Context, x int) (int, error) { return 2 * x, nil })

// Ints returns 0..n-1.
func Ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// MapInProcess maps Double over in with the given concurrency, b.N times.
// opts, when not nil, gives extra options for each run (its argument counts runs).
func MapInProcess(b *testing.B, in []int, concurrency int, opts func(run int) []maptask.MapOption) {
	ctx := context.Background()
	b.ReportAllocs()
	run := 0
	for b.Loop() {
		o := []maptask.MapOption{maptask.Concurrency(concurrency)}
		if opts != nil {
			o = append(o, opts(run)...)
		}
		run++
		res, err := maptask.Map(ctx, Double, in, o...)
		if err != nil || res.At(len(in)-1).Value != 2*(len(in)-1) {
			b.Fatalf("map: %v", err)
		}
	}
}

// Errgroup does the same work as MapInProcess with errgroup.SetLimit.
func Errgroup(b *testing.B, in []int, concurrency int) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out := make([]int, len(in))
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for i, x := range in {
			g.Go(func() error {
				v, err := Double.Call(ctx, x)
				out[i] = v
				return err
			})
		}
		if err := g.Wait(); err != nil || out[len(in)-1] != 2*(len(in)-1) {
			b.Fatalf("errgroup: %v", err)
		}
	}
}

// MapDurable is MapInProcess as a durable execution in a file store: every run
// creates a new execution, encodes and stores the inputs, journals every
// element's output and writes the verdict.
func MapDurable(b *testing.B, in []int, concurrency int) {
	dir := b.TempDir()
	MapInProcess(b, in, concurrency, func(run int) []maptask.MapOption {
		return []maptask.MapOption{maptask.StoreURL("file://" + dir), maptask.Execution(fmt.Sprintf("bench-%d", run))}
	})
}
