package slurm

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// One map, one bound, several arrays
//
// Slurm's %N (ArrayTaskThrottle) bounds one array. A map has several live at
// once: the first array, arrays of retries handed out while it runs, the
// arrays a map above MaxArraySize is split into, arrays a restarted driver
// adopted. Each with the map's N of its own, together they would run up to
// k*N tasks. So the driver shares N out among them itself, from squeue's
// counts at every poll (and at once when N changes or an array is
// submitted), oldest array first (shares):
//
//   - every task running now keeps its slot (nothing running is ever
//     stopped): the R tasks running over all arrays count first. (Not each
//     array's in its turn: after a lower bound, or in adopted arrays, a
//     newer array may run tasks while an older one has pending ones, and
//     the older one must not start them while more than N run.);
//   - the N-R slots left go to the pending tasks of the oldest arrays
//     first (submission order: the first array, then the retries in
//     turn), so array j may start a_j more tasks: its throttle is
//     running_j + a_j;
//   - an array that may start nothing and runs nothing would need a
//     throttle of 0, which Slurm reads as "unlimited": it is held instead
//     (scontrol uhold, which holds its pending tasks only; scontrol release
//     once it has a share, its throttle set first). An array submitted
//     while others are live is submitted --hold;
//   - when more than N run (N was lowered), nothing may start until fewer
//     than N run over all arrays: each array's throttle is its running
//     tasks minus the excess, held when that leaves none. For a map of one
//     array this is ArrayTaskThrottle=N.
//
// Why the bound holds between polls: an array not held starts a task only
// below its throttle, and a held one starts none. So the tasks running are
// at most the throttles of the arrays not held plus what the held ones ran
// at the poll: R + sum(a_j) <= N. When R > N, an array can start a task
// only after it lost more tasks than the excess, and the total is then <= N.
// The counts are a moment old by the time scontrol runs: apply only raises
// from them, or freezes when something must be lowered (see apply).
// TestSharesKeepTheBound checks all this against a model of Slurm.
//
// A retry's array gets a slot as soon as one is free that the arrays before
// it have no pending task for: it does not wait for their last tasks to
// end, as an array chained behind another with --dependency=afterany would.
// The arrays a large map is split into are not chained either, for the same
// reason. scontrol runs only for an array whose share differs from what was
// last set on it (a throttle at or above its unfinished tasks is the same
// as any other such).

// holdState is what the driver knows of an array's hold.
type holdState int8

const (
	holdUnknown holdState = iota // adopted from an earlier driver: never set by this one
	holdOn                       // held (scontrol uhold, sbatch --hold)
	holdOff                      // not held
)

// array is one live array of the map and what the driver last set on it.
type array struct {
	job      int
	throttle int // ArrayTaskThrottle last set (0: none); -1 unknown
	hold     holdState
	refused  int // scontrol updates refused in a row (reset when the bound changes)
}

// fixed reports that the array refused throttleTries updates of this bound:
// it keeps what it has until the bound changes again.
func (a *array) fixed() bool { return a.refused >= throttleTries }

// fix marks l fixed when a is: it keeps what it has, and may run up to
// its throttle (none when held; any number when it has none, or one this
// driver does not know).
func (a *array) fix(l *load) {
	if l.fixed = a.fixed(); !l.fixed {
		return
	}
	switch {
	case a.hold == holdOn:
		l.limit = 0
	case a.throttle > 0:
		l.limit = a.throttle
	default:
		l.limit = math.MaxInt
	}
}

// load is what squeue shows of one live array's tasks, for shares.
type load struct {
	running, pending int
	// fixed: its throttle and hold cannot be changed; it may run up to
	// limit tasks (math.MaxInt: any number).
	fixed bool
	limit int
}

// share is what one array should have.
type share struct {
	throttle int  // ArrayTaskThrottle (0: none), when not held
	held     bool // its pending tasks must not start
	keep     bool // nothing of it can start (no pending task, or fixed): leave it as it is
}

// shares shares the bound (0: unbounded) out among the live arrays, given
// in submission order (see the comment at the top of this file).
func shares(loads []load, bound int) []share {
	out := make([]share, len(loads))
	running := 0
	for _, l := range loads {
		running += l.running
	}
	left := max(bound-running, 0)
	for _, l := range loads {
		if l.fixed && l.pending > 0 {
			// What a fixed array may still start comes off the top.
			left = max(left-min(l.pending, max(l.limit-l.running, 0)), 0)
		}
	}
	for i, l := range loads {
		switch {
		case l.fixed || l.pending == 0:
			out[i].keep = true
		case bound <= 0:
			out[i] = share{throttle: 0}
		case running > bound: // only as tasks finish does anything start again
			if t := l.running - (running - bound); t > 0 {
				out[i] = share{throttle: t}
			} else {
				out[i] = share{held: true}
			}
		default:
			a := min(l.pending, left)
			left -= a
			if t := l.running + a; t > 0 {
				out[i] = share{throttle: t}
			} else {
				out[i] = share{held: true}
			}
		}
	}
	return out
}

// effective is the number of an array's unfinished tasks a throttle lets run
// at once: any throttle at or above them (or none, 0) is the same.
func effective(throttle, unfinished int) int {
	if throttle <= 0 || throttle > unfinished {
		return unfinished
	}
	return throttle
}

// waiting reports an array task waiting to start, held or not.
func waiting(state string) bool {
	return state == "PENDING" || strings.HasPrefix(state, "REQUEUE") || state == "SPECIAL_EXIT" || state == "RESV_DEL_HOLD"
}

// runs reports an array task that holds one of its array's slots: Slurm
// counts it against the throttle. A COMPLETING task's worker has ended.
func runs(state string) bool {
	return state != "" && !waiting(state) && !terminal[state] && state != "COMPLETING" && state != "GONE"
}

// rebalance shares the bound out among the live arrays (see the comment at
// the top of this file), from the states squeue just gave, and carries what
// changed to Slurm. It forgets the arrays none of whose tasks is tracked
// any more. It runs in the loop's goroutine only.
func (r *runner) rebalance(ctx context.Context, states map[string]taskState) {
	r.mu.Lock()
	tracked := map[int]bool{}
	for _, t := range r.live {
		tracked[t.job] = true
	}
	r.mu.Unlock()
	arrays := r.arrays[:0]
	for _, a := range r.arrays {
		if tracked[a.job] {
			arrays = append(arrays, a)
		}
	}
	clear(r.arrays[len(arrays):])
	r.arrays = arrays
	if len(arrays) == 0 {
		return
	}
	at := make(map[int]int, len(arrays))
	loads := make([]load, len(arrays))
	for i, a := range arrays {
		at[a.job] = i
	}
	for key, st := range states {
		job, _, _ := strings.Cut(key, "_")
		id, err := strconv.Atoi(job)
		if err != nil {
			continue
		}
		i, ok := at[id]
		if !ok {
			continue
		}
		switch {
		case runs(st.state):
			loads[i].running++
		case waiting(st.state):
			loads[i].pending++
		}
	}
	for i, a := range arrays {
		a.fix(&loads[i])
	}
	bound := r.limits.Concurrency
	apply(arrays, loads, shares(loads, bound), func(a *array, args ...string) bool {
		return r.scontrol(ctx, a, bound, args...)
	})
}

// apply carries the shares want to the arrays with scontrol, through do
// (which runs one command and reports whether Slurm took it), and keeps
// what it set on each array. It reports whether it froze them.
//
// The counts the shares come from are a moment old by the time scontrol
// runs, and an array may start tasks until its change takes. That is harmless
// when every change raises (a higher throttle, a release): whatever started
// meanwhile did so within what the array had, and still has. But when an
// array must be lowered (held, or a lower throttle) it may have started tasks
// the shares of the others do not know of. So a round that must lower
// anything freezes instead: it holds every array not held that still has
// tasks to start, and the next poll, whose counts no start can have made
// stale, shares the bound out from them, with raises only. A bound lowered
// (or set where there was none, or an adopted array) costs the arrays a poll
// of not starting anything; the bound shared out as tasks finish under a
// steady bound only ever raises.
func apply(arrays []*array, loads []load, want []share, do func(a *array, args ...string) bool) (froze bool) {
	for i, a := range arrays {
		w, unfinished := want[i], loads[i].running+loads[i].pending
		if !w.keep && a.hold != holdOn &&
			(w.held || a.throttle < 0 || effective(w.throttle, unfinished) < effective(a.throttle, unfinished)) {
			froze = true
		}
	}
	if froze {
		for i, a := range arrays {
			if loads[i].pending > 0 && !loads[i].fixed && a.hold != holdOn && do(a, "uhold", strconv.Itoa(a.job)) {
				a.hold = holdOn
			}
		}
		return true
	}
	for i, a := range arrays {
		w, unfinished := want[i], loads[i].running+loads[i].pending
		if w.keep || w.held {
			continue
		}
		// Held, it starts nothing until released: its throttle first.
		if a.throttle < 0 || effective(w.throttle, unfinished) != effective(a.throttle, unfinished) {
			if !do(a, throttleArgs(a.job, w.throttle)...) {
				continue
			}
			a.throttle = w.throttle
		}
		if a.hold != holdOff && do(a, "release", strconv.Itoa(a.job)) {
			a.hold = holdOff
		}
	}
	return false
}

func throttleArgs(job, throttle int) []string {
	return []string{"update", "JobId=" + strconv.Itoa(job), "ArrayTaskThrottle=" + strconv.Itoa(throttle)}
}

// throttleTries bounds the scontrol updates an array may refuse in a row
// under one bound: a refusal is logged, not fatal, and tried again at the
// next polls (the controller may have been busy); after throttleTries the
// array keeps what it has (and its share is counted as such) until the
// bound changes again.
const throttleTries = 5

// scontrol runs scontrol args on array a and reports whether Slurm took it.
func (r *runner) scontrol(ctx context.Context, a *array, bound int, args ...string) bool {
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "scontrol", args...)
	cmd.Stderr = &errb
	err := cmd.Run()
	if err == nil || ctx.Err() != nil {
		a.refused = 0
		return err == nil
	}
	why := err.Error()
	if errb.Len() > 0 {
		if why = throttleRefused(errb.String()); why == "" {
			a.refused = 0
			return true
		}
	}
	a.refused++
	what := strings.Join(args, " ")
	switch a.refused {
	case 1:
		slog.Warn("maptask: slurm: scontrol "+what+" refused: trying again", "array", a.job, "concurrency", bound, "err", why)
	case throttleTries:
		slog.Error("maptask: slurm: scontrol "+what+" refused: the array keeps its throttle and hold", "array", a.job,
			"concurrency", bound, "tries", throttleTries, "err", why)
	}
	return false
}
