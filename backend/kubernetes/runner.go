package kubernetes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/internal/indexes"
	"github.com/maptask/maptask/store"
	"github.com/maptask/maptask/worker"
)

// Run implements backend.Backend: it creates Indexed Jobs for what the engine
// hands out, watches them and their pods through informers, and reports each
// element once its index is final (Kubernetes retried it as far as the task's
// retries allow). A Job an earlier driver of the same execution left running
// is adopted, not started again. A concurrency or required-successes change
// while the map runs (backend.Queue.Limits) is carried to the Jobs already
// created by patching them (see retune), and to those created later.
func (b *Backend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	client, ns, err := b.connect()
	if err != nil {
		return err
	}
	workerImg, err := b.workerImage(ctx)
	if err != nil {
		return err
	}
	st, err := remote.OpenStore(ctx, b.Name(), job)
	if err != nil {
		return err
	}
	defer st.Close()
	var run [2]byte
	_, _ = rand.Read(run[:])
	sum := sha256.Sum256([]byte(job.Execution))
	r := &runner{b: b, job: job, q: q, st: st, client: client, ns: ns, opts: b.options(ns),
		workerImg: workerImg, taskImg: b.taskImage(job),
		prefix: "mt-" + hex.EncodeToString(sum[:5]) + "-" + hex.EncodeToString(run[:]),
		jobs:   map[string]*kjob{}, where: map[int]slot{}, lastPod: map[string]*corev1.Pod{}, podNames: map[string][]string{},
		started: time.Now().UnixNano(), logged: map[types.UID]bool{}, logSem: make(chan struct{}, 8), wake: make(chan struct{}, 1),
		ran: map[string]bool{}, phase: map[types.UID]corev1.PodPhase{}, pending: map[types.UID]*pendingPod{}, progress: time.Now()}
	r.limits, r.changed = q.Limits()
	r.perJob = b.MaxIndexesPerJob
	if r.perJob <= 0 {
		r.perJob = 10000
	}
	// Watching starts within syncTimeout, or at once fails naming what the
	// driver may not list or watch.
	syncCtx, cancelSync := context.WithCancelCause(ctx)
	defer cancelSync(nil)
	syncTimer := time.AfterFunc(syncTimeout, func() {
		cancelSync(fmt.Errorf("the API server did not list them within %v", syncTimeout))
	})
	defer syncTimer.Stop()
	stop := make(chan struct{})
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{LabelExecution: labelValue(job.Execution)}.String()
		}))
	jobs := factory.Batch().V1().Jobs().Informer()
	pods := factory.Core().V1().Pods().Informer()
	r.pods = pods.GetStore()
	for what, inf := range map[string]cache.SharedIndexInformer{"jobs.batch": jobs, "pods": pods} {
		// A watch ended because the map is over is not an error worth a line
		// on the user's terminal; a refusal (a permission taken away) ends
		// the map naming it; any other is reported as client-go would, and
		// retried.
		if err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, rf *cache.Reflector, err error) {
			switch {
			case ctx.Err() != nil:
			case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
				err = fmt.Errorf("maptask: kubernetes: not allowed to list and watch %s in namespace %q: %w", what, ns, err)
				cancelSync(err)
				r.failAsync(err)
			default:
				cache.DefaultWatchErrorHandler(ctx, rf, err)
			}
		}); err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { r.enqueue(o, false) },
			UpdateFunc: func(_, o any) { r.enqueue(o, false) },
			DeleteFunc: func(o any) { r.enqueue(o, true) },
		}); err != nil {
			return err
		}
	}
	factory.Start(stop)
	defer func() {
		close(stop)
		factory.Shutdown()
	}()
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			r.mu.Lock()
			refused := r.asyncErr
			r.mu.Unlock()
			if refused != nil {
				return refused
			}
			return fmt.Errorf("maptask: kubernetes: watching %v in namespace %q did not start: %w", typ, ns, context.Cause(syncCtx))
		}
	}
	syncTimer.Stop()
	r.reattach(jobs.GetStore().List())
	return r.loop(ctx)
}

// kjob is one Indexed Job of the map, created or waiting for capacity.
type kjob struct {
	name        string
	tasks       [][]backend.Attempt       // by index, as created
	parallelism int                       // spec.parallelism, as created or last patched
	maxFailed   int                       // spec.maxFailedIndexes, as created or last patched
	failed      int                       // indexes the Job reports failed
	active      map[types.UID]bool        // its pods neither finished nor being deleted
	patchAfter  time.Time                 // a patch failed: not tried again before then
	noPatch     bool                      // the API refused a patch of it as invalid
	outstanding map[int][]backend.Attempt // by index: attempts the engine waits for
	final       map[int]bool              // indexes Kubernetes will not run again
	created     bool
	adopted     bool // created by an earlier driver
	finished    bool // Complete or Failed
	deleted     bool // its delete was accepted
	gone        bool // deleted from the cluster
}

// slot is where an element is running: a Job's index not yet final.
type slot struct {
	job   *kjob
	index int
}

type event struct {
	obj     any
	deleted bool
}

type runner struct {
	b         *Backend
	job       *backend.Job
	q         backend.Queue
	st        *store.Store
	client    k8s.Interface
	ns        string
	opts      JobOptions
	workerImg string
	taskImg   string
	prefix    string
	seq       int
	perJob    int
	jobs      map[string]*kjob
	order     []*kjob                // in creation order; queued ones wait for capacity
	where     map[int]slot           // element -> the index running it
	lastPod   map[string]*corev1.Pod // by job/index: the latest pod seen
	podNames  map[string][]string    // by job/index: every pod seen
	logged    map[types.UID]bool
	logSem    chan struct{}
	logs      sync.WaitGroup
	fatal     error
	stopping  bool
	started   int64                         // unix nanoseconds
	left      []string                      // Jobs that could not be deleted, with why
	ran       map[string]bool               // by job/index: a worker of it started
	phase     map[types.UID]corev1.PodPhase // the phase each live pod was last seen in
	pending   map[types.UID]*pendingPod     // pods waiting Unschedulable
	progress  time.Time                     // when a pod of the map last started or finished
	mu        sync.Mutex
	events    []event
	asyncErr  error // a watch refused: the map fails with it
	wake      chan struct{}
	pods      cache.Store // the map's pods, as the informer sees them
	limits    backend.Limits
	changed   <-chan struct{} // closed when limits next change (maptask update)
	noPatch   bool            // the driver may not patch Jobs: the bound holds for new Jobs only
}

// syncTimeout bounds the wait for the informers' first listing.
var syncTimeout = time.Minute

// pendingPod is a pod the scheduler found no node for.
type pendingPod struct {
	name  string
	since time.Time
	msg   string // the scheduler's
}

// failAsync ends the map with err (from an informer's goroutine).
func (r *runner) failAsync(err error) {
	r.mu.Lock()
	if r.asyncErr == nil {
		r.asyncErr = err
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) enqueue(o any, deleted bool) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o, deleted = t.Obj, true
	}
	r.mu.Lock()
	r.events = append(r.events, event{o, deleted})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop hands attempts to Jobs and events to their indexes until every
// attempt is reported.
func (r *runner) loop(ctx context.Context) error {
	batches, stopFeeding := backend.Batches(r.q)
	defer stopFeeding()
	for {
		select {
		case attempts, ok := <-batches:
			if !ok {
				batches = nil
				break
			}
			r.launch(ctx, attempts)
		case <-r.wake:
			r.process(ctx)
		case <-r.pendingTimer():
			r.checkPending()
		case <-r.changed:
			r.limits, r.changed = r.q.Limits()
		case <-ctx.Done():
		}
		if r.fatal == nil {
			r.retune(ctx)
			r.schedule(ctx)
		}
		switch {
		case r.fatal != nil:
			return r.stop(ctx, r.fatal)
		case ctx.Err() != nil || (batches == nil && r.waiting() > 0):
			// Nothing more is handed out while elements still run only when
			// the verdict is known early or the run was cancelled.
			return r.stop(ctx, nil)
		case batches == nil:
			return r.finishUp(ctx)
		}
	}
}

// pendingTimer fires when the oldest Unschedulable pod reaches the
// PendingTimeout (nil: none waits, or the map waits forever).
func (r *runner) pendingTimer() <-chan time.Time {
	d := r.opts.pendingTimeout()
	if len(r.pending) == 0 || d < 0 {
		return nil
	}
	return time.After(time.Until(r.pendingDeadline()))
}

// pendingDeadline is when the map gives up on its Unschedulable pods: a
// PendingTimeout after the oldest began waiting, or after a pod of the map
// last started or finished, whichever is later.
func (r *runner) pendingDeadline() time.Time {
	oldest := time.Time{}
	for _, p := range r.pending {
		if oldest.IsZero() || p.since.Before(oldest) {
			oldest = p.since
		}
	}
	if r.progress.After(oldest) {
		oldest = r.progress
	}
	return oldest.Add(r.opts.pendingTimeout())
}

// checkPending fails the map when its pods have waited Unschedulable past
// the PendingTimeout, with the scheduler's message.
func (r *runner) checkPending() {
	d := r.opts.pendingTimeout()
	if len(r.pending) == 0 || d < 0 || r.stopping || time.Now().Before(r.pendingDeadline()) {
		return
	}
	var oldest *pendingPod
	for _, p := range r.pending {
		if oldest == nil || p.since.Before(oldest.since) {
			oldest = p
		}
	}
	r.fatal = fmt.Errorf("maptask: kubernetes: pod %s waited %v for a node (PendingTimeout; --pending-timeout) while no pod of the map started: Unschedulable: %s",
		oldest.name, d, oldest.msg)
}

// waiting counts the attempts the engine still waits for.
func (r *runner) waiting() int {
	n := 0
	for _, kj := range r.jobs {
		for _, a := range kj.outstanding {
			n += len(a)
		}
	}
	return n
}

// launch places handed-out attempts: onto an index already running the
// element (a Job an earlier driver left), or into new Jobs.
func (r *runner) launch(ctx context.Context, attempts []backend.Attempt) {
	var fresh []backend.Attempt
	for _, a := range attempts {
		s, ok := r.where[a.Index]
		if !ok {
			fresh = append(fresh, a)
			continue
		}
		s.job.outstanding[s.index] = append(s.job.outstanding[s.index], a)
		if s.job.final[s.index] {
			r.finalize(ctx, s.job, s.index)
		}
	}
	k := max(r.job.BatchSize, 1)
	var groups [][]backend.Attempt
	for lo := 0; lo < len(fresh); lo += k {
		groups = append(groups, fresh[lo:min(lo+k, len(fresh))])
	}
	for lo := 0; lo < len(groups); lo += r.perJob {
		r.seq++
		kj := &kjob{name: fmt.Sprintf("%s-%d", r.prefix, r.seq), tasks: groups[lo:min(lo+r.perJob, len(groups))],
			outstanding: map[int][]backend.Attempt{}, final: map[int]bool{}, active: map[types.UID]bool{}}
		for i, g := range kj.tasks {
			kj.outstanding[i] = g
			for _, a := range g {
				r.where[a.Index] = slot{kj, i}
			}
		}
		r.jobs[kj.name] = kj
		r.order = append(r.order, kj)
	}
}

// running counts the pods the created Jobs may still run at once.
func (r *runner) running() int {
	n := 0
	for _, kj := range r.order {
		if kj.created && !kj.finished && !kj.gone {
			n += kj.allowed()
		}
	}
	return n
}

// left counts the indexes Kubernetes may still run.
func (kj *kjob) left() int { return len(kj.tasks) - len(kj.final) }

// allowed counts the pods kj may run at once now.
func (kj *kjob) allowed() int { return min(kj.parallelism, kj.left()) }

// maxFailedIndexes is the maxFailedIndexes a Job of the map takes now.
func (r *runner) maxFailedIndexes(kj *kjob) int {
	n := len(kj.tasks)
	if r.limits.MaxFailures >= 0 {
		n = min(n, r.limits.MaxFailures)
	}
	return n
}

// schedule creates queued Jobs while the concurrency bound has room, each
// with the room left as its parallelism.
func (r *runner) schedule(ctx context.Context) {
	for _, kj := range r.order {
		if kj.created {
			continue
		}
		room := len(kj.tasks)
		if c := r.limits.Concurrency; c > 0 {
			room = min(room, c-r.running())
			if room <= 0 {
				return
			}
		}
		maxFailed := r.maxFailedIndexes(kj)
		spec, err := BuildJob(r.opts, r.job, IndexedJob{Name: kj.name, WorkerImage: r.workerImg, TaskImage: r.taskImg,
			Tasks: kj.tasks, Retries: r.job.Retries, MaxFailedIndexes: maxFailed, Parallelism: room})
		if err == nil {
			_, err = r.client.BatchV1().Jobs(r.ns).Create(ctx, spec, metav1.CreateOptions{})
			err = apiError(err, r.ns)
		}
		if err != nil {
			if ctx.Err() == nil {
				r.fatal = fmt.Errorf("creating Job %s: %w", kj.name, err)
			}
			return
		}
		kj.created, kj.parallelism, kj.maxFailed = true, room, maxFailed
	}
}

// process applies the informers' events.
func (r *runner) process(ctx context.Context) {
	r.mu.Lock()
	evs := r.events
	r.events = nil
	if r.asyncErr != nil && r.fatal == nil && !r.stopping {
		r.fatal = r.asyncErr
	}
	r.mu.Unlock()
	for _, ev := range evs {
		switch o := ev.obj.(type) {
		case *batchv1.Job:
			r.onJob(ctx, o, ev.deleted)
		case *corev1.Pod:
			r.onPod(ctx, o, ev.deleted)
		}
	}
}

func (r *runner) onJob(ctx context.Context, j *batchv1.Job, deleted bool) {
	kj := r.jobs[j.Name]
	if kj == nil {
		return
	}
	if deleted {
		kj.gone = true
	}
	kj.failed = failedIndexes(j)
	done := finalIndexes(j)
	if ended(j) || deleted {
		kj.finished = true
		done = done[:0]
		for i := range kj.tasks {
			done = append(done, i)
		}
	}
	for _, i := range done {
		if i < len(kj.tasks) && !kj.final[i] {
			kj.final[i] = true
			r.finalize(ctx, kj, i)
		}
	}
}

// finalIndexes are the indexes of j that Kubernetes will not run again.
func finalIndexes(j *batchv1.Job) []int {
	done := indexes.Parse(j.Status.CompletedIndexes)
	if j.Status.FailedIndexes != nil {
		done = append(done, indexes.Parse(*j.Status.FailedIndexes)...)
	}
	return done
}

// failedIndexes counts the indexes of j that failed for good.
func failedIndexes(j *batchv1.Job) int {
	if j.Status.FailedIndexes == nil {
		return 0
	}
	return len(indexes.Parse(*j.Status.FailedIndexes))
}

// ended reports whether j is Complete or Failed.
func ended(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// pullFailures are the reasons a container waits that mean its image cannot
// be pulled: the map fails fast instead of waiting forever.
var pullFailures = map[string]bool{"ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true, "ErrImagePull": true}

// configFailures are the reasons a container waits that mean what its spec
// refers to is missing (a Secret, a ConfigMap, a key of one): the kubelet
// would retry forever, so the map fails at once with its message.
var configFailures = map[string]bool{"CreateContainerConfigError": true}

func (r *runner) onPod(ctx context.Context, p *corev1.Pod, deleted bool) {
	jobName := p.Labels[batchv1.JobNameLabel]
	kj := r.jobs[jobName]
	if kj == nil {
		return
	}
	// The pods the Job controller counts as active: retune never lowers
	// parallelism below them.
	if deleted || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		delete(kj.active, p.UID)
	} else {
		kj.active[p.UID] = true
	}
	index, err := strconv.Atoi(p.Annotations[batchv1.JobCompletionIndexAnnotation])
	if err != nil || index >= len(kj.tasks) {
		return
	}
	key := jobName + "/" + strconv.Itoa(index)
	r.watchScheduling(p, deleted)
	if workerStarted(p) {
		r.ran[key] = true
	}
	cur := r.lastPod[key]
	if cur == nil || !p.CreationTimestamp.Before(&cur.CreationTimestamp) {
		r.lastPod[key] = p
	}
	if !slices.Contains(r.podNames[key], p.Name) {
		r.podNames[key] = append(r.podNames[key], p.Name)
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && pullFailures[w.Reason] && !r.stopping {
			r.fatal = fmt.Errorf("maptask: kubernetes: pod %s cannot pull image %q (%s): %s", p.Name, cs.Image, w.Reason, w.Message)
			return
		}
		if w := cs.State.Waiting; w != nil && configFailures[w.Reason] && !r.stopping {
			hint := ""
			if r.opts.StoreSecret != "" {
				hint = fmt.Sprintf(" (JobOptions.StoreSecret is %q)", r.opts.StoreSecret)
			}
			r.fatal = fmt.Errorf("maptask: kubernetes: pod %s cannot start container %s (%s): %s%s", p.Name, cs.Name, w.Reason, w.Message, hint)
			return
		}
	}
	if (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) && !r.logged[p.UID] {
		r.logged[p.UID] = true
		r.keepLog(ctx, p, kj.tasks[index])
	}
}

// watchScheduling keeps track of the pods the scheduler finds no node for,
// and of the map's progress (a pod that starts or finishes).
func (r *runner) watchScheduling(p *corev1.Pod, deleted bool) {
	if deleted {
		delete(r.pending, p.UID)
		delete(r.phase, p.UID)
		return
	}
	if old, seen := r.phase[p.UID]; !seen || old != p.Status.Phase {
		r.phase[p.UID] = p.Status.Phase
		if p.Status.Phase != corev1.PodPending {
			r.progress = time.Now()
		}
	}
	if p.Status.Phase != corev1.PodPending || p.DeletionTimestamp != nil {
		delete(r.pending, p.UID)
		return
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			if w := r.pending[p.UID]; w != nil {
				w.msg = c.Message
			} else {
				r.pending[p.UID] = &pendingPod{name: p.Name, since: time.Now(), msg: c.Message}
			}
			return
		}
	}
	delete(r.pending, p.UID)
}

// workerStarted reports whether the pod's worker container ever started.
func workerStarted(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "worker" && (cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil) {
			return true
		}
	}
	return false
}

// keepLog copies a finished pod's output into the store before the pod is
// deleted, as the log of the first element of its batch (a task's own log,
// written by the worker, is kept as it is).
func (r *runner) keepLog(ctx context.Context, p *corev1.Pod, attempts []backend.Attempt) {
	limit := int64(r.job.MaxLog)
	if limit <= 0 {
		limit = 1 << 20
	}
	r.logs.Add(1)
	go func() {
		defer r.logs.Done()
		r.logSem <- struct{}{}
		defer func() { <-r.logSem }()
		bg := context.WithoutCancel(ctx)
		rc, err := r.client.CoreV1().Pods(r.ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "worker", LimitBytes: &limit}).Stream(bg)
		if err != nil {
			return
		}
		defer rc.Close()
		out, _ := io.ReadAll(rc)
		worker.KeepBatchOutput(bg, r.st, r.job.Execution, attempts, out)
	}()
}

// finalize reports the attempts waiting on an index Kubernetes will not run
// again, from what its pods' workers recorded.
func (r *runner) finalize(ctx context.Context, kj *kjob, index int) {
	attempts := kj.outstanding[index]
	delete(kj.outstanding, index)
	if len(attempts) == 0 {
		return // an adopted index whose elements the engine has not handed out (yet)
	}
	for _, a := range attempts {
		if s, ok := r.where[a.Index]; ok && s.job == kj && s.index == index {
			delete(r.where, a.Index) // reported: a retry goes to a new Job
		}
	}
	bg := context.WithoutCancel(ctx)
	recs, readErr := r.records(bg, kj, index, attempts)
	pod := r.lastPod[kj.name+"/"+strconv.Itoa(index)]
	b := remote.Batch{Attempts: attempts, Records: recs, ReadErr: readErr, Exit: r.exitOf(pod),
		Adopted: kj.adopted, Since: r.started, Retried: true, NotStarted: !kj.adopted && !r.ran[kj.name+"/"+strconv.Itoa(index)]}
	if b.Exit.Where == "" {
		b.Exit.Where = fmt.Sprintf("Job %s index %d", kj.name, index)
	}
	if r.stopping || ctx.Err() != nil {
		b.Stopped = errors.New("Job deleted: the map stopped")
	}
	program := "in Job " + kj.name
	if pod != nil {
		program = "in pod " + pod.Name
	}
	remote.Report(r.q, b, program)
}

// exitOf says how the last pod of an index ended (nil: none was seen).
func (r *runner) exitOf(pod *corev1.Pod) remote.Exit {
	if pod == nil {
		return remote.Exit{How: remote.Vanished, Code: -1, Detail: "without a pod"}
	}
	term := terminated(pod)
	e := remote.Exit{How: remote.Vanished, Code: -1, Where: "pod " + pod.Name, Detail: podEnd(pod, term)}
	if term != nil {
		e.Code, e.Output = int(term.ExitCode), []byte(term.Message)
	}
	switch {
	case pod.Status.Reason == "DeadlineExceeded":
		e.How = remote.TimedOut
		if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
			e.Limit = time.Duration(*d) * time.Second
		}
	case term != nil && term.Reason == "OOMKilled":
		e.How, e.Detail = remote.OutOfMemory, "limit "+r.job.Resources.LimitMemory
	case term != nil && remote.CannotRun(int(term.ExitCode)):
		e.How = remote.Exited
	}
	// Any other end, whatever its exit code, is the platform's: the worker
	// journals every element it finishes.
	return e
}

// records reads what the pods of an index journaled: pod by pod, which is
// cheap on any store, when the pods seen account for every attempt; else
// every writer of the index, by prefix (a listing of all writers on a
// directory store).
func (r *runner) records(ctx context.Context, kj *kjob, index int, attempts []backend.Attempt) ([]store.Record, error) {
	pods := r.podNames[kj.name+"/"+strconv.Itoa(index)]
	if !kj.adopted && len(pods) > 0 {
		var out []store.Record
		for _, pod := range pods {
			recs, err := r.st.ReadJournal(ctx, r.job.Execution, Writer(kj.name, index)+pod)
			if err != nil {
				out = nil
				break
			}
			out = append(out, recs...)
		}
		seen := map[int]bool{}
		for _, rec := range out {
			seen[rec.Index] = true
		}
		if len(seen) == len(attempts) {
			return out, nil
		}
	}
	return r.st.ReadJournals(ctx, r.job.Execution, Writer(kj.name, index))
}

func terminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	if p == nil {
		return nil
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "worker" && cs.State.Terminated != nil {
			return cs.State.Terminated
		}
	}
	return nil
}

func podEnd(p *corev1.Pod, t *corev1.ContainerStateTerminated) string {
	switch {
	case p.Status.Reason != "":
		return p.Status.Reason
	case t != nil:
		return fmt.Sprintf("exit status %d", t.ExitCode)
	}
	return string(p.Status.Phase)
}

// stop deletes every Job with foreground propagation (their pods first),
// waits until they are gone, and reports what their workers finished; the
// rest is cancelled. A map stopped by the backend (cause) halts the engine
// with cause before anything is reported, so that nothing more is handed out
// and what never started stays not run. The error is cause and names the
// Jobs left behind; the engine of a map stopped by its verdict or its context
// no longer takes an error, so those are logged too.
func (r *runner) stop(ctx context.Context, cause error) error {
	r.stopping = true
	bg := context.WithoutCancel(ctx)
	err := r.requestDeletes(bg, metav1.DeletePropagationForeground)
	if cause != nil {
		err = errors.Join(cause, err)
		r.q.Halt(err)
	}
	if slow := r.waitGone(bg); slow != nil {
		err = errors.Join(err, slow)
	}
	if cause == nil && err != nil {
		slog.Error(err.Error())
	}
	r.process(bg)
	for _, kj := range r.order {
		for i := range kj.outstanding {
			r.finalize(bg, kj, i)
		}
	}
	r.logs.Wait()
	return err
}

// finishUp keeps the pods' logs, then deletes the map's Jobs and waits until
// they and their pods are gone. Every pod has ended: the Jobs are deleted in
// the background (the garbage collector then deletes their pods without the
// backoff it takes between looks at a Job deleted in the foreground; 1.3 s
// instead of 2.4 s for 40 pods), and the wait is for the pods.
func (r *runner) finishUp(ctx context.Context) error {
	r.stopping = true
	r.logs.Wait()
	bg := context.WithoutCancel(ctx)
	err := errors.Join(r.requestDeletes(bg, metav1.DeletePropagationBackground), r.waitGone(bg))
	r.logs.Wait()
	return err
}

// deleteTimeout bounds the wait for deleted Jobs (and their pods) to be gone.
var deleteTimeout = 90 * time.Second

// requestDeletes deletes every Job of the map with foreground propagation
// (their pods go first), each failed delete retried. The error names the
// Jobs left in the cluster.
func (r *runner) requestDeletes(ctx context.Context, how metav1.DeletionPropagation) error {
	var failed []string
	var last error
	for _, kj := range r.order {
		if !kj.created || kj.gone || kj.deleted {
			continue
		}
		var err error
		for try := range 4 {
			if try > 0 {
				time.Sleep(time.Duration(100<<try) * time.Millisecond)
			}
			err = r.client.BatchV1().Jobs(r.ns).Delete(ctx, kj.name, metav1.DeleteOptions{PropagationPolicy: &how})
			if err == nil || apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
				break
			}
		}
		switch {
		case apierrors.IsNotFound(err):
			kj.gone = true
		case err == nil:
			kj.deleted = true
		default:
			failed, last = append(failed, kj.name), err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("maptask: kubernetes: could not delete Job(s) %s in namespace %q: they and their pods stay until deleted (kubectl delete job -n %s %s) or for an hour after they finish: %w",
			strings.Join(failed, ", "), r.ns, r.ns, strings.Join(failed, " "), last)
	}
	return nil
}

// waitGone waits (at most deleteTimeout) until the Jobs deleted are gone,
// and their pods with them; the error names those that are not.
func (r *runner) waitGone(ctx context.Context) error {
	deadline := time.Now().Add(deleteTimeout)
	for !r.allGone() && time.Now().Before(deadline) {
		select {
		case <-r.wake:
			r.process(ctx)
		case <-time.After(time.Second):
		}
	}
	var slow []string
	for _, kj := range r.order {
		if kj.deleted && !kj.gone {
			slow = append(slow, kj.name)
		}
	}
	if len(slow) > 0 {
		return fmt.Errorf("maptask: kubernetes: Job(s) %s in namespace %q were still being deleted (with their pods) %v after the map asked",
			strings.Join(slow, ", "), r.ns, deleteTimeout)
	}
	return nil
}

func (r *runner) allGone() bool {
	for _, kj := range r.order {
		if kj.deleted && !kj.gone {
			return false
		}
	}
	// A finished map's Jobs go first (background propagation), their pods
	// after them.
	for _, o := range r.pods.List() {
		if p, ok := o.(*corev1.Pod); ok {
			if kj := r.jobs[p.Labels[batchv1.JobNameLabel]]; kj != nil && kj.deleted {
				return false
			}
		}
	}
	return true
}

// reattach adopts the Jobs an earlier driver of this execution created: their
// indexes still running keep their elements, which are then not started
// again when the engine hands them out.
func (r *runner) reattach(objs []any) {
	for _, o := range objs {
		j, ok := o.(*batchv1.Job)
		if !ok || j.Annotations[AnnotationID] != r.job.Execution {
			continue
		}
		tasks, err := TasksOf(j)
		if err != nil {
			continue
		}
		kj := &kjob{name: j.Name, tasks: tasks, created: true, adopted: true, outstanding: map[int][]backend.Attempt{}, final: map[int]bool{},
			active: map[types.UID]bool{}, failed: failedIndexes(j)}
		if j.Spec.Parallelism != nil {
			kj.parallelism = int(*j.Spec.Parallelism)
		}
		if j.Spec.MaxFailedIndexes != nil {
			kj.maxFailed = int(*j.Spec.MaxFailedIndexes)
		}
		r.jobs[j.Name] = kj
		r.order = append(r.order, kj)
		for _, i := range finalIndexes(j) {
			kj.final[i] = true
		}
		kj.finished = ended(j) || j.DeletionTimestamp != nil
		for i, t := range tasks {
			if kj.finished || kj.final[i] {
				kj.final[i] = true
				continue // what it did is in the journal the engine read
			}
			for _, a := range t {
				r.where[a.Index] = slot{kj, i}
			}
		}
	}
}
