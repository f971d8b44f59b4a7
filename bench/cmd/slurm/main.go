// Command slurm measures maptask on a real Slurm cluster (start one with
// hack/slurm.sh): 100 trivial elements through maptask (one array task each,
// like the peer) beside a hand-written `sbatch --array` script doing the
// same trivial work, in the same run; then 5,000 elements with batching.
//
//	eval "$(hack/slurm.sh start)"; go run ./bench/cmd/slurm
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/slurm"
	"github.com/maptask/maptask/bench"
)

func main() {
	maptask.Init()
	n := flag.Int("n", 100, "elements for the comparison with a hand-written array")
	big := flag.Int("big", 5000, "elements for the batching run")
	j := flag.Int("j", 8, "concurrency")
	flag.Parse()
	dir, err := os.MkdirTemp("", "maptask-bench-slurm")
	check(err)
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b := &slurm.Backend{WorkDir: filepath.Join(dir, "work"), Poll: 250 * time.Millisecond}

	// The peer: one array task per element, running `true`.
	script := filepath.Join(dir, "peer.sh")
	check(os.WriteFile(script, []byte("#!/bin/sh\ntrue\n"), 0o755))
	// It is watched the way maptask watches its arrays (squeue every 250ms), so
	// the ratio compares the work, not two polling intervals.
	start := time.Now()
	out, err := exec.Command("sbatch", "--parsable", fmt.Sprintf("--array=0-%d%%%d", *n-1, *j),
		"--output=/dev/null", script).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sbatch: %v: %s\n", err, out)
		os.Exit(1)
	}
	id := strings.TrimSpace(string(out))
	for {
		q, _ := exec.Command("squeue", "--noheader", "--array", "--jobs="+id, "--states=PENDING,RUNNING,CONFIGURING,COMPLETING", "--format=%i").Output()
		if strings.TrimSpace(string(q)) == "" {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	peer := time.Since(start)

	start = time.Now()
	res, err := maptask.Map(ctx, bench.Double, bench.Ints(*n), maptask.Backend(b), maptask.Concurrency(*j),
		maptask.BatchSize(1), maptask.StoreURL(filepath.Join(dir, "store")), maptask.Execution("slurm-small"))
	check(err)
	ours := time.Since(start)
	if res.Succeeded() != *n {
		panic("not every element succeeded")
	}

	start = time.Now()
	res, err = maptask.Map(ctx, bench.Double, bench.Ints(*big), maptask.Backend(b), maptask.Concurrency(*j),
		maptask.StoreURL(filepath.Join(dir, "store")), maptask.Execution("slurm-big"))
	check(err)
	large := time.Since(start)
	tasks, _ := filepath.Glob(filepath.Join(dir, "work", "slurm-big", "*.tasks"))

	fmt.Printf("%d trivial elements at concurrency %d on Slurm\n", *n, *j)
	fmt.Printf("  hand-written sbatch --array    %v\n", peer.Round(time.Millisecond))
	fmt.Printf("  maptask (one task per element) %v\n", ours.Round(time.Millisecond))
	fmt.Printf("  ratio maptask/hand-written: %.2f (goal <= 1.15)\n", ours.Seconds()/peer.Seconds())
	fmt.Printf("%d elements with batching (%d arrays): %v, %.0f elements/s\n", *big, len(tasks), large.Round(time.Millisecond), float64(*big)/large.Seconds())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
