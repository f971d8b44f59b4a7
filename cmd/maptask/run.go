package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/backend/slurm"
	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/internal/progress"
	"github.com/maptask/maptask/store"
)

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...] [::: INPUT... | :::: FILE...]",
		Short: "Run a command once per input, in parallel, with failure tolerance, retries, caching and resume",
		Long: `Run COMMAND once per input, as GNU parallel does, as a durable execution.

Inputs come after ':::' (several ':::' make every combination; ':::+' pairs a
source with the one before it, element by element), from files after '::::'
or given by --input-file, or, when none of these is given and standard input
is not a terminal, from standard input, one per line.

In COMMAND and its arguments these are replaced for each input:
  {}     the input (with several sources, their values joined by a space)
  {.}    the input without its extension      {/}   its base name
  {//}   its directory                        {/.}  base name without extension
  {N}    the Nth source, or Nth column with --colsep; {N.} {N/} {N//} {N/.} too
  {#}    the job number, from 1               {%}   the job slot, from 1
  {index} the 0-based index
Any other placeholder ({..}, {=perl=}) is refused. A command without any
placeholder gets the input as its last argument. The input is also in the
command's environment as MAPTASK_INPUT, and its index as MAPTASK_INDEX. A
command holding a shell metacharacter (| & ; < > $ * ...) runs through sh -c
with the input shell-quoted; otherwise it is executed directly.

Each command's output reaches maptask's standard output and standard error,
grouped per input as it finishes (-k: in input order; --line-buffer: line by
line; --quiet: none), and is kept in the store ('maptask logs').

Every run is a durable execution in the store: 'maptask status', 'maptask logs'
and 'maptask resume' take its name. A command that exits with status 100 fails
its input for good, without retries.

Exit status: 0 when enough inputs succeeded; 1 when the run failed its
--min-success-ratio / --min-successes bar, or was cancelled; 2 for bad usage or
bad input (nothing was launched); 3 when the store cannot be used; 4 when
another maptask runs the same execution.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd.Flags().Changed); err != nil {
				return err
			}
			stdin := cmd.InOrStdin()
			argv, inputs, sources, err := parseSources(args, f.inputFiles, stdin, isTerminalReader(stdin))
			if err != nil {
				return &exitError{exitUsage, err}
			}
			spec, err := command.NewSpec(argv)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			spec.Env, spec.Colsep = f.env, f.colsep
			if sources > 1 { // 0 keeps a one-source command's encoding, and so its cache keys, as before
				spec.Sources = sources
			}
			if err := spec.Validate(); err != nil {
				return &exitError{exitUsage, err}
			}
			return mapCommand(cmd, g, f, spec, inputs)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after COMMAND belong to COMMAND
	f.register(cmd, false)
	return cmd
}

// isTerminalReader reports whether standard input is a terminal (then inputs
// are not read from it).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}

// mapCommand runs spec over inputs as a durable execution and reports the verdict.
func mapCommand(cmd *cobra.Command, g *globals, f *runFlags, spec command.Spec, inputs []command.Input) error {
	var be backend.Backend
	switch f.backend {
	case "local":
	case "slurm":
		// Array tasks run this maptask binary as the worker, which runs the command.
		be = &slurm.Backend{Partition: f.partition, Account: f.account, WorkDir: f.slurmDir}
	case "kubernetes":
		// Pods run the command in --image, with this maptask binary (static:
		// built with CGO_ENABLED=0) copied in as the worker.
		if f.image == "" {
			return usageError("--backend kubernetes needs --image: the image the command runs in")
		}
		if f.registry == "" && f.workerImage == "" {
			return usageError("--backend kubernetes needs --registry (where this maptask is pushed as the worker image) or --worker-image")
		}
		be = &kubernetes.Backend{JobOptions: kubernetes.JobOptions{Namespace: f.namespace, PendingTimeout: f.pendingTO}, Image: f.image,
			Registry: f.registry, WorkerImage: f.workerImage, Executable: workerBinary(f.workerBinary), Insecure: f.insecure}
	}
	mode, _ := progress.ParseMode(f.progress) // checked with the flags
	if f.ratio > 0 && f.minSuccesses >= 0 {
		return usageError("--min-success-ratio %v and --min-successes %d: give one", f.ratio, f.minSuccesses)
	}
	if f.minSuccesses > len(inputs) {
		return usageError("--min-successes %d: more than the %d inputs", f.minSuccesses, len(inputs))
	}
	concurrency := f.concurrency
	if concurrency == 0 && be == nil {
		// Each local command is a process of this machine: never one per input at once.
		concurrency = backend.LocalProcessLimit()
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.dryRun {
		return dryRun(out, spec, inputs, max(concurrency, 1))
	}
	if f.execution == "" {
		f.execution = "run-" + time.Now().UTC().Format("20060102-150405") + fmt.Sprintf("-%04x", os.Getpid()&0xffff)
	}
	if err := store.ValidateID(f.execution); err != nil {
		return &exitError{exitUsage, err}
	}
	storeURL, err := g.url()
	if err != nil {
		return err
	}
	var results *resultsFile
	if f.results != "" {
		// Appended to as inputs finish; a resumed run starts it afresh, but
		// only once it runs: a run refused (another maptask runs the
		// execution and writes this file) leaves it alone.
		fh, err := os.OpenFile(f.results, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return &localFileError{fmt.Errorf("maptask: --results: %w", err)}
		}
		defer fh.Close()
		results = newResultsFile(fh, len(inputs))
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The CLI reads back what remote workers printed, and the failures' last
	// lines, from the store.
	st, err := store.Open(ctx, storeURL)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	defer st.Close()

	task := command.Task.Bind(spec).WithOverrides(maptask.Retries(f.retries), maptask.Timeout(f.timeout))
	if f.cache != "" {
		task = task.WithOverrides(maptask.Cache(f.cache))
	}
	con := newConsole(out, errOut)
	var tag func(int) string
	if f.tag {
		tag = func(i int) string { return inputs[i].String() + "\t" }
	}
	pr := newPrinter(outputModeOf(f), con, tag, st, f.execution, be != nil)
	var fails failures
	opts := []maptask.MapOption{
		maptask.Concurrency(concurrency),
		maptask.Execution(f.execution),
		maptask.StoreURL(storeURL),
		maptask.Labels(f.labels()),
		maptask.ProgressLabel(shortCommand(spec)),
		maptask.OnResult(func(i int, r maptask.Result[command.Result]) {
			pr.finished(ctx, i, r.Attempts, !r.Cached)
			if results != nil {
				results.add(newResultLine(i, inputs[i], r))
			}
			if r.Err != nil {
				fails.add(i, r)
			}
		}),
	}
	if be != nil {
		opts = append(opts, maptask.Backend(be))
	}
	if f.ratio > 0 {
		opts = append(opts, maptask.MinSuccessRatio(f.ratio))
	}
	if f.minSuccesses >= 0 {
		opts = append(opts, maptask.MinSuccesses(f.minSuccesses))
	}
	if f.keepGoing {
		opts = append(opts, maptask.RunAll())
	}
	switch {
	case mode == progress.Always || (mode == progress.Auto && con.errTTY):
		opts = append(opts, maptask.Progress(con.barWriter()), maptask.ProgressBar())
	case mode == progress.Auto:
		opts = append(opts, maptask.Progress(errOut))
	}
	if be == nil {
		ctx = command.WithWatcher(ctx, pr)
	}

	fmt.Fprintf(errOut, "maptask: execution %s (%d inputs) in %s\n", f.execution, len(inputs), storeURL)
	res, err := maptask.Map(ctx, task, inputs, opts...)
	pr.end()
	var me *maptask.MapError
	if err != nil && !errors.As(err, &me) {
		if res == nil || res.Len() == 0 {
			// Refused before anything ran (bad options, the store, another
			// driver: see exitCode).
			return &exitError{exitUsage, err}
		}
		return &exitError{exitFailed, err} // every input succeeded, but the store failed to keep something
	}
	if results != nil {
		if werr := results.finish(inputs, res); werr != nil {
			return &exitError{exitFailed, fmt.Errorf("maptask: --results %s: %w", f.results, werr)}
		}
	}
	if err == nil {
		// Failures the bar tolerated are still worth knowing about.
		fails.describe(ctx, errOut, st, f.execution, inputs)
		return nil
	}
	var msg strings.Builder
	msg.WriteString(verdictLine(f.execution, me, res))
	// A store error beside the verdict (a log or cache entry not kept) is said too.
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if e != error(me) {
				msg.WriteString("\n" + e.Error())
			}
		}
	}
	msg.WriteString("\n")
	fails.describe(ctx, &msg, st, f.execution, inputs)
	return &exitError{exitFailed, &messageError{strings.TrimSuffix(msg.String(), "\n"), err}}
}

func outputModeOf(f *runFlags) outputMode {
	switch {
	case f.quiet:
		return quiet
	case f.lineBuffer:
		return lineBuffer
	case f.keepOrder:
		return keepOrder
	}
	return grouped
}

// verdictLine says how a failed run ended, with the counts status shows.
func verdictLine(id string, me *maptask.MapError, res *maptask.Results[command.Result]) string {
	var failed, notRun, cached int
	for _, r := range res.All() {
		switch stateOf(r) {
		case stateFailed:
			failed++
		case stateNotRun:
			notRun++
		case stateSucceeded:
			if fromCache(r) {
				cached++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "maptask: execution %s: %d of %d inputs succeeded", id, me.Succeeded, me.Total)
	if cached > 0 {
		fmt.Fprintf(&b, " (%d cached)", cached)
	}
	fmt.Fprintf(&b, ", %d required; %d failed, %d not run", me.Required, failed, notRun)
	switch cause := me.Cause; {
	case cause == nil:
	case errors.Is(cause, maptask.ErrCancelled):
		b.WriteString(": cancelled")
	case errors.Is(cause, context.Canceled):
		b.WriteString(": interrupted")
	case errors.Is(cause, maptask.ErrStopped):
		if notRun > 0 {
			b.WriteString(" (stopped early: the bar was out of reach; --keep-going runs them all)")
		}
	default:
		b.WriteString(": " + cause.Error())
	}
	if failed+notRun > 0 {
		fmt.Fprintf(&b, "\nmaptask: 'maptask resume %s' runs the failed and unrun inputs again", id)
	}
	return b.String()
}

// messageError is err said in other words: errors.Is and errors.As still see err.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

// dryRun prints the command each input would run, and runs nothing.
func dryRun(w io.Writer, spec command.Spec, inputs []command.Input, slots int) error {
	for i, in := range inputs {
		args := spec.Expand(in, i, i%slots+1)
		if spec.Shell {
			fmt.Fprintln(w, printable(strings.Join(args, " ")))
			continue
		}
		words := make([]string, len(args))
		for k, a := range args {
			words[k] = shellWord(a)
		}
		fmt.Fprintln(w, printable(strings.Join(words, " ")))
	}
	return nil
}

// shellWord quotes a word for a shell only when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%{}") == "" {
		return s
	}
	return remote.ShellQuote(s)
}

// shortCommand is the command as the progress bar names it.
func shortCommand(spec command.Spec) string {
	if spec.Shell && !spec.Quote {
		return printable(strings.Join(spec.Args, " "))
	}
	words := make([]string, len(spec.Args))
	for i, a := range spec.Args {
		words[i] = a
		if !command.IsShellOperator(a) || !spec.Shell {
			words[i] = shellWord(a)
		}
	}
	return printable(strings.Join(words, " "))
}
