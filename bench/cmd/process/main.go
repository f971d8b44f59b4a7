// Command process maps a Go task over 100,000 elements through the process
// backend (worker processes, batching, a durable file store) and reports the
// time, throughput, worker processes started and the driver's peak memory, next
// to the same map in-process.
//
//	go run ./bench/cmd/process [-n 100000] [-j 8] [-batch 0] [-seconds]
//
// -seconds prints only the seconds the process-backend map took (for
// bench/process.sh, which runs it beside xargs over a tiny binary).
//
// -j 0 runs with default options (no Concurrency given), which the process
// backend bounds at backend.LocalProcessLimit; the peak number of worker
// processes alive at once is sampled from /proc.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/process"
	"github.com/maptask/maptask/bench"
)

func main() {
	maptask.Init() // this program is also its own worker
	n := flag.Int("n", 100_000, "elements")
	j := flag.Int("j", 8, "concurrency (worker processes at once); 0: default options")
	batch := flag.Int("batch", 0, "elements per worker process (0: chosen by maptask)")
	seconds := flag.Bool("seconds", false, "print only the seconds the process-backend map took")
	flag.Parse()

	dir, err := os.MkdirTemp("", "maptask-bench-process")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	in := bench.Ints(*n)
	ctx := context.Background()

	b := process.New()
	if *batch == 0 {
		// What Map chooses once it asks the backend (backend.BatchSizeFor).
		*batch = backend.BatchSizeFor(b, *n, *j)
	}
	opts := []maptask.MapOption{maptask.Backend(b), maptask.BatchSize(*batch),
		maptask.StoreURL(dir), maptask.Execution("process-bench")}
	if *j > 0 {
		opts = append(opts, maptask.Concurrency(*j))
	}
	peak, stopSampling := new(atomic.Int64), func() {}
	if !*seconds {
		peak, stopSampling = sampleChildren()
	}
	start := time.Now()
	res, err := maptask.Map(ctx, bench.Double, in, opts...)
	elapsed := time.Since(start)
	stopSampling()
	if err != nil || res.At(*n-1).Value != 2*(*n-1) {
		fmt.Fprintln(os.Stderr, "map failed:", err)
		os.Exit(1)
	}
	if *seconds {
		fmt.Printf("%.3f\n", elapsed.Seconds())
		return
	}
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	workers := countWorkers(dir)

	start = time.Now()
	if _, err := maptask.Map(ctx, bench.Double, in, maptask.Concurrency(*j)); err != nil {
		panic(err)
	}
	inproc := time.Since(start)

	fmt.Printf("%d elements through the process backend, concurrency %d, batches of %d\n", *n, *j, *batch)
	fmt.Printf("  time %v, %.0f elements/s, %d worker processes, at most %d alive at once\n", elapsed.Round(time.Millisecond), float64(*n)/elapsed.Seconds(), workers, peak.Load())
	cpu := func(ru *syscall.Rusage) time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Round(time.Millisecond)
	}
	fmt.Printf("  CPU (user+system): driver %v, workers %v\n", cpu(&self), cpu(&children))
	fmt.Printf("  driver peak RSS %.1f MiB; largest worker peak RSS %.1f MiB\n", float64(self.Maxrss)/1024, float64(children.Maxrss)/1024)
	fmt.Printf("  same map in-process: %v (process backend / in-process = %.0fx)\n", inproc.Round(time.Millisecond), elapsed.Seconds()/inproc.Seconds())
}

// sampleChildren counts this process's children every few milliseconds and
// keeps the largest count, until stop is called. It reads the kernel's list
// of each thread's children (/proc/self/task/*/children), not all of /proc,
// which cost the driver a seventh of its CPU.
func sampleChildren() (peak *atomic.Int64, stop func()) {
	peak = new(atomic.Int64)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			lists, _ := filepath.Glob("/proc/self/task/*/children")
			n := int64(0)
			for _, l := range lists {
				data, _ := os.ReadFile(l)
				n += int64(len(strings.Fields(string(data))))
			}
			if n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	return peak, func() { close(done); <-finished }
}

// countWorkers counts the journal writers the workers left: one per process.
// The journal is in the directory of the execution's creation
// (executions/<id>/inputs-<random>/journal, store format 2).
func countWorkers(dir string) int {
	journals, _ := filepath.Glob(dir + "/executions/process-bench/inputs-*/journal")
	n := 0
	for _, j := range journals {
		entries, _ := os.ReadDir(j)
		n += len(entries)
	}
	return n
}
