package kubernetes

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/maptask/maptask/backend"
)

// testJob is a created Job of n indexes, done of them final, running at
// parallelism with active pods.
func testJob(n, done, parallelism, active int) *kjob {
	kj := &kjob{tasks: make([][]backend.Attempt, n), final: map[int]bool{}, active: map[types.UID]bool{},
		parallelism: parallelism, created: true}
	for i := range done {
		kj.final[i] = true
	}
	for i := range active {
		kj.active[types.UID(fmt.Sprint(i))] = true
	}
	return kj
}

// The parallelism each Job takes under a changed bound: never below its
// active pods, excess off the newest Jobs, room to the oldest.
func TestParallelisms(t *testing.T) {
	for _, c := range []struct {
		name  string
		jobs  []*kjob
		fixed []bool
		bound int
		want  []int
	}{
		{"lower, all active", []*kjob{testJob(10, 0, 4, 4)}, nil, 2, []int{4}},
		{"lower, one finished", []*kjob{testJob(10, 1, 4, 3)}, nil, 2, []int{3}},
		{"lower, reached", []*kjob{testJob(10, 3, 4, 1)}, nil, 2, []int{2}},
		{"lower to one", []*kjob{testJob(10, 3, 3, 0)}, nil, 1, []int{1}},
		{"raise", []*kjob{testJob(10, 0, 2, 2)}, nil, 5, []int{5}},
		{"raise past the indexes left", []*kjob{testJob(10, 8, 2, 2)}, nil, 5, []int{2}},
		{"raise, oldest first", []*kjob{testJob(3, 0, 2, 2), testJob(5, 0, 1, 1)}, nil, 6, []int{3, 3}},
		{"lower, newest first", []*kjob{testJob(5, 0, 3, 3), testJob(5, 0, 3, 1)}, nil, 2, []int{3, 1}},
		{"lower, newest to zero", []*kjob{testJob(5, 0, 3, 2), testJob(5, 0, 3, 0)}, nil, 2, []int{2, 0}},
		{"unchanged", []*kjob{testJob(4, 0, 2, 2), testJob(4, 0, 2, 2)}, nil, 4, []int{2, 2}},
		{"draining Job keeps its parallelism", []*kjob{testJob(6, 4, 4, 2)}, nil, 4, []int{4}},
		{"room after a drained Job", []*kjob{testJob(2, 2, 2, 0), testJob(4, 0, 1, 1)}, nil, 2, []int{2, 2}},
		{"unbounded", []*kjob{testJob(10, 0, 2, 2), testJob(3, 0, 3, 0)}, nil, 0, []int{10, 3}},
		{"fixed Job kept", []*kjob{testJob(10, 0, 2, 2), testJob(10, 0, 2, 0)}, []bool{true, false}, 6, []int{2, 4}},
		{"fixed Job not cut", []*kjob{testJob(10, 0, 4, 0), testJob(10, 0, 4, 0)}, []bool{false, true}, 2, []int{0, 4}},
	} {
		fixed := c.fixed
		if fixed == nil {
			fixed = make([]bool, len(c.jobs))
		}
		if got := parallelisms(c.jobs, fixed, c.bound); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
