// Command ratios runs maptask's in-process benchmarks beside their peers in one
// process and prints the ratios the project tracks:
//
//   - Map over 1,000,000 ints at concurrency 8 vs errgroup.SetLimit(8): time
//     ratio (goal <= 1.5) and bytes allocated per element (goal <= 256);
//   - a durable execution in a file store over 100,000 ints vs the same map in
//     memory: the overhead of durability as a time ratio.
package main

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/maptask/maptask/bench"
)

func main() {
	n := flag.Int("n", 1_000_000, "elements for the errgroup comparison")
	nd := flag.Int("durable-n", 100_000, "elements for the durability comparison")
	flag.Parse()

	in := bench.Ints(*n)
	m := testing.Benchmark(func(b *testing.B) { bench.MapInProcess(b, in, 8, nil) })
	g := testing.Benchmark(func(b *testing.B) { bench.Errgroup(b, in, 8) })
	ratio := float64(m.NsPerOp()) / float64(g.NsPerOp())
	perElem := float64(m.AllocedBytesPerOp()) / float64(*n)
	fmt.Printf("in-process, %d ints, concurrency 8\n", *n)
	fmt.Printf("  maptask.Map  %8.1f ms  %6.1f B/element  %5.2f allocs/element\n", ms(m), perElem, float64(m.AllocsPerOp())/float64(*n))
	fmt.Printf("  errgroup     %8.1f ms  %6.1f B/element  %5.2f allocs/element\n", ms(g), float64(g.AllocedBytesPerOp())/float64(*n), float64(g.AllocsPerOp())/float64(*n))
	fmt.Printf("  time ratio maptask/errgroup: %.2f (goal <= 1.5)   bytes/element: %.0f (goal <= 256)\n", ratio, perElem)

	ind := bench.Ints(*nd)
	mem := testing.Benchmark(func(b *testing.B) { bench.MapInProcess(b, ind, 8, nil) })
	dur := testing.Benchmark(func(b *testing.B) { bench.MapDurable(b, ind, 8) })
	fmt.Printf("durable execution (file store), %d ints, concurrency 8\n", *nd)
	fmt.Printf("  in memory    %8.1f ms\n  durable      %8.1f ms\n", ms(mem), ms(dur))
	fmt.Printf("  time ratio durable/in-memory: %.2f\n", float64(dur.NsPerOp())/float64(mem.NsPerOp()))
	if ratio > 1.5 || perElem > 256 {
		fmt.Fprintln(os.Stderr, "ratios: goal missed")
	}
}

func ms(r testing.BenchmarkResult) float64 { return float64(r.NsPerOp()) / 1e6 }
