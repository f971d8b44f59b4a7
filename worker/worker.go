// Package worker is the resolver that makes a Go program its own remote worker:
// a process started by a backend (a local child process, a Kubernetes pod, a
// Slurm array task) finds its elements from its environment, resolves the task by
// its registered name, reads the inputs from the store, runs them, and writes
// outcomes and logs back. Programs enter it through maptask.Init.
//
// The environment a backend sets (package backend/remote owns the names, the
// attempt lists and the exit codes, and builds it: remote.Env):
//
//	MAPTASK_WORKER=1           worker mode
//	MAPTASK_STORE_URL          the store (any gocloud.dev/blob URL)
//	MAPTASK_EXECUTION          the execution id
//	MAPTASK_WRITER             journal writer name for this worker's outcomes
//	MAPTASK_ATTEMPTS           explicit attempts "index:attempt,index:attempt", or, for arrays:
//	MAPTASK_TASKS              one attempts list per array index, separated by ';', or:
//	MAPTASK_OFFSET             first element of this array (default 0)
//	MAPTASK_BATCH              elements per array index (default 1)
//	MAPTASK_ATTEMPT            attempt number (default 1)
//	JOB_COMPLETION_INDEX | SLURM_ARRAY_TASK_ID | AWS_BATCH_JOB_ARRAY_INDEX | MAPTASK_ARRAY_INDEX
//	                           the array index: elements offset+index*batch ... +batch-1
//	MAPTASK_TIMEOUT            per-attempt timeout (Go duration), optional
//	MAPTASK_MAX_LOG            bytes of log kept per attempt, optional
//	MAPTASK_RESUME             journal writer prefix of earlier workers of the same
//	                           elements (a Kubernetes Job's retried index): elements they
//	                           finished are skipped, the others continue their numbering
//	MAPTASK_RETRIES            user retries per element, with MAPTASK_RESUME
//	MAPTASK_INSTALL            copy this program to that path and exit (an init
//	                           container putting the worker into another image)
//	MAPTASK_PROBE              exit 0 at once: the driver's check that the program
//	                           calls maptask.Init before anything else (see Probe)
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/codec"
	"github.com/maptask/maptask/internal/childenv"
	"github.com/maptask/maptask/internal/commit"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/internal/registry"
	"github.com/maptask/maptask/store"
)

// ExitNoInit is remote.ExitNoInit, for the root package's Init (the
// protocol's exit codes live in package backend/remote).
const ExitNoInit = remote.ExitNoInit

// active is read once, before Main removes the protocol's variables from the
// environment: the process stays a worker for its whole life.
var active = os.Getenv(remote.EnvWorker) != ""

// Active reports whether this process was started as a worker.
func Active() bool { return active }

// failure is a reason the worker cannot run, with its exit code.
type failure struct {
	code int
	err  error
}

func fail(code int, format string, args ...any) *failure {
	return &failure{code, fmt.Errorf("maptask worker: "+format, args...)}
}

// Main runs the worker and returns its exit code; messages go to stderr.
//
// SIGTERM (how every backend stops a worker: a cancel, scancel, a pod's
// deletion) cancels the running task's context; the worker then records what
// it finished and exits without starting another element.
func Main(ctx context.Context) int {
	if os.Getenv(remote.EnvProbe) != "" {
		return remote.ExitOK
	}
	if dst := os.Getenv(remote.EnvInstall); dst != "" {
		if err := install(dst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return remote.ExitBadEnvironment
		}
		return remote.ExitOK
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	code, err := run(ctx, os.Getenv, childenv.Scrub)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// run reads the worker's settings through env and runs its elements. Once the
// store is open, scrub removes the protocol's variables and the store's
// credentials from the environment tasks see.
func run(ctx context.Context, env func(string) string, scrub func()) (int, error) {
	storeURL, id := env(remote.EnvStoreURL), env(remote.EnvExecution)
	if storeURL == "" || id == "" {
		return remote.ExitBadEnvironment, fmt.Errorf("maptask worker: %s and %s must be set", remote.EnvStoreURL, remote.EnvExecution)
	}
	st, err := store.Open(ctx, storeURL)
	if err != nil {
		return remote.ExitStore, err
	}
	defer st.Close()
	// Everything the worker needs from its environment is read below, before
	// any task runs; the store has read its credentials.
	settings := map[string]string{}
	for _, name := range childenv.Protocol {
		settings[name] = env(name)
	}
	for _, name := range remote.IndexVars {
		settings[name] = env(name)
	}
	env = func(name string) string { return settings[name] }
	scrub()
	spec, err := st.LoadSpec(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return remote.ExitExecutionMissing, fmt.Errorf("maptask worker: execution %q not found in store %s", id, storeURL)
	}
	if errors.Is(err, store.ErrInputsMissing) {
		return remote.ExitInputsMissing, err
	}
	if err != nil {
		return remote.ExitStore, err
	}
	task, ok := registry.Lookup(spec.Task)
	if !ok {
		return remote.ExitTaskNotFound, fmt.Errorf("maptask worker: task %q is not registered in this program (it has: %s); is it the same binary as the driver, and does main call maptask.Init?",
			spec.Task, strings.Join(registry.Names(), ", "))
	}
	cd, err := codec.Lookup(spec.Codec)
	if err != nil {
		return remote.ExitTaskNotFound, err
	}
	attempts, f := attemptsFromEnv(env, spec.N)
	if f != nil {
		return f.code, f.err
	}
	bound, err := st.ReadBound(ctx, id)
	if err != nil {
		return remote.ExitInputsMissing, fmt.Errorf("maptask worker: bound value of execution %q: %w", id, err)
	}
	runner, err := task.NewRunner(cd, bound)
	if err != nil {
		return remote.ExitInputsMissing, err
	}
	var timeout time.Duration
	if v := env(remote.EnvTimeout); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil {
			return remote.ExitBadEnvironment, fmt.Errorf("maptask worker: %s %q: %w", remote.EnvTimeout, v, err)
		}
	}
	maxLog, _ := strconv.Atoi(env(remote.EnvMaxLog))
	writer := env(remote.EnvWriter)
	if writer == "" {
		host, _ := os.Hostname()
		writer = fmt.Sprintf("w-%s-%d-%d", sanitize(host), os.Getpid(), time.Now().UnixNano())
	}
	w := &worker{st: st, id: id, writer: writer, runner: runner, timeout: timeout, maxLog: maxLog, retries: -1}
	if prefix := env(remote.EnvResume); prefix != "" {
		if w.retries, err = strconv.Atoi(env(remote.EnvRetries)); err != nil || w.retries < 0 {
			return remote.ExitBadEnvironment, fmt.Errorf("maptask worker: %s %q: not a count", remote.EnvRetries, env(remote.EnvRetries))
		}
		earlier, err := st.ReadJournals(ctx, id, prefix)
		if err != nil {
			return remote.ExitStore, fmt.Errorf("maptask worker: reading what earlier workers did: %w", err)
		}
		attempts, w.settled = Resume(attempts, earlier, w.retries)
		if len(attempts) == 0 {
			return w.exitCode(0, 0), nil
		}
	}
	return w.runAll(ctx, attempts)
}

// Resume takes over attempts from earlier workers of the same elements, given
// what they recorded: an element that succeeded, failed permanently or spent
// its retries is not run again; the others run with the next attempt numbers.
// settled counts the elements left out that failed for good.
func Resume(attempts []backend.Attempt, earlier []store.Record, retries int) (rest []backend.Attempt, settled int) {
	type seen struct {
		latest      store.Record
		fails, last int
	}
	by := map[int]*seen{}
	for _, r := range earlier {
		s := by[r.Index]
		if s == nil {
			s = &seen{}
			by[r.Index] = s
		}
		if s.last == 0 || r.Time >= s.latest.Time {
			s.latest = r
		}
		s.last = max(s.last, r.Attempts)
		if r.Outcome.Spends() {
			s.fails++
		}
	}
	for _, a := range attempts {
		s := by[a.Index]
		switch {
		case s == nil:
			rest = append(rest, a)
		case s.latest.Status == store.StatusSucceeded:
		case s.latest.Permanent || s.fails > retries:
			settled++
		default:
			rest = append(rest, backend.Attempt{Index: a.Index, Number: max(a.Number, s.last+1)})
		}
	}
	return rest, settled
}

// Program is the worker program a backend starts: path when it is set (a
// backend's Executable option), else this program.
func Program(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this program to run as a worker: %w", err)
	}
	return self, nil
}

// install copies this program to dst, executable.
func install(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("maptask worker: %s: %w", remote.EnvInstall, err)
	}
	in, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("maptask worker: %s: %w", remote.EnvInstall, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("maptask worker: %s: %w", remote.EnvInstall, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("maptask worker: %s: %w", remote.EnvInstall, err)
	}
	return out.Close()
}

// attemptsFromEnv returns the attempts this worker owns.
func attemptsFromEnv(env func(string) string, n int) ([]backend.Attempt, *failure) {
	if list := env(remote.EnvAttempts); list != "" {
		out, err := remote.ParseAttempts(list, n)
		if err != nil {
			return nil, fail(remote.ExitBadEnvironment, "%s: %v", remote.EnvAttempts, err)
		}
		return out, nil
	}
	var index = -1
	for _, v := range remote.IndexVars {
		if s := env(v); s != "" {
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 {
				return nil, fail(remote.ExitBadEnvironment, "%s %q: not an array index", v, s)
			}
			index = i
			break
		}
	}
	if index < 0 {
		return nil, fail(remote.ExitBadEnvironment, "no element index: set %s, or one of %s", remote.EnvAttempts, strings.Join(remote.IndexVars, ", "))
	}
	if tasks := env(remote.EnvTasks); tasks != "" {
		// An array over arbitrary elements (retries of scattered ones): the
		// array index picks this worker's list.
		lists := strings.Split(tasks, ";")
		if index >= len(lists) {
			return nil, fail(remote.ExitBadEnvironment, "array index %d: %s has %d entries", index, remote.EnvTasks, len(lists))
		}
		out, err := remote.ParseAttempts(lists[index], n)
		if err != nil {
			return nil, fail(remote.ExitBadEnvironment, "%s entry %d: %v", remote.EnvTasks, index, err)
		}
		return out, nil
	}
	num := func(name string, def int) (int, *failure) {
		s := env(name)
		if s == "" {
			return def, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, fail(remote.ExitBadEnvironment, "%s %q: not a count", name, s)
		}
		return v, nil
	}
	offset, f := num(remote.EnvOffset, 0)
	if f != nil {
		return nil, f
	}
	batch, f := num(remote.EnvBatch, 1)
	if f != nil {
		return nil, f
	}
	attempt, f := num(remote.EnvAttempt, 1)
	if f != nil {
		return nil, f
	}
	batch, attempt = max(batch, 1), max(attempt, 1)
	first := offset + index*batch
	if first >= n {
		return nil, fail(remote.ExitInputsMissing, "array index %d (offset %d, batch %d) is past the execution's %d inputs", index, offset, batch, n)
	}
	var out []backend.Attempt
	for i := first; i < min(first+batch, n); i++ {
		out = append(out, backend.Attempt{Index: i, Number: attempt})
	}
	return out, nil
}

type worker struct {
	st      *store.Store
	id      string
	writer  string
	runner  registry.Runner
	timeout time.Duration
	maxLog  int
	retries int // user retries per element; -1 when unknown
	settled int // elements failed for good before this worker (see Resume)
}

// exitCode says what became of the worker's elements: some failed and may be
// retried (1), some failed for good (100), or none failed (0). A failure that
// spent the last retry counts as for good, so that a Job does not retry it.
func (w *worker) exitCode(retryable, final int) int {
	switch {
	case retryable > 0:
		return remote.ExitElementFailed
	case final+w.settled > 0:
		return remote.ExitPermanent
	}
	return remote.ExitOK
}

func (w *worker) runAll(ctx context.Context, attempts []backend.Attempt) (int, error) {
	// Inputs of consecutive elements are read in one ranged read.
	var inputs [][]byte // of elements lo, lo+1, ...
	lo, hi := attempts[0].Index, attempts[0].Index
	for _, a := range attempts {
		lo, hi = min(lo, a.Index), max(hi, a.Index)
	}
	if hi-lo+1 <= 4*len(attempts) {
		var err error
		if inputs, err = w.st.ReadInputs(ctx, w.id, lo, hi+1); err != nil {
			return remote.ExitInputsMissing, fmt.Errorf("maptask worker: inputs of execution %q: %w", w.id, err)
		}
	}
	// Each element is journaled before the next starts (a killed worker loses
	// only the one it was running); a failed write is retried with backoff.
	jw, err := w.st.OpenJournal(ctx, w.id, w.writer)
	if err != nil {
		return remote.ExitStore, fmt.Errorf("maptask worker: execution %q: %w", w.id, err)
	}
	defer jw.Close()
	log := commit.New(jw, commit.Policy{}, nil)
	retryable, final := 0, 0
	for _, a := range attempts {
		if ctx.Err() != nil {
			break // asked to stop: what is not started stays unrecorded
		}
		var in []byte
		if k := a.Index - lo; k < len(inputs) {
			in = inputs[k]
		} else {
			var err error
			if in, err = w.st.ReadInput(ctx, w.id, a.Index); err != nil {
				return remote.ExitInputsMissing, fmt.Errorf("maptask worker: input %d of execution %q: %w", a.Index, w.id, err)
			}
		}
		rec := w.runOne(ctx, a, in)
		switch {
		case rec.Status == store.StatusSucceeded || rec.Outcome == store.OutcomeCancelled:
		case rec.Permanent || (w.retries >= 0 && a.Number > w.retries):
			final++
		default:
			retryable++
		}
		// Finished work is written even while the worker is being stopped.
		log.Add(rec)
		if err := log.Sync(); err != nil {
			return remote.ExitStore, fmt.Errorf("maptask worker: execution %q: %w", w.id, err)
		}
	}
	if ctx.Err() != nil {
		return remote.ExitStopped, nil
	}
	return w.exitCode(retryable, final), nil
}

// runOne runs one attempt and returns its journal record.
func (w *worker) runOne(ctx context.Context, a backend.Attempt, input []byte) store.Record {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if w.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, w.timeout)
	}
	defer cancel()
	log, errLog := logbuf.New(w.maxLog), logbuf.New(w.maxLog)
	start := time.Now()
	out, err := w.runner(actx, a, log, errLog, input)
	end := time.Now() // one clock read for both: a read costs here as much as a trivial task
	rec := store.Record{Index: a.Index, Attempts: a.Number, DurationNS: int64(end.Sub(start)), Time: end.UnixNano()}
	status, permanent := backend.Classify(ctx, actx, err)
	if status == backend.TimedOut {
		err = &backend.TimedOutError{After: w.timeout}
	}
	rec.Outcome = store.OutcomeOf(status)
	if status == backend.Succeeded {
		rec.Status, rec.Output = store.StatusSucceeded, out
	} else {
		rec.Status, rec.Err, rec.Permanent = store.StatusFailed, err.Error(), permanent
		// A command's exit status travels with the record (--results, status).
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			code := ec.ExitCode()
			rec.ExitCode = &code
		}
	}
	if err := w.st.PutAttemptLogs(context.WithoutCancel(ctx), w.id, a.Index, a.Number, log, errLog); err != nil {
		fmt.Fprintf(os.Stderr, "maptask worker: keeping the log of element %d: %v\n", a.Index, err)
	}
	return rec
}

// sanitize keeps the characters an execution id or writer name may hold.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

// KeepBatchOutput keeps a worker's own output (what it printed outside any
// task's log) as the log of the first attempt of its batch, unless the task
// logged there already. Backends call it after a worker ends.
func KeepBatchOutput(ctx context.Context, st *store.Store, id string, attempts []backend.Attempt, output []byte) {
	if len(output) == 0 || len(attempts) == 0 {
		return
	}
	a := attempts[0]
	logs, err := st.ReadLogs(ctx, id, a.Index)
	if err != nil {
		return
	}
	for _, l := range logs {
		if l.Attempt == a.Number {
			return
		}
	}
	_ = st.PutLog(ctx, id, a.Index, a.Number, output)
}
