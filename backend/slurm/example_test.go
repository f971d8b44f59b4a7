package slurm_test

import (
	"context"
	"fmt"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/slurm"
)

var score = maptask.NewTask("example.score", func(_ context.Context, path string) (float64, error) {
	return float64(len(path)), nil // stands for real work on a compute node
}, maptask.Retries(2), maptask.Resources(maptask.ResourceSpec{Requests: maptask.ResourceList{CPU: "4", Memory: "8Gi"}}))

// A map as Slurm job arrays: at most 64 array tasks at once, the program itself
// as the worker on the compute nodes, the store on a shared filesystem.
func ExampleBackend() {
	b := &slurm.Backend{Partition: "batch", Account: "proj42", WorkDir: "/shared/maptask/work"}
	res, err := maptask.Map(context.Background(), score, []string{"a.csv", "b.csv"},
		maptask.Backend(b), maptask.Concurrency(64), maptask.MinSuccessRatio(0.95),
		maptask.StoreURL("/shared/maptask/store"), maptask.Execution("scores-2026-11"))
	fmt.Println(res.Len(), err)
}
