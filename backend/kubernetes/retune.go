package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// patchRetry is how long a Job whose patch failed (after a few quick tries)
// waits before the next try.
var patchRetry = 5 * time.Second

// retune carries the map's limits as they are now (backend.Queue.Limits,
// changed by maptask update while the map runs) to the Jobs already
// created: their spec.parallelism, so that together they run at most the
// concurrency bound, and their spec.maxFailedIndexes. The loop calls it
// after every event: a lower bound is reached only as pods finish.
func (r *runner) retune(ctx context.Context) {
	if r.noPatch {
		return
	}
	var jobs []*kjob
	for _, kj := range r.order {
		if kj.created && !kj.finished && !kj.gone { // as running() counts them
			jobs = append(jobs, kj)
		}
	}
	if len(jobs) == 0 {
		return
	}
	now := time.Now()
	fixed := make([]bool, len(jobs))
	for i, kj := range jobs {
		fixed[i] = kj.deleted || kj.noPatch || now.Before(kj.patchAfter)
	}
	want := parallelisms(jobs, fixed, r.limits.Concurrency)
	for i, kj := range jobs {
		if fixed[i] {
			continue
		}
		maxFailed := r.maxFailedIndexes(kj)
		if maxFailed < kj.maxFailed {
			// A Job fails, stopping its running pods, once more indexes
			// failed than it allows: never below those failed already
			// (some may be lost attempts the engine runs again).
			maxFailed = max(maxFailed, kj.failed)
		}
		if want[i] == kj.parallelism && maxFailed == kj.maxFailed {
			continue
		}
		r.patch(ctx, kj, want[i], maxFailed)
		if r.noPatch {
			return
		}
	}
}

// parallelisms returns the parallelism of each Job of jobs (the created,
// unfinished Jobs, in creation order) under bound (0: unbounded); the
// fixed ones keep theirs.
//
// A lower bound never kills a running pod: the Job controller deletes the
// active pods above a Job's parallelism, so it is never set below the pods
// the Job has active, and lowered further as they finish. The excess comes
// off the newest Jobs first. Room (a higher bound, or a Job running its last
// indexes) goes to the oldest Jobs first, up to the indexes they have left;
// what remains is for Jobs not yet created (schedule).
func parallelisms(jobs []*kjob, fixed []bool, bound int) []int {
	want := make([]int, len(jobs))
	used := 0
	for i, kj := range jobs {
		want[i] = kj.parallelism
		used += kj.allowed()
	}
	switch {
	case bound <= 0:
		for i, kj := range jobs {
			if !fixed[i] {
				want[i] = max(kj.parallelism, len(kj.tasks))
			}
		}
	case used > bound:
		excess := used - bound
		for i := len(jobs) - 1; i >= 0 && excess > 0; i-- {
			if fixed[i] {
				continue
			}
			cur := jobs[i].allowed()
			if cut := min(excess, cur-min(len(jobs[i].active), cur)); cut > 0 {
				want[i] = cur - cut
				excess -= cut
			}
		}
	default:
		room := bound - used
		for i, kj := range jobs {
			if room == 0 {
				break
			}
			if fixed[i] {
				continue
			}
			cur := kj.allowed()
			if add := min(room, kj.left()-cur); add > 0 {
				want[i] = cur + add
				room -= add
			}
		}
	}
	return want
}

// patch sets kj's spec.parallelism and spec.maxFailedIndexes with a JSON
// merge patch of what changed (it names no resourceVersion, so the Job
// controller's own writes do not make it conflict). Transient errors are
// tried again at once a few times, then after patchRetry. A failed patch is
// logged, never fatal: the Job keeps its old values, which the loop keeps
// counting with.
func (r *runner) patch(ctx context.Context, kj *kjob, parallelism, maxFailed int) {
	spec := map[string]int{}
	if parallelism != kj.parallelism {
		spec["parallelism"] = parallelism
	}
	if maxFailed != kj.maxFailed {
		spec["maxFailedIndexes"] = maxFailed
	}
	body, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		panic(err) // a map of ints always encodes
	}
	for try := range 3 {
		if try > 0 {
			select {
			case <-time.After(time.Duration(100<<try) * time.Millisecond):
			case <-ctx.Done():
			}
		}
		_, err = r.client.BatchV1().Jobs(r.ns).Patch(ctx, kj.name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "maptask"})
		if err == nil || ctx.Err() != nil || !transient(err) {
			break
		}
	}
	what := fmt.Sprintf("maptask: kubernetes: changing Job %s (%s)", kj.name, body)
	switch {
	case err == nil:
		kj.parallelism, kj.maxFailed = parallelism, maxFailed
	case ctx.Err() != nil || apierrors.IsNotFound(err):
		// The map stops, or the Job is gone (its delete event tells).
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		r.noPatch = true
		slog.Error(what+": not allowed to patch Jobs (bind the Role in the README): a changed concurrency holds only for Jobs created from now on",
			"namespace", r.ns, "err", err)
	case apierrors.IsInvalid(err):
		kj.noPatch = true
		slog.Error(what+": the cluster refused it; the Job keeps its parallelism and maxFailedIndexes", "err", err)
	default:
		kj.patchAfter = time.Now().Add(patchRetry)
		slog.Warn(what+": trying again later", "retry", patchRetry, "err", err)
	}
}

// transient reports whether an API error may pass if the call is made again.
func transient(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err)
}
