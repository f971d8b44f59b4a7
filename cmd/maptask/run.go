package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/kubernetes"
	"github.com/maptask/maptask/backend/slurm"
	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/internal/progress"
	"github.com/maptask/maptask/store"
)

// runFlags are the options of `maptask run` (and of `maptask resume`, which
// reads them back from the execution's labels).
type runFlags struct {
	concurrency  int
	ratio        float64
	minSuccesses int
	retries      int
	timeout      time.Duration
	cache        string
	execution    string
	backend      string
	inputFile    string
	results      string
	progress     string
	partition    string
	account      string
	image        string
	namespace    string
	registry     string
	workerImage  string
	workerBinary string
	insecure     bool
	slurmDir     string
	env          []string
}

func (f *runFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVarP(&f.concurrency, "concurrency", "j", runtime.NumCPU(), "commands running at once; 0 means as many as the machine allows (8 per CPU locally; unbounded on a cluster)")
	fl.Float64Var(&f.ratio, "min-success-ratio", 0, "succeed when this share of inputs succeeds, in (0, 1] (default: all)")
	fl.IntVar(&f.minSuccesses, "min-successes", -1, "succeed when this many inputs succeed (default: all)")
	fl.IntVar(&f.retries, "retries", 0, "times a failed command is run again for the same input")
	fl.DurationVar(&f.timeout, "timeout", 0, "kill an attempt (and everything it started) after this long; 0 means never")
	fl.StringVar(&f.cache, "cache", "", "reuse results of earlier runs of the same command and input under this cache version")
	fl.StringVar(&f.execution, "execution", "", "name the execution; running again with the same name resumes it (default: a new name)")
	fl.StringVar(&f.backend, "backend", "local", "where commands run: local (child processes of maptask), kubernetes (an Indexed Job) or slurm (a job array)")
	fl.StringVar(&f.partition, "partition", "", "slurm: the partition to submit to (default: the cluster's)")
	fl.StringVar(&f.account, "account", "", "slurm: the account to charge")
	fl.StringVar(&f.slurmDir, "slurm-dir", "", "slurm: private work directory for scripts and array task output, on a filesystem the nodes share (default: in your cache directory)")
	fl.StringArrayVar(&f.env, "env", nil, "pass this variable to commands although maptask withholds it by default (store credentials such as AWS_SECRET_ACCESS_KEY); repeatable")
	fl.StringVar(&f.image, "image", "", "kubernetes: the image commands run in (maptask is copied into it by an init container)")
	fl.StringVar(&f.namespace, "namespace", "", "kubernetes: the namespace (default: the kubeconfig context's)")
	fl.StringVar(&f.registry, "registry", "", "kubernetes: repository the maptask worker image is pushed to (like registry.example.com/team/maptask)")
	fl.StringVar(&f.workerImage, "worker-image", "", "kubernetes: an image holding a static maptask at /maptask-worker, instead of pushing this one")
	fl.StringVar(&f.workerBinary, "worker-binary", "", "kubernetes: a static maptask binary to push as the worker image (default: this maptask, which must be static)")
	fl.BoolVar(&f.insecure, "insecure-registry", false, "kubernetes: the registry speaks plain HTTP")
	fl.StringVar(&f.inputFile, "input-file", "", "read inputs from FILE, one per line ('-' for standard input)")
	fl.StringVar(&f.results, "results", "", "write one JSON object per input to FILE (JSON Lines)")
	fl.StringVar(&f.progress, "progress", "auto", "progress display: auto (a bar on a terminal, lines otherwise), always (a bar), never")
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...] [::: INPUT...]",
		Short: "Run a command once per input, in parallel, with failure tolerance, retries, caching and resume",
		Long: `Run COMMAND once per input. In COMMAND and its arguments, {} is replaced by the
input and {index} by its 0-based index; both are also in the command's
environment as MAPTASK_INPUT and MAPTASK_INDEX. A command without {} gets the
input as its last argument (as in GNU parallel and xargs). A command holding a
shell metacharacter (| & ; < > $ * ...) runs through sh -c, with the input
shell-quoted; otherwise it is executed directly.

Inputs come after ':::' or from --input-file. Every run is a durable execution in
the store: 'maptask status', 'maptask logs' and 'maptask resume' take its name.

A command that exits with status 100 fails its input for good, without retries.

Exit status: 0 when enough inputs succeeded, 1 when the run failed its
--min-success-ratio / --min-successes bar (or was cancelled), 2 for bad usage
or bad input (then nothing was launched).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			argv, inputs, err := splitInputs(args)
			if err != nil {
				return err
			}
			if f.inputFile != "" {
				if len(inputs) > 0 {
					return usageError("inputs given both after ':::' and by --input-file: use one")
				}
				if inputs, err = readInputFile(f.inputFile, cmd.InOrStdin()); err != nil {
					return err
				}
			} else if inputs == nil {
				return usageError("no inputs: give them after ':::' or with --input-file FILE")
			}
			spec, err := command.NewSpec(argv)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			spec.Env = f.env
			in := make([]command.Input, len(inputs))
			for i, v := range inputs {
				in[i] = command.Input{v}
			}
			return mapCommand(cmd, g, f, spec, in, cmd.Flags().Changed)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after COMMAND belong to COMMAND
	f.register(cmd)
	return cmd
}

// splitInputs separates COMMAND [ARG...] from the inputs after ':::'.
func splitInputs(args []string) (argv, inputs []string, err error) {
	for i, a := range args {
		if a == ":::" {
			argv, inputs = args[:i], args[i+1:]
			if len(inputs) == 0 {
				return nil, nil, usageError("no inputs after ':::'")
			}
			break
		}
	}
	if inputs == nil {
		argv = args
	}
	if len(argv) == 0 {
		return nil, nil, usageError("no command given: maptask run [flags] -- COMMAND [ARG...] [::: INPUT...]")
	}
	return argv, inputs, nil
}

// readInputFile reads one input per line. Empty lines are inputs too, except a
// final newline. A NUL byte is refused: commands cannot take it as an argument.
func readInputFile(name string, stdin io.Reader) ([]string, error) {
	var r io.Reader = stdin
	if name != "-" {
		fh, err := os.Open(name)
		if err != nil {
			return nil, &exitError{exitUsage, fmt.Errorf("maptask: --input-file: %w", err)}
		}
		defer fh.Close()
		r = fh
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var inputs []string
	for line := 1; sc.Scan(); line++ {
		if bytes.IndexByte(sc.Bytes(), 0) >= 0 {
			return nil, usageError("--input-file %s line %d holds a NUL byte: inputs are passed as arguments and cannot contain one", name, line)
		}
		inputs = append(inputs, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("maptask: --input-file %s: %w", name, err)}
	}
	if len(inputs) == 0 {
		return nil, usageError("--input-file %s holds no inputs", name)
	}
	return inputs, nil
}

// mapCommand runs spec over inputs as a durable execution and reports the verdict.
func mapCommand(cmd *cobra.Command, g *globals, f *runFlags, spec command.Spec, inputs []command.Input, changed func(string) bool) error {
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
		be = &kubernetes.Backend{JobOptions: kubernetes.JobOptions{Namespace: f.namespace}, Image: f.image,
			Registry: f.registry, WorkerImage: f.workerImage, Executable: f.workerBinary, Insecure: f.insecure}
	default:
		return usageError("--backend %q: must be local, kubernetes or slurm", f.backend)
	}
	mode, err := progress.ParseMode(f.progress)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	if f.execution == "" {
		f.execution = "run-" + time.Now().UTC().Format("20060102-150405") + fmt.Sprintf("-%04x", os.Getpid()&0xffff)
	}
	if err := store.ValidateID(f.execution); err != nil {
		return &exitError{exitUsage, err}
	}
	if f.concurrency < 0 {
		return usageError("--concurrency %d: must be 0 (as many as the machine allows) or more", f.concurrency)
	}
	concurrency := f.concurrency
	if concurrency == 0 && be == nil {
		// Each local command is a process of this machine: never one per input at once.
		concurrency = backend.LocalProcessLimit()
	}
	storeURL, err := g.url()
	if err != nil {
		return err
	}
	task := command.Task.Bind(spec).WithOverrides(maptask.Retries(f.retries), maptask.Timeout(f.timeout))
	if f.cache != "" {
		task = task.WithOverrides(maptask.Cache(f.cache))
	}
	opts := []maptask.MapOption{
		maptask.Concurrency(concurrency),
		maptask.Execution(f.execution),
		maptask.StoreURL(storeURL),
		maptask.Labels(f.labels()),
	}
	if be != nil {
		opts = append(opts, maptask.Backend(be))
	}
	if changed("min-success-ratio") {
		opts = append(opts, maptask.MinSuccessRatio(f.ratio))
	}
	if changed("min-successes") {
		opts = append(opts, maptask.MinSuccesses(f.minSuccesses))
	}
	switch mode {
	case progress.Always:
		opts = append(opts, maptask.Progress(cmd.ErrOrStderr()), maptask.ProgressBar())
	case progress.Auto:
		opts = append(opts, maptask.Progress(cmd.ErrOrStderr()))
	}
	var results io.WriteCloser
	if f.results != "" {
		if results, err = os.Create(f.results); err != nil {
			return &exitError{exitUsage, fmt.Errorf("maptask: --results: %w", err)}
		}
		defer results.Close()
	}

	// Ctrl-C stops the run; what finished is kept and 'maptask resume' goes on.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(cmd.ErrOrStderr(), "maptask: execution %s (%d inputs) in %s\n", f.execution, len(inputs), storeURL)
	res, err := maptask.Map(ctx, task, inputs, opts...)
	if res == nil { // refused before anything ran
		return &exitError{exitUsage, err}
	}
	if results != nil {
		if werr := writeResults(results, inputs, res); werr != nil {
			return &exitError{exitFailed, werr}
		}
	}
	if err != nil {
		var me *maptask.MapError
		if errors.As(err, &me) {
			msg := fmt.Sprintf("maptask: execution %s: %d of %d inputs succeeded, %d required%s (maptask status %s)",
				f.execution, me.Succeeded, me.Total, me.Required, causeText(me.Cause), f.execution)
			// A store error beside the verdict (a log or cache entry not kept)
			// is said too.
			if multi, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range multi.Unwrap() {
					if e != error(me) {
						msg += "\n" + e.Error()
					}
				}
			}
			return &exitError{exitFailed, &messageError{msg, err}}
		}
		return &exitError{exitFailed, err}
	}
	return nil
}

// messageError is err said in other words: errors.Is and errors.As still see err.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

func causeText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, maptask.ErrCancelled):
		return ": cancelled"
	case errors.Is(err, context.Canceled):
		return ": interrupted"
	case errors.Is(err, maptask.ErrStopped):
		return ": stopped early"
	}
	return ": " + err.Error()
}

// labels records the flags in the execution, for maptask resume.
// placement are the flags saying where commands run, kept in the execution's
// labels.
func (f *runFlags) placement() map[string]*string {
	return map[string]*string{"backend": &f.backend, "partition": &f.partition, "account": &f.account, "slurm-dir": &f.slurmDir,
		"image": &f.image, "namespace": &f.namespace, "registry": &f.registry, "worker-image": &f.workerImage}
}

func (f *runFlags) labels() map[string]string {
	l := f.options()
	for flag, v := range f.placement() {
		if *v != "" {
			l["cli."+flag] = *v
		}
	}
	return l
}

func (f *runFlags) options() map[string]string {
	return map[string]string{
		"cli.concurrency":   strconv.Itoa(f.concurrency),
		"cli.ratio":         strconv.FormatFloat(f.ratio, 'g', -1, 64),
		"cli.min-successes": strconv.Itoa(f.minSuccesses),
		"cli.retries":       strconv.Itoa(f.retries),
		"cli.timeout":       f.timeout.String(),
		"cli.cache":         f.cache,
	}
}

// resultLine is one line of --results.
type resultLine struct {
	Index      int    `json:"index"`
	Input      string `json:"input"`
	Status     string `json:"status"` // succeeded, failed, not run
	ExitCode   int    `json:"exit_code"`
	Attempts   int    `json:"attempts"`
	DurationMS int64  `json:"duration_ms"`
	Cached     bool   `json:"cached"`
	Error      string `json:"error,omitempty"`
}

func writeResults(w io.Writer, inputs []command.Input, res *maptask.Results[command.Result]) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i, r := range res.All() {
		line := resultLine{Index: i, Input: inputs[i].String(), Status: "succeeded", ExitCode: r.Value.ExitCode,
			Attempts: r.Attempts, DurationMS: r.Duration.Milliseconds(), Cached: r.Cached}
		if r.Err != nil {
			line.Status, line.ExitCode, line.Error = "failed", -1, r.Err.Error()
			if errors.Is(r.Err, maptask.ErrNotRun) {
				line.Status = "not run"
			}
			var ec interface{ ExitCode() int }
			if errors.As(r.Err, &ec) {
				line.ExitCode = ec.ExitCode()
			}
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
