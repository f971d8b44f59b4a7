// Command demo runs a fake map of 40 elements (three of which fail) for about
// 8 seconds with a progress bar on stderr and the elements' output on stdout,
// printed through Reporter.Above. Run it in a terminal to see the bar redraw in
// place:
//
//	go run ./internal/progress/testdata/demo
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maptask/maptask/internal/progress"
)

func main() {
	n := flag.Int("n", 40, "elements")
	workers := flag.Int("j", 4, "elements run at once")
	title := flag.String("title", "sh -c 'sleep 0.$((RANDOM % 9)); echo processing {} with a rather long command line that goes on; test {} != 7' ::: 1..40", "the label")
	flag.Parse()

	fails := map[int]bool{7: true, 19: true, 33: true}
	var succeeded, failed, running atomic.Int64
	snap := func() progress.Counts {
		return progress.Counts{Total: *n, Succeeded: int(succeeded.Load()), Failed: int(failed.Load()), Running: int(running.Load())}
	}
	r := progress.Start(os.Stderr, progress.Auto, *title, snap)
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	sleep := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(300+rng.IntN(900)) * time.Millisecond
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for i := range work {
				running.Add(1)
				time.Sleep(sleep())
				running.Add(-1)
				if fails[i] {
					r.Above(func() { fmt.Fprintf(os.Stderr, "element %d: exit status 1\n", i) })
					failed.Add(1)
					continue
				}
				r.Above(func() { fmt.Printf("processing %d\n", i) })
				succeeded.Add(1)
			}
		})
	}
	for i := 1; i <= *n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	r.Stop()
}
