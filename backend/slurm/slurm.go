// Package slurm runs a map as Slurm job arrays: one array per map (split into
// several above the cluster's MaxArraySize), each array task a worker taking
// a batch of elements, and one more array for each batch of retries. The
// map's concurrency bound holds over all its arrays together: the driver
// shares it out among them with Slurm's own throttle (%N, scontrol update
// ArrayTaskThrottle) and holds the arrays that get no slot (sbatch --hold,
// scontrol uhold and release), at every poll and whenever the bound changes
// while the map runs (maptask update); see bound.go. It drives sbatch,
// squeue, scancel and scontrol and parses their machine-readable output
// (--parsable, -o formats), never their tables.
//
// The program itself is the worker (it must call maptask.Init), so its path and
// the store must be reachable from the compute nodes: a shared filesystem, or a
// store on S3 (the program links its driver with import _
// "github.com/maptask/maptask/store/s3").
//
// # Requirements and guarantees
//
// The backend keeps a work directory per execution (see [Backend.WorkDir]):
// the submission scripts, which attempts each array task runs (so that a
// restarted driver can reattach), the array tasks' output and their exit
// codes. The array tasks write there too, so it must be on a filesystem the
// compute nodes share with the submit host, at the same path; the default,
// in the user's cache directory (~/.cache/maptask/slurm), is usually in the
// home directory, which clusters share. Array tasks run as the submitting
// user, as Slurm always runs them.
//
// The work directory is private to the user who runs the map:
//   - directories the backend creates are mode 0700; one that already exists
//     is used only if it is a real directory (not a symbolic link) owned by
//     this user and not writable by its group or others, otherwise the map
//     is refused, before anything is submitted, with an error naming the
//     directory and what is wrong with it. The directories above WorkDir are
//     not checked: they must not let others rename or replace it either (a
//     directory of the user's own, or a sticky one like /tmp);
//   - files the backend writes are created new (O_CREAT|O_EXCL|O_NOFOLLOW;
//     mode 0600, the submission scripts 0700) and files it reads are opened
//     without following symbolic links; the array tasks write their exit
//     codes to new files in the same way (the shell's noclobber, umask 077);
//   - every squeue and scancel call is restricted to the user's own jobs
//     (--user=<uid>), so a restarted driver never adopts someone else's job
//     whose comment happens to name the same execution.
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/internal/indexes"
	"github.com/maptask/maptask/store"
	"github.com/maptask/maptask/worker"
)

// Backend submits job arrays. Set the fields before the first map; a Backend is
// then safe to share between maps.
type Backend struct {
	Partition string   // --partition; "" for the cluster's default
	Account   string   // --account
	QOS       string   // --qos
	Flags     []string // passed to sbatch as they are (--constraint=..., --reservation=...)
	// InterruptiblePartition and InterruptibleQOS are used instead of Partition
	// and QOS for tasks marked maptask.Interruptible; such tasks are also
	// submitted with --requeue, so a preempted array task runs again.
	InterruptiblePartition, InterruptibleQOS string
	// Executable is the worker program as compute nodes see it; "" means this
	// program (os.Executable).
	Executable string
	// WorkDir is the directory under which each execution keeps its Slurm
	// files (WorkDir/<execution>: submission scripts, task manifests, the
	// array tasks' output and exit codes). It must be on a filesystem the
	// compute nodes share, at the same path. Default: $MAPTASK_SLURM_DIR, else
	// maptask/slurm in the user's cache directory (os.UserCacheDir, usually
	// ~/.cache/maptask/slurm). Missing directories are created mode 0700; an
	// existing WorkDir, or a directory under it, must be a real directory (not
	// a symbolic link) owned by the current user and not writable by its group
	// or others, or the map is refused.
	WorkDir string
	// Poll is how often squeue is asked about running arrays (Slurm has no watch
	// interface); default 1s.
	Poll time.Duration
	// MaxArraySize overrides the cluster's MaxArraySize (read with scontrol
	// show config when 0): arrays hold at most MaxArraySize-1 tasks.
	MaxArraySize int
}

var (
	_ backend.Remote             = (*Backend)(nil)
	_ backend.Checker            = (*Backend)(nil)
	_ backend.ConcurrencyLimiter = (*Backend)(nil)
)

// New returns a Slurm backend for the default partition.
func New() *Backend { return &Backend{} }

// Name implements backend.Backend.
func (*Backend) Name() string { return "slurm" }

// Remote implements backend.Remote.
func (*Backend) Remote() bool { return true }

// LimitsConcurrency implements backend.ConcurrencyLimiter: the arrays'
// throttles and holds keep the bound (bound.go).
func (*Backend) LimitsConcurrency() bool { return true }

// Check implements backend.Checker: the Slurm commands exist, the partition
// exists, resources translate, some node of the partition can run an array
// task with them (sbatch --test-only, which submits nothing), and the store
// can be reached from compute nodes.
func (b *Backend) Check(ctx context.Context, job *backend.Job) error {
	for _, c := range []string{"sbatch", "squeue", "scancel", "scontrol"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("maptask: slurm backend: %s not found in PATH: is this a Slurm submit host?", c)
		}
	}
	flags, err := b.sbatchFlags(job)
	if err != nil {
		return err
	}
	dir, err := b.workDir(job)
	if err != nil {
		return err
	}
	if err := checkWorkDir(dir, false); err != nil {
		return err
	}
	if p := b.partition(job); p != "" {
		out, err := run(ctx, "scontrol", "show", "partition", p, "-o")
		if err != nil || !strings.Contains(out, "PartitionName="+p) {
			return fmt.Errorf("maptask: slurm partition %q does not exist (sinfo lists the partitions)", p)
		}
	}
	if err := testOnly(ctx, flags, b.partition(job)); err != nil {
		return err
	}
	if strings.HasPrefix(job.StoreURL, "mem://") {
		return fmt.Errorf("maptask: slurm backend: store %s lives in this process's memory; compute nodes need a shared directory or S3", job.StoreURL)
	}
	// The nodes run the same program: learn here, before any array is
	// submitted, that it calls maptask.Init first (see worker.Probe).
	if exe, err := worker.Program(b.Executable); err == nil {
		if fi, err := os.Stat(exe); err == nil && fi.Mode().IsRegular() {
			if err := worker.Probe(ctx, exe, nil, nil); err != nil {
				return fmt.Errorf("maptask: slurm backend: %w", err)
			}
		}
	}
	return nil
}

func (b *Backend) partition(job *backend.Job) string {
	if job.Interruptible && b.InterruptiblePartition != "" {
		return b.InterruptiblePartition
	}
	return b.Partition
}

// sbatchFlags translates the job's options; every error names the field.
func (b *Backend) sbatchFlags(job *backend.Job) ([]string, error) {
	var f []string
	if p := b.partition(job); p != "" {
		f = append(f, "--partition="+p)
	}
	if b.Account != "" {
		f = append(f, "--account="+b.Account)
	}
	qos := b.QOS
	if job.Interruptible && b.InterruptibleQOS != "" {
		qos = b.InterruptibleQOS
	}
	if qos != "" {
		f = append(f, "--qos="+qos)
	}
	if job.Interruptible {
		f = append(f, "--requeue")
	}
	r := job.Resources
	if cpu := remote.First(r.CPU, r.LimitCPU); cpu != "" {
		n, err := cpus(cpu)
		if err != nil {
			return nil, err
		}
		f = append(f, fmt.Sprintf("--cpus-per-task=%d", n))
	}
	if mem := remote.First(r.LimitMemory, r.Memory); mem != "" {
		mb, err := megabytes(mem)
		if err != nil {
			return nil, err
		}
		f = append(f, fmt.Sprintf("--mem=%dM", mb))
	}
	if gpu := remote.First(r.GPU, r.LimitGPU); gpu != "" {
		n, err := strconv.Atoi(gpu)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("maptask: slurm: GPU %q: must be a whole number", gpu)
		}
		if n > 0 {
			f = append(f, fmt.Sprintf("--gres=gpu:%d", n))
		}
	}
	if limit := timeLimit(job); limit > 0 {
		f = append(f, fmt.Sprintf("--time=%d", int(limit.Minutes())))
	}
	return append(f, b.Flags...), nil
}

// testOnly asks sbatch whether a job with flags could ever run (--test-only
// submits nothing): a request no node of the partition can satisfy is refused
// with Slurm's reason and the flags that asked for it.
func testOnly(ctx context.Context, flags []string, partition string) error {
	args := append([]string{"--test-only", "--job-name=maptask-check"}, flags...)
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "sbatch", append(args, "--wrap=true")...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		where := "the default partition"
		if partition != "" {
			where = fmt.Sprintf("partition %q", partition)
		}
		reason := strings.TrimSpace(errb.String())
		reason = strings.TrimPrefix(strings.TrimPrefix(reason, "sbatch: error: "), "sbatch: ")
		if reason == "" {
			reason = err.Error()
		}
		return fmt.Errorf("maptask: slurm: no node of %s can run an array task with %s: %s (sbatch --test-only)",
			where, strings.Join(flags, " "), reason)
	}
	return nil
}

// timeLimit is an array task's --time (0: none): it runs a whole batch, so
// it covers every element plus a minute for the worker itself, in whole
// minutes.
func timeLimit(job *backend.Job) time.Duration {
	if job.Timeout <= 0 {
		return 0
	}
	total := time.Duration(max(job.BatchSize, 1))*job.Timeout + time.Minute
	return time.Duration(math.Ceil(total.Minutes())) * time.Minute
}

// cpus turns a CPU quantity into whole CPUs, rounding up ("500m" is 1).
func cpus(q string) (int, error) {
	_, suffix, v, ok := backend.ParseQuantity(q)
	if !ok || (suffix != "" && suffix != "m") {
		return 0, fmt.Errorf("maptask: slurm: CPU %q: not a CPU quantity (like \"2\" or \"500m\")", q)
	}
	return max(int(math.Ceil(v)), 1), nil
}

// megabytes turns a memory quantity into Slurm's --mem megabytes (MiB), rounding up.
func megabytes(q string) (int64, error) {
	_, suffix, v, ok := backend.ParseQuantity(q)
	if !ok || suffix == "m" {
		return 0, fmt.Errorf("maptask: slurm: memory %q: not a memory quantity (like \"512Mi\" or \"2G\")", q)
	}
	return max(int64(math.Ceil(v/(1<<20))), 1), nil
}

// run runs a Slurm command and returns its standard output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// maxArraySize reads the cluster's MaxArraySize (array indexes must be below it).
func maxArraySize(ctx context.Context) int {
	out, err := run(ctx, "scontrol", "show", "config")
	if err != nil {
		return 1001
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "MaxArraySize" {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 1 {
				return n
			}
		}
	}
	return 1001
}

// workDir returns the execution's work directory, WorkDir/<execution>.
func (b *Backend) workDir(job *backend.Job) (string, error) {
	if err := store.ValidateID(job.Execution); err != nil {
		return "", err
	}
	dir := b.WorkDir
	if dir == "" {
		dir = os.Getenv("MAPTASK_SLURM_DIR")
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("maptask: slurm work directory: %w (set Backend.WorkDir or $MAPTASK_SLURM_DIR)", err)
		}
		dir = filepath.Join(cache, "maptask", "slurm")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("maptask: slurm work directory: %w", err)
	}
	return filepath.Join(dir, job.Execution), nil
}

// task is one array task: a worker running attempts one after the other.
type task struct {
	job      int // array job id
	index    int // array task id
	attempts []backend.Attempt
	adopted  bool // started by an earlier driver: match records by element only
}

func (t *task) key() string { return fmt.Sprintf("%d_%d", t.job, t.index) }
func (t *task) writer() string {
	return fmt.Sprintf("%s%d-%d", store.SlurmWriterPrefix, t.job, t.index)
}

// Run implements backend.Backend.
func (b *Backend) Run(ctx context.Context, job *backend.Job, q backend.Queue) error {
	exe, err := worker.Program(b.Executable)
	if err != nil {
		return err
	}
	flags, err := b.sbatchFlags(job)
	if err != nil {
		return err
	}
	dir, err := b.workDir(job)
	if err != nil {
		return err
	}
	if err := checkWorkDir(dir, true); err != nil {
		return err
	}
	st, err := remote.OpenStore(ctx, b.Name(), job)
	if err != nil {
		return err
	}
	defer st.Close()
	poll := b.Poll
	if poll <= 0 {
		poll = time.Second
	}
	r := &runner{b: b, job: job, q: q, st: st, exe: exe, flags: flags, dir: dir, poll: poll,
		maxArray: b.MaxArraySize, live: map[string]*task{}, limit: timeLimit(job)}
	if r.maxArray <= 1 {
		r.maxArray = maxArraySize(ctx)
	}
	r.limits, r.changed = q.Limits()
	live, err := r.reattach(ctx)
	if err != nil {
		return err
	}
	return r.loop(ctx, live)
}

type runner struct {
	b        *Backend
	job      *backend.Job
	q        backend.Queue
	st       *store.Store
	exe      string
	flags    []string
	dir      string
	poll     time.Duration
	maxArray int
	subs     int
	limit    time.Duration // each array task's --time
	stopping bool          // the map is being stopped: what was not recorded is cancelled
	limits   backend.Limits
	changed  <-chan struct{} // closed when limits next change (maptask update)
	// arrays are the live arrays, oldest first, with what was last set on
	// each; the loop's goroutine alone uses them (see bound.go).
	arrays []*array

	mu   sync.Mutex
	live map[string]*task // submitted and not yet reported, by key
}

// loop submits what the engine hands out and polls until every task is reported.
func (r *runner) loop(ctx context.Context, orphans map[int]*task) error {
	batches, stopFeeding := backend.Batches(r.q)
	defer stopFeeding()
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	defer r.cancelOrphans(orphans)
	var soon <-chan time.Time // a check sooner than the next poll
	for {
		select {
		case attempts, ok := <-batches:
			if !ok {
				batches = nil // the engine hands out nothing more
				break
			}
			fresh, adopted := r.adopt(attempts, orphans)
			held := false
			if len(fresh) > 0 {
				var err error
				if held, err = r.submit(ctx, fresh); err != nil {
					// The engine stops first; what was not submitted never ran.
					r.q.Halt(err)
					r.unsubmitted(fresh, err)
					r.cancelAll()
					r.drain(ctx)
					return err
				}
			}
			if (held || adopted) && soon == nil {
				// Share the bound out soon, once for the arrays of a burst of
				// retries: a held array starts as soon as there is room, an
				// adopted one gets its share.
				soon = time.After(r.poll / 10)
			}
		case <-soon:
			soon = nil
			if err := r.check(ctx); err != nil {
				return r.halt(ctx, err)
			}
		case <-r.changed:
			r.limits, r.changed = r.q.Limits()
			for _, a := range r.arrays {
				a.refused = 0
			}
			// Shared out again at once: a raise releases held arrays, a lower
			// one holds them.
			if err := r.check(ctx); err != nil {
				return r.halt(ctx, err)
			}
		case <-tick.C:
			if err := r.check(ctx); err != nil {
				return r.halt(ctx, err)
			}
		case <-ctx.Done():
		}
		// Nothing more handed out while tasks still run happens only when the
		// verdict is known early or the run was cancelled: stop them.
		if ctx.Err() != nil || (batches == nil && r.count() > 0) {
			r.cancelAll()
			r.drain(ctx)
			return nil
		}
		if batches == nil {
			return nil
		}
	}
}

// halt stops the map for an array task held PENDING for a reason that never
// clears: the engine stops first, so what never ran stays not run.
func (r *runner) halt(ctx context.Context, err error) error {
	r.q.Halt(err)
	r.cancelAll()
	r.drain(ctx)
	return err
}

// cancelOrphans cancels the array tasks an earlier driver left that this one
// never adopted, once the map is over: their elements were done already, or
// the map ended first, and nothing would release one that was held.
func (r *runner) cancelOrphans(orphans map[int]*task) {
	seen := map[string]bool{}
	var keys []string
	for _, t := range orphans {
		if !seen[t.key()] {
			seen[t.key()] = true
			keys = append(keys, t.key())
		}
	}
	slices.Sort(keys)
	scancelTasks(keys)
}

// scancelTasks cancels array tasks ("job_task") of this user.
func scancelTasks(keys []string) {
	for len(keys) > 0 {
		n := min(len(keys), 500)
		_, _ = run(context.Background(), "scancel", append([]string{userFlag()}, keys[:n]...)...)
		keys = keys[n:]
	}
}

// unsubmitted reports the attempts of a failed submission that no array
// task took: they never started.
func (r *runner) unsubmitted(attempts []backend.Attempt, err error) {
	r.mu.Lock()
	taken := map[int]bool{}
	for _, t := range r.live {
		for _, a := range t.attempts {
			taken[a.Index] = true
		}
	}
	r.mu.Unlock()
	for _, a := range attempts {
		if !taken[a.Index] {
			r.q.Report(backend.Outcome{Attempt: a, Status: backend.Cancelled, Err: err, ExitCode: -1, Unstarted: true})
		}
	}
}

func (r *runner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// adopt moves attempts whose elements an array task of an earlier driver is
// still running onto that task, and returns the rest; adopted says that
// some were. The arrays adopted come before any this driver submits, by job
// id, with a throttle and hold the driver does not know yet.
func (r *runner) adopt(attempts []backend.Attempt, orphans map[int]*task) (fresh []backend.Attempt, adopted bool) {
	if len(orphans) == 0 {
		return attempts, false
	}
	known := map[int]bool{}
	for _, a := range r.arrays {
		known[a.job] = true
	}
	var jobs []int
	r.mu.Lock()
	for _, a := range attempts {
		t, ok := orphans[a.Index]
		if !ok {
			fresh = append(fresh, a)
			continue
		}
		adopted = true
		delete(orphans, a.Index)
		if _, tracked := r.live[t.key()]; !tracked {
			t.attempts = nil
			r.live[t.key()] = t
		}
		r.live[t.key()].attempts = append(r.live[t.key()].attempts, a)
		if !known[t.job] {
			known[t.job] = true
			jobs = append(jobs, t.job)
		}
	}
	r.mu.Unlock()
	slices.Sort(jobs)
	for _, j := range jobs {
		r.arrays = append(r.arrays, &array{job: j, throttle: -1, hold: holdUnknown})
	}
	return fresh, adopted
}

// submit splits attempts into array tasks of BatchSize and submits them as
// arrays of at most MaxArraySize-1 tasks, throttled to the bound. Under a
// bound, an array submitted while another of the map is live is submitted
// held (held says one was): it starts when rebalance gives it a share.
func (r *runner) submit(ctx context.Context, attempts []backend.Attempt) (held bool, err error) {
	k := max(r.job.BatchSize, 1)
	var groups [][]backend.Attempt
	for lo := 0; lo < len(attempts); lo += k {
		groups = append(groups, attempts[lo:min(lo+k, len(attempts))])
	}
	per := max(r.maxArray-1, 1)
	for lo := 0; lo < len(groups); lo += per {
		chunk := groups[lo:min(lo+per, len(groups))]
		hold := r.limits.Concurrency > 0 && r.count() > 0
		if err := r.submitArray(ctx, chunk, hold); err != nil {
			return held, err
		}
		held = held || hold
	}
	return held, nil
}

func (r *runner) submitArray(ctx context.Context, groups [][]backend.Attempt, hold bool) error {
	r.subs++
	// A name no earlier driver used (a restarted one may have the same pid).
	base := filepath.Join(r.dir, fmt.Sprintf("submit-%d-%d-%s", os.Getpid(), r.subs, randomSuffix()))
	script := base + ".sh"
	var s strings.Builder
	s.WriteString("#!/bin/sh\n# maptask worker array: one worker per array task, each running its attempts in turn.\n")
	s.WriteString("case \"$SLURM_ARRAY_TASK_ID\" in\n")
	for i, g := range groups {
		fmt.Fprintf(&s, "%d) attempts=%s ;;\n", i, remote.FormatAttempts(g))
	}
	s.WriteString("*) echo \"maptask: unknown array task $SLURM_ARRAY_TASK_ID\" >&2; exit 64 ;;\nesac\n")
	s.WriteString(remote.Shell(remote.Env(r.job, remote.Worker{
		Writer: store.SlurmWriterPrefix + "${SLURM_ARRAY_JOB_ID}-${SLURM_ARRAY_TASK_ID}", Attempts: "${attempts}"})))
	fmt.Fprintf(&s, "%s\ncode=$?\n", remote.ShellQuote(r.exe))
	// The exit code goes to a new file (noclobber creates with O_EXCL), after
	// removing one an earlier run of a requeued task left.
	fmt.Fprintf(&s, "exitfile=%s/\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n", remote.ShellQuote(filepath.Join(r.dir, "exit")))
	s.WriteString("rm -f \"$exitfile\"\n(umask 077; set -C; echo $code > \"$exitfile\")\nexit $code\n")
	if err := createFile(script, []byte(s.String()), 0o700); err != nil {
		return err
	}
	// Which attempts each task runs, for a restarted driver to reattach: written
	// before submitting, named after the job id once it is known.
	var manifest strings.Builder
	for i, g := range groups {
		fmt.Fprintf(&manifest, "%d %s\n", i, remote.FormatAttempts(g))
	}
	pending := base + ".tasks"
	if err := createFile(pending, []byte(manifest.String()), 0o600); err != nil {
		return err
	}
	tasks := fmt.Sprintf("0-%d", len(groups)-1)
	if c := r.limits.Concurrency; c > 0 {
		tasks += fmt.Sprintf("%%%d", c)
	}
	args := []string{"--parsable", "--array=" + tasks,
		"--job-name=maptask-" + r.job.Execution, "--comment=maptask:" + r.job.Execution,
		"--output=" + filepath.Join(r.dir, "out", "%A_%a.txt"), "--chdir=" + r.dir}
	if hold {
		args = append(args, "--hold")
	}
	args = append(args, r.flags...)
	args = append(args, script)
	out, err := run(ctx, "sbatch", args...)
	if err != nil {
		os.Remove(pending)
		return fmt.Errorf("submitting the array: %w", err)
	}
	idText, _, _ := strings.Cut(strings.TrimSpace(out), ";") // --parsable: "jobid" or "jobid;cluster"
	id, err := strconv.Atoi(idText)
	if err != nil {
		os.Remove(pending)
		return fmt.Errorf("sbatch printed %q, not a job id", out)
	}
	r.mu.Lock()
	for i, g := range groups {
		t := &task{job: id, index: i, attempts: g}
		r.live[t.key()] = t
	}
	r.mu.Unlock()
	a := &array{job: id, throttle: r.limits.Concurrency, hold: holdOff}
	if hold {
		a.hold = holdOn
	}
	r.arrays = append(r.arrays, a)
	// Rename replaces a stale manifest of the same job id (a cluster whose
	// job ids started over) and never follows a symbolic link. On failure the
	// array is tracked already, so that the caller's cancelAll stops it.
	if err := os.Rename(pending, filepath.Join(r.dir, fmt.Sprintf("%d.tasks", id))); err != nil {
		return err
	}
	return nil
}

// throttleRefused returns what scontrol update (ArrayTaskThrottle), uhold
// or release says went wrong, from its standard error: "" when it only says
// that tasks of the array ended already (it then exits 1, though the tasks
// still pending took the change: "7_0-1: Job has already finished" and
// "7_2-5: No error"), or that the controller forgot the array (long
// finished: "Invalid job id specified for job 7", and from uhold and
// release also "slurm_suspend error: Invalid job id specified").
func throttleRefused(stderr string) string {
	var bad []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, ": No error") || strings.HasSuffix(line, ": Job has already finished") ||
			strings.Contains(line, "Invalid job id specified") {
			continue
		}
		bad = append(bad, line)
	}
	return strings.Join(bad, "; ")
}

// terminal are the squeue states after which an array task no longer runs.
var terminal = map[string]bool{"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true,
	"NODE_FAIL": true, "PREEMPTED": true, "OUT_OF_MEMORY": true, "BOOT_FAIL": true, "DEADLINE": true}

// states asks squeue for the state of every array task of the given jobs.
func (r *runner) states(ctx context.Context, jobs []int) (map[string]taskState, error) {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = strconv.Itoa(j)
	}
	out, err := run(ctx, "squeue", squeueArgs("--noheader", "--array", "--states=all", "--jobs="+strings.Join(ids, ","), "--format=%F|%K|%T|%r")...)
	if err != nil && out == "" {
		// Jobs the controller forgot make squeue fail; they are finished.
		if strings.Contains(err.Error(), "Invalid job id") {
			return map[string]taskState{}, nil
		}
		return nil, err
	}
	return parseStates(out), nil
}

// taskState is what squeue says of one array task: its state, and why it
// waits when it is PENDING.
type taskState struct {
	state, reason string
}

// parseStates reads squeue's "%F|%K|%T|%r" lines into states by "job_task".
func parseStates(out string) map[string]taskState {
	states := map[string]taskState{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 4 {
			continue
		}
		job, task, st := f[0], f[1], taskState{state: f[2], reason: f[3]}
		if strings.ContainsAny(task, "[-,%") { // a pending range not yet split into tasks
			for _, idx := range expandRange(task) {
				states[job+"_"+strconv.Itoa(idx)] = st
			}
			continue
		}
		states[job+"_"+task] = st
	}
	return states
}

// neverRuns are the reasons a job stays PENDING that no amount of waiting
// fixes: the job asks for what its partition, account or QOS cannot give.
// JobHeldUser is not one: the driver holds an array until it has a share of
// the bound (bound.go) and releases it then.
var neverRuns = map[string]string{
	"BadConstraints":           "no node of the partition can satisfy its constraints",
	"PartitionConfig":          "its request does not fit the partition's configuration",
	"PartitionNodeLimit":       "it asks for more nodes than the partition allows",
	"PartitionTimeLimit":       "its time limit is above the partition's",
	"InvalidAccount":           "its account is not valid",
	"InvalidQOS":               "its QOS is not valid",
	"DependencyNeverSatisfied": "the array it waits for failed to start",
}

// stuck returns the error of a task that will never leave PENDING, or nil.
func stuck(key string, st taskState) error {
	why, ok := neverRuns[st.reason]
	if st.state != "PENDING" || !ok {
		return nil
	}
	return fmt.Errorf("maptask: slurm: array task %s is held PENDING (%s): %s; it was cancelled", key, st.reason, why)
}

// expandRange expands squeue's "[0-3,5%2]" or "4-9" array task notation.
func expandRange(s string) []int {
	s, _, _ = strings.Cut(strings.Trim(s, "[]"), "%")
	return indexes.Parse(s)
}

// check reports every array task that finished since the last poll, then
// shares the bound out among the arrays still live (rebalance). The error
// says that a task is held PENDING for a reason that never clears.
func (r *runner) check(ctx context.Context) error {
	r.mu.Lock()
	jobSet := map[int]bool{}
	for _, t := range r.live {
		jobSet[t.job] = true
	}
	r.mu.Unlock()
	if len(jobSet) == 0 {
		return nil
	}
	jobs := make([]int, 0, len(jobSet))
	for j := range jobSet {
		jobs = append(jobs, j)
	}
	states, err := r.states(ctx, jobs)
	if err != nil {
		return nil // try again at the next poll
	}
	r.mu.Lock()
	var done []*task
	var held error
	for key, t := range r.live {
		st, known := states[key]
		if !known || terminal[st.state] {
			done = append(done, t)
			delete(r.live, key)
			if !known {
				states[key] = taskState{state: "GONE"} // the controller forgot it: finished long ago
			}
		}
		if err := stuck(key, st); err != nil && held == nil {
			held = err
		}
	}
	r.mu.Unlock()
	for _, t := range done {
		r.finish(ctx, t, states[t.key()].state, false)
	}
	if held == nil && !r.stopping && ctx.Err() == nil {
		r.rebalance(ctx, states)
	}
	return held
}

// finish reports the attempts of a finished (or cancelled) array task.
func (r *runner) finish(ctx context.Context, t *task, state string, cancelledByUs bool) {
	bg := context.WithoutCancel(ctx)
	recs, readErr := r.st.ReadJournal(bg, r.job.Execution, t.writer())
	exitCode := -1
	if data, err := readFile(filepath.Join(r.dir, "exit", t.key())); err == nil {
		if c, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			exitCode = c
		}
	}
	outFile := filepath.Join(r.dir, "out", t.key()+".txt")
	output, _ := readFile(outFile)
	b := remote.Batch{Attempts: t.attempts, Records: recs, ReadErr: readErr, Adopted: t.adopted, Exit: exitOf(state, exitCode)}
	b.Exit.Where, b.Exit.Output = "worker in slurm array task "+t.key(), output
	if b.Exit.How == remote.TimedOut {
		b.Exit.Limit = r.limit
	}
	// Slurm creates a task's output file when it starts it.
	if _, err := os.Lstat(outFile); errors.Is(err, fs.ErrNotExist) && !t.adopted {
		b.NotStarted = true
	}
	if cancelledByUs || r.stopping || ctx.Err() != nil {
		b.Stopped = errors.New("array task cancelled")
	}
	remote.Report(r.q, b, r.exe)
	worker.KeepBatchOutput(bg, r.st, r.job.Execution, t.attempts, output)
	os.Remove(outFile)
}

// exitOf says how an array task ended, from its final state and the exit
// code its script wrote (-1 when it wrote none).
func exitOf(state string, code int) remote.Exit {
	switch {
	case code > 128: // the script's shell reports a killed worker as 128+signal
		return remote.Exit{How: remote.Killed, Code: code, Signal: code - 128}
	case code == remote.ExitStopped:
		return remote.Exit{How: remote.Exited, Code: code}
	case state == "TIMEOUT":
		return remote.Exit{How: remote.TimedOut, Code: code}
	case state == "FAILED":
		return remote.Exit{How: remote.Exited, Code: code}
	case state == "OUT_OF_MEMORY":
		return remote.Exit{How: remote.OutOfMemory, Code: code}
	}
	// CANCELLED by someone else, NODE_FAIL, PREEMPTED, or gone
	return remote.Exit{How: remote.Vanished, Code: code, Detail: state}
}

// cancelAll scancels every array still running.
func (r *runner) cancelAll() {
	r.stopping = true
	r.mu.Lock()
	jobs := map[int]bool{}
	for _, t := range r.live {
		jobs[t.job] = true
	}
	r.mu.Unlock()
	for j := range jobs {
		_, _ = run(context.Background(), "scancel", userFlag(), strconv.Itoa(j))
	}
}

// drain reports every task still tracked once Slurm says it ended (or after a
// short wait): what finished before the cancel still counts.
func (r *runner) drain(ctx context.Context) {
	deadline := time.Now().Add(30 * time.Second)
	for r.count() > 0 && time.Now().Before(deadline) {
		r.check(context.WithoutCancel(ctx))
		if r.count() > 0 {
			time.Sleep(r.poll / 2)
		}
	}
	r.mu.Lock()
	rest := r.live
	r.live = map[string]*task{}
	r.mu.Unlock()
	for _, t := range rest {
		r.finish(ctx, t, "CANCELLED", true)
	}
}

// reattach finds arrays an earlier driver of this execution left running, from
// their comment, and returns their tasks by element, to be adopted instead of
// submitted again.
func (r *runner) reattach(ctx context.Context) (map[int]*task, error) {
	out, err := run(ctx, "squeue", squeueArgs("--noheader", "--array", "--states=PENDING,RUNNING,CONFIGURING,COMPLETING,REQUEUED,RESIZING,SUSPENDED",
		"--format=%F|%K|%T|%k")...)
	if err != nil {
		return nil, fmt.Errorf("asking squeue for running arrays: %w", err)
	}
	want := "maptask:" + r.job.Execution
	orphans := map[int]*task{}
	var strays []string
	manifests := map[int]map[int][]backend.Attempt{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 4 || f[3] != want {
			continue
		}
		job, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		m, ok := manifests[job]
		if !ok {
			m = r.readManifest(job)
			manifests[job] = m
		}
		idxs := []int{}
		if strings.ContainsAny(f[1], "[-,%") {
			idxs = expandRange(f[1])
		} else if i, err := strconv.Atoi(f[1]); err == nil {
			idxs = append(idxs, i)
		}
		for _, i := range idxs {
			if len(m[i]) == 0 {
				// No manifest says what it runs (its driver died before
				// naming it): nothing adopts it, and held it would wait
				// for ever.
				strays = append(strays, fmt.Sprintf("%d_%d", job, i))
				continue
			}
			t := &task{job: job, index: i, attempts: m[i], adopted: true}
			for _, a := range m[i] {
				orphans[a.Index] = t
			}
		}
	}
	scancelTasks(strays)
	return orphans, nil
}

func (r *runner) readManifest(job int) map[int][]backend.Attempt {
	data, err := readFile(filepath.Join(r.dir, fmt.Sprintf("%d.tasks", job)))
	m := map[int][]backend.Attempt{}
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(data), "\n") {
		i, list, ok := strings.Cut(line, " ")
		idx, err := strconv.Atoi(i)
		if !ok || err != nil {
			continue
		}
		if a, err := remote.ParseAttempts(list, math.MaxInt); err == nil {
			m[idx] = a
		}
	}
	return m
}
