package maptask_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/maptask/maptask"
)

// Tasks are declared at package level, so every run of the program (including
// worker processes started by a backend) registers the same names.
var square = maptask.NewTask("example.square", func(_ context.Context, x int) (int, error) {
	return x * x, nil
}, maptask.Retries(2))

func ExampleMap() {
	res, err := maptask.Map(context.Background(), square, []int{1, 2, 3, 4}, maptask.Concurrency(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Values())
	// Output: [1 4 9 16]
}

var parse = maptask.NewTask("example.parse", func(_ context.Context, s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return 0, maptask.Permanent(fmt.Errorf("not a number: %q", s)) // retrying will not help
	}
	return n, nil
})

// A map that tolerates failures: 3 of 4 elements must succeed.
func ExampleMinSuccessRatio() {
	res, err := maptask.Map(context.Background(), parse, []string{"1", "two", "3", "4"}, maptask.MinSuccessRatio(0.75))
	fmt.Println("err:", err)
	for i, r := range res.All() {
		fmt.Println(i, r.Value, r.Err)
	}
	// Output:
	// err: <nil>
	// 0 1 <nil>
	// 1 0 not a number: "two"
	// 2 3 <nil>
	// 3 4 <nil>
}

// When the map fails its bar, the results come back with a *MapError.
func ExampleMapError() {
	res, err := maptask.Map(context.Background(), parse, []string{"1", "x", "y"}, maptask.MinSuccesses(2))
	var me *maptask.MapError
	if errors.As(err, &me) {
		fmt.Printf("%d of %d succeeded, %d required; failed: %d elements\n", me.Succeeded, me.Total, me.Required, len(me.Failures))
	}
	fmt.Println("kept:", res.At(0).Value)
	// Output:
	// 1 of 3 succeeded, 2 required; failed: 2 elements
	// kept: 1
}

// A bound value (here a tokenizer configuration) is shared by every element,
// like functools.partial in Flyte: it is encoded once per map, not per element.
type tokenizer struct{ Sep string }

var count = maptask.NewBoundTask("example.count", func(_ context.Context, tok tokenizer, line string) (int, error) {
	return len(strings.Split(line, tok.Sep)), nil
})

func ExampleNewBoundTask() {
	res, _ := maptask.Map(context.Background(), count.Bind(tokenizer{Sep: ","}), []string{"a,b", "c", "d,e,f"})
	fmt.Println(res.Values())
	// Output: [2 1 3]
}

// A durable execution resumes: elements that succeeded are not computed again.
func ExampleExecution() {
	dir, _ := os.MkdirTemp("", "maptask-example")
	defer os.RemoveAll(dir)
	opts := []maptask.MapOption{maptask.StoreURL(dir), maptask.Execution("squares-1")}

	maptask.Map(context.Background(), square, []int{1, 2, 3}, opts...)
	res, _ := maptask.Map(context.Background(), square, []int{1, 2, 3}, opts...) // resumes
	fmt.Println(res.Values(), res.At(0).Cached)
	// Output: [1 4 9] true
}

// MapSeq starts elements while the sequence is still being read.
func ExampleMapSeq() {
	numbers := func(yield func(int) bool) {
		for i := 1; i <= 5; i++ {
			if !yield(i) {
				return
			}
		}
	}
	res, _ := maptask.MapSeq(context.Background(), square, numbers, maptask.Concurrency(2))
	fmt.Println(res.Len(), res.Values())
	// Output: 5 [1 4 9 16 25]
}

func ExampleTask_WithOverrides() {
	patient := square.WithOverrides(maptask.Retries(5), maptask.Interruptible(),
		maptask.Resources(maptask.ResourceSpec{Requests: maptask.ResourceList{CPU: "500m", Memory: "1Gi"}}))
	res, _ := maptask.Map(context.Background(), patient, []int{7})
	fmt.Println(patient.Name(), res.At(0).Value)
	// Output: example.square 49
}

// OnResult hands over each element as soon as it is final, while Map runs: a
// caller can write outputs as they come instead of waiting for the end.
var double = maptask.NewTask("example.double", func(_ context.Context, x int) (int, error) {
	return 2 * x, nil
})

func ExampleOnResult() {
	sum := 0
	_, err := maptask.Map(context.Background(), double, []int{1, 2, 3, 4},
		maptask.OnResult(func(i int, r maptask.Result[int]) {
			sum += r.Value // calls come one at a time
		}))
	fmt.Println(sum, err)
	// Output: 20 <nil>
}

// RunAll runs every element even once the map cannot succeed any more: here
// all four inputs run although the first failure already decided the verdict.
var even = maptask.NewTask("example.even", func(_ context.Context, x int) (int, error) {
	if x%2 != 0 {
		return 0, fmt.Errorf("%d is odd", x)
	}
	return x, nil
})

func ExampleRunAll() {
	res, err := maptask.Map(context.Background(), even, []int{1, 2, 4, 6}, maptask.Concurrency(1), maptask.RunAll())
	fmt.Println(res.Succeeded(), "of", res.Len(), "succeeded:", err != nil)
	// Output: 3 of 4 succeeded: true
}

// A Control changes a map while it runs, from any goroutine: here its first
// element raises the bound from 1 to 4, and asks for a bar the map cannot
// take, which is refused.
func ExampleControl() {
	var c maptask.Control
	task := maptask.NewTask("example.control", func(_ context.Context, x int) (int, error) {
		if x == 0 {
			if err := c.SetConcurrency(4); err != nil {
				return 0, err
			}
			fmt.Println(c.SetMinSuccesses(7))
		}
		return x * 10, nil
	})
	res, err := maptask.Map(context.Background(), task, []int{0, 1, 2, 3, 4, 5},
		maptask.Concurrency(1), maptask.WithControl(&c))
	fmt.Println(res.Values(), err)
	fmt.Println(c.SetConcurrency(2)) // the map has ended
	// Output:
	// maptask: 7 successes required of 6 elements: must be in [0, 6]
	// [0 10 20 30 40 50] <nil>
	// maptask: Control: no map is running with it
}
