// Command procmap maps a slow Go task over 200 elements on the process backend,
// in batches of 5: the fault suite kills its workers while it runs.
//
//	procmap STORE_DIR
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/process"
)

var slow = maptask.NewTask("faults.slow", func(_ context.Context, x int) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return 2 * x, nil
})

func main() {
	maptask.Init()
	inputs := make([]int, 200)
	for i := range inputs {
		inputs[i] = i
	}
	res, err := maptask.Map(context.Background(), slow, inputs, maptask.Backend(process.New()),
		maptask.Concurrency(4), maptask.BatchSize(5), maptask.StoreURL(os.Args[1]), maptask.Execution("procmap"),
		maptask.SystemRetryBackoff(10*time.Millisecond))
	lost := 0
	if res != nil {
		for _, r := range res.All() {
			lost += r.Attempts - 1
		}
	}
	fmt.Printf("extra attempts %d\n", lost)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
