// Command store measures what reading a file store costs: listing many
// executions (what `maptask ls` does: ScanExecutions, then each execution's
// verdict), and loading a finished execution of many elements: what
// `maptask status` does (its spec, LoadState without outputs: the
// checkpoint; its verdict), the whole journal read record by record
// (LoadRecords, what status did before checkpoints), and a resume (Map
// again on the finished execution, which runs nothing), reading one value,
// then every value (decoded when first read). Each phase runs in a process
// of its own, so that its peak RSS is its own.
//
//	go run ./bench/cmd/store                    # ls at 1k/2k/4k/8k, then 1M status and resume
//	go run ./bench/cmd/store -ls 1000,8000 -n 0 # only ls
//
// bench/store.sh builds and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/bench"
	"github.com/maptask/maptask/store"
)

const execID = "big"

func main() {
	maptask.Init()
	phase := flag.String("phase", "", "internal: the phase this process runs (ls-create, ls, create, status, journal, resume, resume-all)")
	dir := flag.String("store", "", "internal: the store directory of the phase")
	lsCounts := flag.String("ls", "1000,2000,4000,8000", "executions to list, comma-separated; empty for none")
	n := flag.Int("n", 1_000_000, "elements of the execution to load; 0 for none")
	cpuprofile := flag.String("cpuprofile", "", "internal: write the phase's CPU profile to this file")
	flag.Parse()
	ctx := context.Background()
	if *phase != "" {
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			check(err)
			check(pprof.StartCPUProfile(f))
			defer pprof.StopCPUProfile()
		}
		if err := run(ctx, *phase, *dir, *n); err != nil {
			fmt.Fprintln(os.Stderr, *phase+":", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		return
	}
	tmp, err := os.MkdirTemp("", "maptask-bench-store")
	check(err)
	defer os.RemoveAll(tmp)
	if *lsCounts != "" {
		for _, c := range strings.Split(*lsCounts, ",") {
			k, err := strconv.Atoi(c)
			check(err)
			d := filepath.Join(tmp, "ls"+c)
			child("ls-create", d, k, "")
			child("ls", d, k, fmt.Sprintf("ls of %5d executions:", k))
			check(os.RemoveAll(d))
		}
	}
	if *n > 0 {
		d := filepath.Join(tmp, "big")
		child("create", d, *n, fmt.Sprintf("durable map of %d elements (in-process):", *n))
		child("status", d, *n, "status of it (checkpoint + verdict):")
		child("journal", d, *n, "its whole journal (LoadRecords):")
		child("resume", d, *n, "resume of it (Map again, nothing to run):")
		child("resume-all", d, *n, "resume, then reading every value:")
	}
}

// child runs a phase in a process of its own and prints its report.
func child(phase, dir string, n int, label string) {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "-phase", phase, "-store", dir, "-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", phase, err)
		os.Exit(1)
	}
	if label != "" {
		fmt.Printf("%-45s %s", label, out)
	}
}

func run(ctx context.Context, phase, dir string, n int) error {
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	switch phase {
	case "ls-create":
		for i := range n {
			id := fmt.Sprintf("exec-%06d", i)
			spec := store.Spec{ID: id, Task: "command", Codec: "json", N: 1, Created: time.Now().UTC()}
			if err := st.CreateExecution(ctx, spec, []byte(`"x"`), []uint64{0, 3}, nil); err != nil {
				return err
			}
			rec := []store.Record{{Index: 0, Status: store.StatusSucceeded, Attempts: 1, Time: time.Now().UnixNano()}}
			if err := st.AppendRecords(ctx, id, "d1", rec); err != nil {
				return err
			}
			if err := st.PutVerdict(ctx, id, store.Verdict{Outcome: "succeeded", Required: 1, Succeeded: 1, Time: time.Now().UTC()}); err != nil {
				return err
			}
		}
		return nil
	case "ls":
		specs, bad, err := st.ScanExecutions(ctx)
		if err != nil {
			return err
		}
		if len(bad) > 0 || len(specs) != n {
			return fmt.Errorf("listed %d executions (%d bad), want %d", len(specs), len(bad), n)
		}
		listed := time.Since(start)
		for _, spec := range specs {
			if _, err := st.LoadVerdict(ctx, spec.ID); err != nil {
				return err
			}
		}
		report(start, fmt.Sprintf(" (ScanExecutions %v)", listed.Round(time.Millisecond)))
		return nil
	case "create":
		_, err := maptask.Map(ctx, bench.Double, bench.Ints(n), maptask.Concurrency(8), maptask.StoreURL(dir), maptask.Execution(execID))
		if err != nil {
			return err
		}
	case "status":
		spec, err := st.LoadSpec(ctx, execID)
		if err != nil {
			return err
		}
		state, _, err := st.LoadState(ctx, execID, spec.N, false)
		if err != nil {
			return err
		}
		if c := state.Counts(); c.Succeeded != n {
			return fmt.Errorf("%d succeeded, want %d", c.Succeeded, n)
		}
		if _, err := st.LoadVerdict(ctx, execID); err != nil {
			return err
		}
		report(start, fmt.Sprintf(" (from the checkpoint: %v)", state.FromCheckpoint()))
		return nil
	case "journal":
		recs, err := st.LoadRecords(ctx, execID, n)
		if err != nil {
			return err
		}
		if recs[n-1].Status != store.StatusSucceeded {
			return fmt.Errorf("element %d: %q", n-1, recs[n-1].Status)
		}
	case "resume", "resume-all":
		res, err := maptask.Map(ctx, bench.Double, bench.Ints(n), maptask.Concurrency(8), maptask.StoreURL(dir), maptask.Execution(execID))
		if err != nil {
			return err
		}
		if res.At(n-1).Value != 2*(n-1) {
			return fmt.Errorf("element %d: %v", n-1, res.At(n-1).Value)
		}
		if phase == "resume-all" {
			for i, r := range res.All() {
				if r.Err != nil || r.Value != 2*i {
					return fmt.Errorf("element %d: %+v", i, r)
				}
			}
		}
	default:
		return fmt.Errorf("no phase %q", phase)
	}
	report(start, "")
	return nil
}

// report prints the time since start and the process's peak RSS.
func report(start time.Time, extra string) {
	elapsed := time.Since(start)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("%8v  CPU %8v  peak RSS %6.1f MiB%s\n", elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(ru.Maxrss)/1024, extra)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
