package slurm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

func TestShares(t *testing.T) {
	free, held := func(n int) share { return share{throttle: n} }, share{held: true}
	keep := share{keep: true}
	for _, c := range []struct {
		name  string
		bound int
		loads []load
		want  []share
	}{
		{"unbounded", 0, []load{{running: 3, pending: 2}, {pending: 1}}, []share{free(0), free(0)}},
		{"one array", 2, []load{{pending: 10}}, []share{free(2)}},
		{"a retry waits for the first array's pending tasks", 2, []load{{running: 2, pending: 5}, {pending: 1}}, []share{free(2), held}},
		{"a slot free: the oldest array first", 2, []load{{running: 1, pending: 5}, {pending: 1}}, []share{free(2), held}},
		{"the first array's last tasks run: the retry starts", 2, []load{{running: 1}, {pending: 3}}, []share{keep, free(1)}},
		{"oldest first among retries", 3, []load{{running: 1}, {pending: 1}, {pending: 2}, {pending: 1}}, []share{keep, free(1), free(1), held}},
		{"running tasks count first", 3, []load{{running: 1, pending: 4}, {running: 2, pending: 1}}, []share{free(1), free(2)}},
		{"lowered, one array", 1, []load{{running: 4, pending: 4}}, []share{free(1)}},
		{"lowered, several: nothing starts until fewer than the bound run", 2, []load{{running: 1, pending: 4}, {running: 3, pending: 2}, {pending: 1}},
			[]share{held, free(1), held}},
		{"a fixed array's room comes off the top", 2, []load{{pending: 5, fixed: true, limit: math.MaxInt}, {pending: 3}}, []share{keep, held}},
		{"a fixed held array takes no room", 2, []load{{running: 1, pending: 5, fixed: true, limit: 0}, {pending: 3}}, []share{keep, free(1)}},
	} {
		got := shares(c.loads, c.bound)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: shares(%+v, %d) = %+v, want %+v", c.name, c.loads, c.bound, got, c.want)
		}
	}
}

// simArray is an array as Slurm runs it: it starts a pending task when it
// is not held and runs fewer than its throttle (0: no throttle); driver is
// what the driver knows of it.
type simArray struct {
	pending, running, throttle int
	held                       bool
	driver                     *array
}

// The shares applied as rebalance applies them, while Slurm starts and ends
// tasks at random between any two scontrol commands (the polled counts are
// stale by then) and refuses some of them: no task ever starts while the
// arrays together run the bound (once a lower bound has been applied), and
// every map ends. Maps get new arrays (retries) and live changes of the
// bound as they run; some arrays are adopted (the driver knows nothing of
// them).
func TestSharesKeepTheBound(t *testing.T) {
	for seed := range uint64(1000) {
		rng := rand.New(rand.NewPCG(seed, 1))
		trace := os.Getenv("TRACE") == fmt.Sprint(seed)
		bound := rng.IntN(5)
		limit := bound // what a start is checked against: the higher bound until a lower one took
		var arrays []*simArray
		total := func() int {
			k := 0
			for _, a := range arrays {
				k += a.running
			}
			return k
		}
		dump := func() string {
			out := fmt.Sprintf("bound %d:", bound)
			for _, a := range arrays {
				out += fmt.Sprintf(" [pending %d running %d throttle %d held %v; driver %+v]", a.pending, a.running, a.throttle, a.held, *a.driver)
			}
			return out
		}
		submit := func(n int, adopted bool) {
			live := false
			for _, a := range arrays {
				live = live || a.pending+a.running > 0
			}
			a := &simArray{pending: n, throttle: bound, held: bound > 0 && live}
			a.driver = &array{job: len(arrays), throttle: a.throttle, hold: holdOff}
			if a.held {
				a.driver.hold = holdOn
			}
			if adopted { // left by an earlier driver, with a bound of its own
				limit = 0 // unchecked until this driver shared the bound out
				a.throttle, a.held = rng.IntN(3), rng.IntN(2) == 0
				a.driver.throttle, a.driver.hold = -1, holdUnknown
			}
			arrays = append(arrays, a)
		}
		// slurm lets random tasks end or start.
		slurm := func() {
			for range rng.IntN(3) {
				a := arrays[rng.IntN(len(arrays))]
				if rng.IntN(2) == 0 {
					if a.running > 0 {
						a.running--
					}
					continue
				}
				if !a.held && a.pending > 0 && (a.throttle == 0 || a.running < a.throttle) {
					a.pending--
					a.running++
					if trace {
						t.Logf("start in %d: %s", a.driver.job, dump())
					}
					if limit > 0 && total() > limit {
						t.Fatalf("seed %d: a task started with %d running at bound %d: %s", seed, total(), limit, dump())
					}
				}
			}
		}
		do := func(d *array, args ...string) bool {
			slurm()
			if trace {
				t.Logf("do %d %q", d.job, args)
			}
			if rng.IntN(20) == 0 {
				d.refused++
				return false
			}
			d.refused = 0
			a := arrays[d.job]
			switch args[0] {
			case "uhold":
				a.held = true
			case "release":
				a.held = false
			case "update":
				fmt.Sscanf(args[2], "ArrayTaskThrottle=%d", &a.throttle)
			}
			slurm()
			return true
		}
		poll := func() {
			var live []*array
			var loads []load
			for _, a := range arrays {
				if a.pending+a.running > 0 {
					live = append(live, a.driver)
					l := load{running: a.running, pending: a.pending}
					a.driver.fix(&l)
					loads = append(loads, l)
				}
			}
			if trace {
				t.Logf("poll %s\n loads %+v\n shares %+v", dump(), loads, shares(loads, bound))
			}
			if !apply(live, loads, shares(loads, bound), do) {
				// Nothing was lowered: every array had at most its share of
				// the bound from counts polled after the change took.
				limit = bound
			}
		}
		submit(1+rng.IntN(8), false)
		for range rng.IntN(3) {
			submit(1+rng.IntN(4), rng.IntN(2) == 0)
		}
		for step := 0; ; step++ {
			if step > 20000 {
				t.Fatalf("seed %d: the map never ends: %s", seed, dump())
			}
			slurm()
			switch rng.IntN(12) {
			case 0: // retries
				if len(arrays) < 12 {
					submit(1+rng.IntN(3), false)
				}
			case 1: // a live change
				old := bound
				bound = rng.IntN(5)
				if old == 0 || bound == 0 || limit == 0 { // 0: unbounded
					limit = 0
				} else {
					limit = max(limit, bound)
				}
				for _, a := range arrays {
					a.driver.refused = 0
				}
			}
			poll()
			left := 0
			for _, a := range arrays {
				left += a.pending + a.running
			}
			if left == 0 {
				break
			}
		}
	}
}
