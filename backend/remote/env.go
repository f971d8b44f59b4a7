package remote

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/maptask/maptask/backend"
)

// Variables of the worker protocol: Env sets them, package worker reads them.
const (
	EnvWorker     = "MAPTASK_WORKER"      // "1": this process is a worker
	EnvStoreURL   = "MAPTASK_STORE_URL"   // the store (any gocloud.dev/blob URL)
	EnvExecution  = "MAPTASK_EXECUTION"   // the execution id
	EnvWriter     = "MAPTASK_WRITER"      // journal writer name of this worker's outcomes
	EnvAttempts   = "MAPTASK_ATTEMPTS"    // its attempts, as FormatAttempts writes them
	EnvTasks      = "MAPTASK_TASKS"       // an array's attempt lists, one per index, separated by ';'
	EnvOffset     = "MAPTASK_OFFSET"      // an array's first element (default 0)
	EnvBatch      = "MAPTASK_BATCH"       // elements per array index (default 1)
	EnvAttempt    = "MAPTASK_ATTEMPT"     // an array's attempt number (default 1)
	EnvArrayIndex = "MAPTASK_ARRAY_INDEX" // the array index, when no scheduler sets one
	EnvTimeout    = "MAPTASK_TIMEOUT"     // per-attempt timeout (a Go duration)
	EnvMaxLog     = "MAPTASK_MAX_LOG"     // bytes of log kept per attempt
	EnvResume     = "MAPTASK_RESUME"      // journal writer prefix of earlier workers of the same elements
	EnvRetries    = "MAPTASK_RETRIES"     // user retries per element, with EnvResume
	EnvInstall    = "MAPTASK_INSTALL"     // copy the program to this path and exit
	EnvProbe      = "MAPTASK_PROBE"       // exit 0 at once (the driver's start-up check)
)

// IndexVars are the variables a worker takes its array index from, in order.
var IndexVars = []string{"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX", EnvArrayIndex}

// Worker is what one worker (or every worker of an array) runs, beyond what
// every worker of a job is told.
type Worker struct {
	// Writer is the journal writer name of its outcomes. It may hold
	// references to variables the platform sets (the array index, the pod's
	// name) in the launcher's syntax: ${NAME} for Shell, $(NAME) in a
	// Kubernetes container. "" lets the worker pick a unique name.
	Writer string
	// Attempts lists its attempts (FormatAttempts), or is a reference the
	// launcher expands. Empty for an array (Array).
	Attempts string
	// Array holds the attempts of each index of an array of workers: the
	// worker finds its own from its index variable (IndexVars).
	Array [][]backend.Attempt
	// Resume is the journal writer prefix of earlier workers of the same
	// elements (a retried index), with the elements' user Retries: what they
	// finished is not run again.
	Resume  string
	Retries int
}

// Env is the environment a worker of job gets: one map, name to value, that
// a backend passes as it is (Environ for a process, Shell for a script, one
// variable each for a container).
func Env(job *backend.Job, w Worker) map[string]string {
	env := map[string]string{EnvWorker: "1", EnvStoreURL: job.StoreURL, EnvExecution: job.Execution}
	if job.Timeout > 0 {
		env[EnvTimeout] = job.Timeout.String()
	}
	if job.MaxLog > 0 {
		env[EnvMaxLog] = strconv.Itoa(job.MaxLog)
	}
	if w.Writer != "" {
		env[EnvWriter] = w.Writer
	}
	if w.Attempts != "" {
		env[EnvAttempts] = w.Attempts
	}
	if len(w.Array) > 0 {
		maps.Copy(env, ArrayEnv(w.Array))
	}
	if w.Resume != "" {
		env[EnvResume] = w.Resume
		env[EnvRetries] = strconv.Itoa(max(w.Retries, 0))
	}
	return env
}

// Names returns env's names, sorted.
func Names(env map[string]string) []string { return slices.Sorted(maps.Keys(env)) }

// Environ returns env as "NAME=value" entries, sorted by name (exec.Cmd.Env).
func Environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range Names(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// Shell returns env as export lines of a POSIX shell script, sorted by name.
// Values are quoted (ShellWord): only their ${NAME} references expand.
func Shell(env map[string]string) string {
	var b strings.Builder
	for _, k := range Names(env) {
		b.WriteString("export " + k + "=" + ShellWord(env[k]) + "\n")
	}
	return b.String()
}

// ShellQuote quotes s for a POSIX shell: it reads back as s, nothing expanded.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var reference = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// ShellWord quotes s for a POSIX shell except its ${NAME} references, which
// the shell expands (in double quotes: no splitting, no globbing).
func ShellWord(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range reference.FindAllStringIndex(s, -1) {
		if m[0] > last {
			b.WriteString(ShellQuote(s[last:m[0]]))
		}
		b.WriteString(`"` + s[m[0]:m[1]] + `"`)
		last = m[1]
	}
	if last < len(s) || last == 0 {
		b.WriteString(ShellQuote(s[last:]))
	}
	return b.String()
}
