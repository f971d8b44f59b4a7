package kubernetes_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/backendtest"
	"github.com/maptask/maptask/backend/kubernetes"
)

// clusterView follows an execution's Jobs and pods as the API server shows
// them: the pods running, and each change of a Job's parallelism and
// maxFailedIndexes.
type clusterView struct {
	mu       sync.Mutex
	start    time.Time
	running  map[string]bool   // pod -> Running now
	last     map[string]string // pod -> the last phase seen
	samples  []sample          // running pods after each pod event
	timeline []string          // Job spec changes, for the log
	spec     map[string][2]int32
}

type sample struct {
	at      time.Time
	running int
}

func watchExecution(t *testing.T, execution string) *clusterView {
	v := &clusterView{start: time.Now(), running: map[string]bool{}, last: map[string]string{}, spec: map[string][2]int32{}}
	factory := informers.NewSharedInformerFactoryWithOptions(admin(t), 0, informers.WithNamespace(namespace(t)),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kubernetes.LabelExecution + "=" + execution }))
	onPod := func(o any) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		v.running[p.Name] = p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
		v.last[p.Name] = string(p.Status.Phase)
		v.samples = append(v.samples, sample{time.Now(), v.runningLocked()})
	}
	onJob := func(o any) {
		j, ok := o.(*batchv1.Job)
		if !ok || j.Spec.Parallelism == nil || j.Spec.MaxFailedIndexes == nil {
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		now := [2]int32{*j.Spec.Parallelism, *j.Spec.MaxFailedIndexes}
		if v.spec[j.Name] != now {
			v.spec[j.Name] = now
			v.timeline = append(v.timeline, fmt.Sprintf("%5.1fs parallelism %d maxFailedIndexes %d (%d pods running)",
				time.Since(v.start).Seconds(), now[0], now[1], v.runningLocked()))
		}
	}
	factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, o any) { onPod(o) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				v.mu.Lock()
				v.running[p.Name] = false
				v.samples = append(v.samples, sample{time.Now(), v.runningLocked()})
				v.mu.Unlock()
			}
		}})
	factory.Batch().V1().Jobs().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onJob, UpdateFunc: func(_, o any) { onJob(o) }})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	return v
}

func (v *clusterView) runningLocked() int {
	n := 0
	for _, r := range v.running {
		if r {
			n++
		}
	}
	return n
}

// runningPods returns the pods running now.
func (v *clusterView) runningPods() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var names []string
	for name, r := range v.running {
		if r {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// jobSpec returns the parallelism and maxFailedIndexes of the execution's
// only Job (-1s while there is none).
func (v *clusterView) jobSpec() (parallelism, maxFailed int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	parallelism, maxFailed = -1, -1
	for _, s := range v.spec {
		parallelism, maxFailed = int(s[0]), int(s[1])
	}
	return parallelism, maxFailed
}

// most is the largest number of pods seen running at once in [from, to).
func (v *clusterView) most(from, to time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, s := range v.samples {
		if !s.at.Before(from) && s.at.Before(to) {
			n = max(n, s.running)
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// started counts the elements of dir that began running.
func started(dir string, n int) int {
	k := 0
	for i := range n {
		if backendtest.Runs(dir, i) > 0 {
			k++
		}
	}
	return k
}

// A map's concurrency changed while it runs reaches its Job: a lower bound
// lowers spec.parallelism as the pods running at the change finish (none of
// them is killed: each element runs once), and then no more pods than it
// run; a higher bound raises spec.parallelism at once and more pods run. A
// lower min-success bar raises spec.maxFailedIndexes.
func TestConcurrencyChangedWhileRunning(t *testing.T) {
	requireKube(t)
	const n, id = 14, "live-concurrency"
	b := sharedBackend(t)
	var c maptask.Control // changes the map while it runs
	view := watchExecution(t, id)
	dir := forPods(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		res *maptask.Results[int]
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := maptask.Map(ctx, backendtest.Slow.WithOverrides(maptask.Retries(0)), backendtest.SlowInputs(dir, n, 5*time.Second),
			maptask.Backend(b), maptask.Concurrency(4), maptask.BatchSize(1), maptask.StoreURL(forPods(t)), maptask.Execution(id), maptask.WithControl(&c))
		done <- result{res, err}
	}()
	waitUntil(t, "4 pods running", 2*time.Minute, func() bool { return len(view.runningPods()) == 4 })
	if p, mf := view.jobSpec(); p != 4 || mf != 0 {
		t.Fatalf("before any change: parallelism %d, maxFailedIndexes %d; want 4 and 0", p, mf)
	}

	// Lower the bound to 2 while 4 pods run, and allow 3 failures.
	atChange := view.runningPods()
	lower := 2
	if err := c.SetConcurrency(lower); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMinSuccesses(n - 3); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitUntil(t, "maxFailedIndexes 3", 10*time.Second, func() bool { _, mf := view.jobSpec(); return mf == 3 })
	waitUntil(t, "parallelism 2 once the pods running at the change finished", time.Minute, func() bool {
		p, _ := view.jobSpec()
		running := view.runningPods()
		return p == 2 && !slices.ContainsFunc(atChange, func(pod string) bool { return slices.Contains(running, pod) })
	})
	lowered := time.Now()
	// Two pairs of pods start under the lower bound, the second as the
	// first finishes.
	waitUntil(t, "8 elements started", time.Minute, func() bool { return started(dir, n) >= 8 })

	// Raise it to 5: at least 5 indexes are left.
	if s := started(dir, n); s > 9 {
		t.Fatalf("%d elements started under a bound of 2 before the raise", s)
	}
	higher := 5
	if err := c.SetConcurrency(higher); err != nil {
		t.Fatal(err)
	}
	raised := time.Now()
	waitUntil(t, "parallelism 5", 10*time.Second, func() bool { p, _ := view.jobSpec(); return p == 5 })
	tookRaise := time.Since(raised)
	waitUntil(t, "more than 2 pods running", time.Minute, func() bool { return len(view.runningPods()) > 2 })

	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	view.mu.Lock()
	t.Logf("Job spec changes:\n%s", strings.Join(view.timeline, "\n"))
	for _, pod := range atChange {
		if view.last[pod] != string(corev1.PodSucceeded) {
			t.Errorf("pod %s, running at the change, ended %s", pod, view.last[pod])
		}
	}
	view.mu.Unlock()
	beforeLower, duringLower := view.most(view.start, changed), view.most(lowered, raised)
	afterRaise := view.most(raised, time.Now())
	t.Logf("pods running at most: %d at bound 4; %d at bound 2 (once the %d running at the change finished, %v after it); %d at bound 5 (parallelism 5 %v after the change)",
		beforeLower, duringLower, len(atChange), lowered.Sub(changed).Round(time.Millisecond), afterRaise, tookRaise.Round(time.Millisecond))
	if beforeLower > 4 || duringLower > 2 || afterRaise <= 2 || afterRaise > 5 {
		t.Errorf("pods running at most: %d at bound 4, %d at bound 2, %d at bound 5", beforeLower, duringLower, afterRaise)
	}
	for i := range n {
		if runs, at := backendtest.Runs(dir, i), r.res.At(i); runs != 1 || at.Err != nil || at.Attempts != 1 {
			t.Errorf("element %d ran %d times: %+v", i, runs, at)
		}
	}
	noPodsLeft(t)
}

// lockedBuffer collects log lines written from the driver's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A driver whose Role does not let it patch Jobs (the Role before live
// changes) runs its map to the end when its concurrency is changed: the
// refusal is logged once and the Job keeps its parallelism.
func TestConcurrencyChangeRefusedIsLogged(t *testing.T) {
	requireKube(t)
	const n, id = 4, "live-no-patch"
	ns := namespace(t)
	var rules []rbacv1.PolicyRule
	for _, r := range kubernetes.Role(ns, id).Rules {
		r = *r.DeepCopy()
		r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == "patch" })
		rules = append(rules, r)
	}
	inner := newBackend(t)
	inner.Config = roleConfig(t, ns, id, rules)
	b := inner
	var c maptask.Control // changes the map while it runs
	logs := &lockedBuffer{}
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, nil)))
	view := watchExecution(t, id)
	dir := forPods(t)
	done := make(chan error, 1)
	var res *maptask.Results[int]
	go func() {
		var err error
		res, err = maptask.Map(context.Background(), backendtest.Slow, backendtest.SlowInputs(dir, n, 3*time.Second),
			maptask.Backend(b), maptask.Concurrency(2), maptask.BatchSize(1), maptask.StoreURL(forPods(t)), maptask.Execution(id), maptask.WithControl(&c))
		done <- err
	}()
	waitUntil(t, "2 pods running", 2*time.Minute, func() bool { return len(view.runningPods()) == 2 })
	higher := 4
	if err := c.SetConcurrency(higher); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the map failed: %v", err)
	}
	t.Logf("log:\n%s", logs)
	if got := logs.String(); strings.Count(got, "not allowed to patch Jobs") != 1 {
		t.Errorf("want one line saying the driver may not patch Jobs, got:\n%s", got)
	}
	view.mu.Lock()
	if len(view.timeline) != 1 {
		t.Errorf("the Job's spec changed:\n%s", strings.Join(view.timeline, "\n"))
	}
	view.mu.Unlock()
	for i := range n {
		if r := res.At(i); r.Err != nil || backendtest.Runs(dir, i) != 1 {
			t.Errorf("element %d: %+v, ran %d times", i, r, backendtest.Runs(dir, i))
		}
	}
}
