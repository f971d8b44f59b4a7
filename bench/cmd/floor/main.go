// Command floor measures what maptask's in-process map costs per element
// against its peers and against the floor, in one run:
//
//   - maptask.Map, errgroup.SetLimit and conc/pool.WithMaxGoroutines mapping a
//     trivial task (2x) over 1M and 10M ints at concurrency 8, results kept
//     in memory;
//   - the floor: a bare pool of 8 goroutines over a pre-allocated slice, which
//     is what any map costs at least;
//   - MapSeq over 10M ints whose results are consumed as they finish
//     (OnResult, DiscardResults): its peak RSS, which should not grow with n.
//
// Each case runs in a process of its own (this program re-executes itself),
// so that its peak RSS (VmHWM) is its own; each runs -rounds times and the
// minimum of each measure is printed. Time is wall-clock; CPU is user+system
// time of the case's process, which a loaded machine inflates less.
//
//	go run ./bench/cmd/floor                 # every case, 3 rounds
//	go run ./bench/cmd/floor -sizes 1000000  # only 1M
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/bench"
)

const concurrency = 8

// measure is what one case reports from its own process.
type measure struct {
	Wall, CPU time.Duration
	Bytes     uint64 // allocated during the map
	HWM       uint64 // peak resident set, bytes
}

func main() {
	maptask.Init()
	child := flag.String("case", "", "internal: the case this process runs")
	n := flag.Int("n", 0, "internal: the elements of the case")
	sizes := flag.String("sizes", "1000000,10000000", "map sizes, comma-separated")
	seqN := flag.Int("seq", 10_000_000, "elements of the MapSeq case; 0 for none")
	rounds := flag.Int("rounds", 3, "runs of each case; the minimum is printed")
	flag.Parse()
	if *child != "" {
		m, err := runCase(*child, *n)
		if err != nil {
			fmt.Fprintln(os.Stderr, *child+":", err)
			os.Exit(1)
		}
		check(json.NewEncoder(os.Stdout).Encode(m))
		return
	}

	fmt.Printf("%d CPUs, concurrency %d, trivial task (2x), min of %d rounds; every case in a process of its own\n",
		runtime.NumCPU(), concurrency, *rounds)
	for _, f := range strings.Split(*sizes, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		size, err := strconv.Atoi(strings.TrimSpace(f))
		check(err)
		cases := []string{"floor", "maptask", "errgroup", "conc"}
		res := map[string]measure{}
		for _, c := range cases {
			res[c] = best(c, size, *rounds)
		}
		fmt.Printf("\n%d elements, results kept\n", size)
		fmt.Printf("  %-9s %9s %9s %10s %9s %11s\n", "", "wall ms", "cpu ms", "B/element", "peak MB", "ns/element")
		for _, c := range cases {
			m := res[c]
			fmt.Printf("  %-9s %9.1f %9.1f %10.1f %9.1f %11.1f\n", c, ms(m.Wall), ms(m.CPU),
				float64(m.Bytes)/float64(size), mb(m.HWM), float64(m.Wall)/float64(size))
		}
		mt, eg, fl := res["maptask"], res["errgroup"], res["floor"]
		fmt.Printf("  maptask overhead over the floor: %.1f ns/element wall, %.1f ns/element cpu\n",
			float64(mt.Wall-fl.Wall)/float64(size), float64(mt.CPU-fl.CPU)/float64(size))
		fmt.Printf("  ratios maptask/errgroup: wall %.2f  cpu %.2f  peak RSS %.2f\n",
			ratio(mt.Wall, eg.Wall), ratio(mt.CPU, eg.CPU), ratio(mt.HWM, eg.HWM))
		fmt.Printf("  ratios maptask/conc:     wall %.2f  cpu %.2f  peak RSS %.2f\n",
			ratio(mt.Wall, res["conc"].Wall), ratio(mt.CPU, res["conc"].CPU), ratio(mt.HWM, res["conc"].HWM))
		fmt.Printf("  ratios maptask/floor:    wall %.2f  cpu %.2f  peak RSS %.2f\n",
			ratio(mt.Wall, fl.Wall), ratio(mt.CPU, fl.CPU), ratio(mt.HWM, fl.HWM))
	}
	if *seqN > 0 {
		small := max(*seqN/10, 1)
		base := best("empty", 0, *rounds)
		s1, s2 := best("seq", small, *rounds), best("seq", *seqN, *rounds)
		fmt.Printf("\nMapSeq, results consumed as they finish (OnResult, DiscardResults)\n")
		fmt.Printf("  %-13s %9s %9s %9s\n", "", "wall ms", "cpu ms", "peak MB")
		fmt.Printf("  %-13s %9s %9s %9.1f\n", "empty process", "", "", mb(base.HWM))
		for _, r := range []struct {
			n int
			m measure
		}{{small, s1}, {*seqN, s2}} {
			fmt.Printf("  %-13d %9.1f %9.1f %9.1f\n", r.n, ms(r.m.Wall), ms(r.m.CPU), mb(r.m.HWM))
		}
		fmt.Printf("  peak RSS %d/%d elements: %.2f (flat in n: ~1)\n", *seqN, small, ratio(s2.HWM, s1.HWM))
	}
}

// best runs a case rounds times, each in a process of its own, and keeps the
// minimum of each measure.
func best(name string, n, rounds int) measure {
	var b measure
	for r := range rounds {
		m := spawn(name, n)
		if r == 0 {
			b = m
			continue
		}
		b.Wall, b.CPU, b.Bytes, b.HWM = min(b.Wall, m.Wall), min(b.CPU, m.CPU), min(b.Bytes, m.Bytes), min(b.HWM, m.HWM)
	}
	return b
}

func spawn(name string, n int) measure {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "-case", name, "-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "case %s %d: %v\n", name, n, err)
		os.Exit(1)
	}
	var m measure
	check(json.Unmarshal(out, &m))
	return m
}

func runCase(name string, n int) (measure, error) {
	ctx := context.Background()
	var in []int
	if name != "seq" && name != "empty" {
		in = bench.Ints(n)
	}
	var keep any // results stay reachable until measured
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	start := time.Now()
	var err error
	switch name {
	case "empty":
	case "floor":
		keep, err = floor(in)
	case "maptask":
		var res *maptask.Results[int]
		res, err = maptask.Map(ctx, bench.Double, in, maptask.Concurrency(concurrency))
		if err == nil && res.At(n-1).Value != 2*(n-1) {
			err = fmt.Errorf("wrong result")
		}
		keep = res
	case "errgroup":
		keep, err = errgroupMap(ctx, in)
	case "conc":
		keep, err = concMap(ctx, in)
	case "seq":
		err = seq(ctx, n)
	default:
		return measure{}, fmt.Errorf("unknown case")
	}
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	runtime.KeepAlive(in)
	if err != nil {
		return measure{}, err
	}
	return measure{Wall: wall, CPU: cpu, Bytes: after.TotalAlloc - before.TotalAlloc, HWM: peakRSS()}, nil
}

// floor is the least any in-process map can do: a fixed pool of goroutines,
// each over its own contiguous part of a pre-allocated slice.
func floor(in []int) ([]int, error) {
	out := make([]int, len(in))
	var wg sync.WaitGroup
	for w := range concurrency {
		lo, hi := w*len(in)/concurrency, (w+1)*len(in)/concurrency
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = 2 * in[i]
			}
		}()
	}
	wg.Wait()
	return out, nil
}

func errgroupMap(ctx context.Context, in []int) ([]int, error) {
	out := make([]int, len(in))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, x := range in {
		g.Go(func() error {
			v, err := Double(ctx, x)
			out[i] = v
			return err
		})
	}
	return out, g.Wait()
}

func concMap(ctx context.Context, in []int) ([]int, error) {
	out := make([]int, len(in))
	p := pool.New().WithContext(ctx).WithMaxGoroutines(concurrency)
	for i, x := range in {
		p.Go(func(ctx context.Context) error {
			v, err := Double(ctx, x)
			out[i] = v
			return err
		})
	}
	return out, p.Wait()
}

// Double is bench.Double's function, called directly by the peers.
func Double(_ context.Context, x int) (int, error) { return 2 * x, nil }

// seq maps over a generated sequence and sums the results as they finish:
// nothing of the elements needs to stay in memory.
func seq(ctx context.Context, n int) error {
	var sum int
	ints := func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
	_, err := maptask.MapSeq(ctx, bench.Double, ints, maptask.Concurrency(concurrency), maptask.DiscardResults(),
		maptask.OnResult(func(_ int, r maptask.Result[int]) { sum += r.Value }))
	if err == nil && sum != n*(n-1) {
		err = fmt.Errorf("sum %d, want %d", sum, n*(n-1))
	}
	return err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS reads VmHWM, the process's peak resident set.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		var ru syscall.Rusage
		check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return uint64(ru.Maxrss) * 1024
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			check(err)
			return kb * 1024
		}
	}
	return 0
}

func ratio[T time.Duration | uint64](a, b T) float64 { return float64(a) / float64(b) }
func ms(d time.Duration) float64                     { return float64(d) / 1e6 }
func mb(b uint64) float64                            { return float64(b) / (1 << 20) }
func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
