// Command noinit is a worker program that forgets maptask.Init: the mistake
// that once made every worker start a map of its own, without end. The process
// backend's tests run it inside a pids limit. Each start appends a line to
// $NOINIT_LOG, so the test can count processes. With NOINIT_PROBE_ONLY set, it
// calls Init only for the driver's start-up check, so its real workers reach
// Map without Init (the driver's second line of defence).
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/process"
)

var double = maptask.NewTask("noinit.double", func(_ context.Context, x int) (int, error) { return 2 * x, nil })

func main() {
	if f, err := os.OpenFile(os.Getenv("NOINIT_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		fmt.Fprintln(f, os.Getpid())
		f.Close()
	}
	// A safety net for machines without a pids cgroup, should the guard ever
	// break: never more than 200 starts.
	if data, err := os.ReadFile(os.Getenv("NOINIT_LOG")); err == nil && bytes.Count(data, []byte("\n")) > 200 {
		fmt.Fprintln(os.Stderr, "noinit: more than 200 processes started: giving up")
		os.Exit(99)
	}
	if os.Getenv("NOINIT_PROBE_ONLY") != "" && os.Getenv("MAPTASK_PROBE") != "" {
		maptask.Init()
	}
	inputs := make([]int, 200)
	for i := range inputs {
		inputs[i] = i
	}
	_, err := maptask.Map(context.Background(), double, inputs,
		maptask.Backend(process.New()), maptask.StoreURL(os.Getenv("NOINIT_STORE")), maptask.BatchSize(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
