package process_test

import (
	"context"
	"fmt"
	"os"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/process"
)

// Tasks are declared at package level so that the worker processes, which run
// this same program, register them too.
var cube = maptask.NewTask("example.cube", func(_ context.Context, x int) (int, error) { return x * x * x, nil })

// Elements run in worker processes: this program started again in worker mode.
// A real program calls maptask.Init() first thing in main; here TestMain does.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "maptask-example")
	defer os.RemoveAll(dir)
	res, err := maptask.Map(context.Background(), cube, []int{1, 2, 3, 4, 5},
		maptask.Backend(process.New()), maptask.Concurrency(2), maptask.BatchSize(2), maptask.StoreURL(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Values())
	// Output: [1 8 27 64 125]
}
