package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maptask/maptask/internal/progress"
)

// runFlags are the options of `maptask run`, and of `maptask resume`, which
// reads the recorded ones back from the execution's labels.
type runFlags struct {
	concurrency  int
	ratio        float64
	minSuccesses int
	retries      int
	timeout      time.Duration
	cache        string
	keepGoing    bool
	execution    string
	backend      string
	inputFiles   []string
	colsep       string
	results      string
	progress     string
	keepOrder    bool
	tag          bool
	lineBuffer   bool
	quiet        bool
	dryRun       bool
	partition    string
	account      string
	image        string
	namespace    string
	registry     string
	workerImage  string
	workerBinary string
	insecure     bool
	pendingTO    time.Duration
	slurmDir     string
	env          []string
}

// flagUse says where a flag of the table applies.
type flagUse uint8

const (
	// recorded flags are kept in the execution's labels: resume restores them
	// unless given again.
	recorded flagUse = 1 << iota
	// resumable flags are accepted by resume, for that invocation: the
	// execution keeps what its creation recorded.
	resumable
	// runOnly flags exist only for run: they shape the execution when it is
	// created (its command, its inputs, its name).
	runOnly = 0
)

// runFlag is one row of the table every part of the CLI reads: registration
// (run and resume), the labels an execution records, what resume restores, and
// the checks that name the flag a user typed.
type runFlag struct {
	name  string
	short string
	label string // key in the execution's labels ("cli." + label); "" is name
	use   flagUse
	ptr   func(f *runFlags) any // *int, *float64, *string, *bool, *time.Duration or *[]string
	def   any                   // default, of ptr's element type
	usage string
	check func(f *runFlags) error // nil: any value; called only when the flag is set
}

func (r runFlag) labelKey() string {
	if r.label != "" {
		return "cli." + r.label
	}
	return "cli." + r.name
}

// flagTable lists every flag of run and resume, once.
var flagTable = []runFlag{
	{name: "concurrency", short: "j", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.concurrency }, def: runtime.NumCPU(),
		usage: "commands running at once; 0 means as many as the machine allows (8 per CPU locally; unbounded on a cluster)",
		check: func(f *runFlags) error { return atLeast(f.concurrency, 0, "0 (as many as the machine allows) or more") }},
	{name: "min-success-ratio", label: "ratio", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.ratio }, def: 0.0,
		usage: "succeed when this share of inputs succeeds, in (0, 1] (default: all)",
		check: func(f *runFlags) error {
			if !(f.ratio > 0 && f.ratio <= 1) {
				return fmt.Errorf("must be in (0, 1]")
			}
			return nil
		}},
	{name: "min-successes", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.minSuccesses }, def: -1,
		usage: "succeed when this many inputs succeed (default: all)",
		check: func(f *runFlags) error { return atLeast(f.minSuccesses, 0, "0 or more") }},
	{name: "retries", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.retries }, def: 0,
		usage: "times a failed command is run again for the same input",
		check: func(f *runFlags) error { return atLeast(f.retries, 0, "0 or more") }},
	{name: "timeout", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.timeout }, def: time.Duration(0),
		usage: "kill an attempt (and everything it started) after this long; 0 means never",
		check: func(f *runFlags) error {
			if f.timeout < 0 {
				return fmt.Errorf("must not be negative")
			}
			return nil
		}},
	{name: "cache", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.cache }, def: "",
		usage: "reuse results of earlier runs of the same command and input under this cache version"},
	{name: "keep-going", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.keepGoing }, def: false,
		usage: "run every input even once the run can no longer succeed (GNU parallel's --halt never); the exit status is still 1"},
	{name: "execution", use: runOnly, ptr: func(f *runFlags) any { return &f.execution }, def: "",
		usage: "name the execution; running again with the same name resumes it (default: a new name)"},
	{name: "input-file", short: "a", use: runOnly, ptr: func(f *runFlags) any { return &f.inputFiles }, def: []string(nil),
		usage: "read inputs from FILE, one per line ('-' for standard input); repeatable: each file is an input source, like :::: FILE"},
	{name: "colsep", use: runOnly, ptr: func(f *runFlags) any { return &f.colsep }, def: "",
		usage: "split each input into columns {1} {2} ... at this separator (a regular expression, as in GNU parallel)"},
	{name: "env", use: runOnly, ptr: func(f *runFlags) any { return &f.env }, def: []string(nil),
		usage: "pass this variable to commands although maptask withholds it by default (store credentials such as AWS_SECRET_ACCESS_KEY); repeatable"},
	{name: "dry-run", use: runOnly, ptr: func(f *runFlags) any { return &f.dryRun }, def: false,
		usage: "print the command each input would run, and run nothing"},

	{name: "keep-order", short: "k", use: resumable, ptr: func(f *runFlags) any { return &f.keepOrder }, def: false,
		usage: "print each input's output in input order (default: as inputs finish)"},
	{name: "tag", use: resumable, ptr: func(f *runFlags) any { return &f.tag }, def: false,
		usage: "prefix each line of output with the input and a tab"},
	{name: "line-buffer", use: resumable, ptr: func(f *runFlags) any { return &f.lineBuffer }, def: false,
		usage: "print output line by line as commands write it (lines of different inputs interleave; a line is never cut)"},
	{name: "quiet", use: resumable, ptr: func(f *runFlags) any { return &f.quiet }, def: false,
		usage: "print no command output: keep it in the store only ('maptask logs' shows it); also --no-output"},
	{name: "results", use: resumable, ptr: func(f *runFlags) any { return &f.results }, def: "",
		usage: "append one JSON object per input to FILE as inputs finish (JSON Lines); complete when the run ends"},
	{name: "progress", use: resumable, ptr: func(f *runFlags) any { return &f.progress }, def: "auto",
		usage: "progress display: auto (a bar on a terminal, lines otherwise), always (a bar), never",
		check: func(f *runFlags) error { _, err := progress.ParseMode(f.progress); return trimPrefix(err) }},

	{name: "backend", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.backend }, def: "local",
		usage: "where commands run: local (child processes of maptask), kubernetes (an Indexed Job) or slurm (a job array)",
		check: func(f *runFlags) error {
			switch f.backend {
			case "local", "slurm", "kubernetes":
				return nil
			}
			return fmt.Errorf("must be local, kubernetes or slurm")
		}},
	{name: "partition", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.partition }, def: "",
		usage: "slurm: the partition to submit to (default: the cluster's)"},
	{name: "account", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.account }, def: "",
		usage: "slurm: the account to charge"},
	{name: "slurm-dir", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.slurmDir }, def: "",
		usage: "slurm: private work directory for scripts and array task output, on a filesystem the nodes share (default: in your cache directory)"},
	{name: "image", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.image }, def: "",
		usage: "kubernetes: the image commands run in (maptask is copied into it by an init container)"},
	{name: "namespace", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.namespace }, def: "",
		usage: "kubernetes: the namespace (default: the kubeconfig context's)"},
	{name: "registry", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.registry }, def: "",
		usage: "kubernetes: repository the maptask worker image is pushed to (like registry.example.com/team/maptask)"},
	{name: "worker-image", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.workerImage }, def: "",
		usage: "kubernetes: an image holding a static maptask at /maptask-worker, instead of pushing this one"},
	{name: "worker-binary", use: resumable, ptr: func(f *runFlags) any { return &f.workerBinary }, def: "",
		usage: "kubernetes: a static maptask (or maptask-worker) binary to push as the worker image (default: maptask-worker beside this maptask when built from the same source, else this maptask, which must be static)"},
	{name: "pending-timeout", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.pendingTO }, def: time.Duration(0),
		usage: "kubernetes: fail the run when a pod waits this long for a node (Unschedulable) while none of the run's pods starts; 0 means 2m, negative never"},
	{name: "insecure-registry", use: recorded | resumable, ptr: func(f *runFlags) any { return &f.insecure }, def: false,
		usage: "kubernetes: the registry speaks plain HTTP"},
}

// register adds the table's flags that apply to a command: run takes them
// all, resume only the resumable ones.
func (f *runFlags) register(cmd *cobra.Command, resume bool) {
	fl := cmd.Flags()
	for _, r := range flagTable {
		if resume && r.use&resumable == 0 {
			continue
		}
		switch p := r.ptr(f).(type) {
		case *int:
			fl.IntVarP(p, r.name, r.short, r.def.(int), r.usage)
		case *float64:
			fl.Float64VarP(p, r.name, r.short, r.def.(float64), r.usage)
		case *string:
			fl.StringVarP(p, r.name, r.short, r.def.(string), r.usage)
		case *bool:
			fl.BoolVarP(p, r.name, r.short, r.def.(bool), r.usage)
		case *time.Duration:
			fl.DurationVarP(p, r.name, r.short, r.def.(time.Duration), r.usage)
		case *[]string:
			fl.StringArrayVarP(p, r.name, r.short, r.def.([]string), r.usage)
		default:
			panic(fmt.Sprintf("maptask: flag --%s: unsupported type %T", r.name, p))
		}
	}
	// GNU parallel's other spelling of --quiet.
	fl.BoolVar(&f.quiet, "no-output", false, "the same as --quiet")
	fl.Lookup("no-output").Hidden = true
}

// check runs the table's checks on the flags set (given now, or restored by
// resume), and names the first bad one as the user typed it.
func (f *runFlags) check(set func(name string) bool) error {
	for _, r := range flagTable {
		if r.check == nil || !set(r.name) {
			continue
		}
		if err := r.check(f); err != nil {
			return usageError("--%s %s: %v", r.name, formatValue(r.ptr(f)), err)
		}
	}
	return nil
}

// labels returns the recorded flags as the execution's labels.
func (f *runFlags) labels() map[string]string {
	l := map[string]string{}
	for _, r := range flagTable {
		if r.use&recorded == 0 {
			continue
		}
		l[r.labelKey()] = formatValue(r.ptr(f))
	}
	return l
}

// restore sets the recorded flags from an execution's labels, except those
// given now; it returns the names it restored.
func (f *runFlags) restore(labels map[string]string, fs *pflag.FlagSet) ([]string, error) {
	var names []string
	// A bar given now replaces the recorded one, of either kind.
	other := map[string]string{"min-successes": "min-success-ratio", "min-success-ratio": "min-successes"}
	for _, r := range flagTable {
		if r.use&recorded == 0 || fs.Changed(r.name) || other[r.name] != "" && fs.Changed(other[r.name]) {
			continue
		}
		v, ok := labels[r.labelKey()]
		if !ok {
			continue
		}
		if err := fs.Set(r.name, v); err != nil {
			return nil, fmt.Errorf("maptask: the execution records --%s %q, which this maptask cannot read: %w", r.name, v, err)
		}
		fs.Lookup(r.name).Changed = false // restored, not given now
		names = append(names, r.name)
	}
	return names, nil
}

// formatValue formats a flag's value as a label holds it (and as pflag parses it).
func formatValue(p any) string {
	switch v := p.(type) {
	case *int:
		return fmt.Sprint(*v)
	case *float64:
		return fmt.Sprint(*v)
	case *string:
		return *v
	case *bool:
		return fmt.Sprint(*v)
	case *time.Duration:
		return v.String()
	case *[]string:
		return fmt.Sprint(*v)
	}
	return fmt.Sprint(p)
}

func atLeast(v, lo int, what string) error {
	if v < lo {
		return fmt.Errorf("must be %s", what)
	}
	return nil
}

// trimPrefix drops the "maptask: progress ...: " of an error from a package
// that does not know the flag's name, keeping why.
func trimPrefix(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for i := len(msg) - 1; i > 0; i-- {
		if msg[i] == ':' && i+2 < len(msg) {
			return fmt.Errorf("%s", msg[i+2:])
		}
	}
	return err
}
