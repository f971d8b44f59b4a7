// Package command maps a shell command or program over inputs: the task behind
// `maptask run`. Each element runs the command once per attempt as a child
// process in its own process group, so a timeout or a cancellation kills the
// command and everything it started.
//
// The task is registered as "maptask.command" and takes the command as a bound
// value, so a worker process on any backend (a pod, a Slurm array task) runs the
// same code.
package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/backend/remote"
	"github.com/maptask/maptask/internal/childenv"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/internal/reaper"
	"golang.org/x/sys/unix"
)

// PermanentExitCode is the exit code with which a command fails its element for
// good, without spending retries.
const PermanentExitCode = 100

// Spec is the command to run for each element.
//
// # Placeholders
//
// In Args, placeholders stand for the element's input, with GNU parallel's
// meanings:
//
//	{}      the input (with several sources, their values joined by one space)
//	{.}     the input without its extension: a.tar.gz gives a.tar, dir.x/file stays
//	{/}     its basename: a/b.txt gives b.txt, a/b/ gives ""
//	{//}    its dirname, as dirname(1): a/b.txt gives a, a gives ., /a gives /
//	{/.}    its basename without extension: a/b.txt gives b
//	{N}     input source N (1-based), or with Colsep column N of the input;
//	        also {N.} {N/} {N//} {N/.}
//	{#}     the job number: the element's index + 1
//	{%}     the job slot number, given by the caller (1 to the concurrency)
//	{index} the element's 0-based index (maptask's own)
//
// With several sources, {.} {/} {//} {/.} transform each value and join them
// by one space. A placeholder candidate is "{" content "}" not preceded by
// "$", where content is empty, "index", or made only of the characters
// 0-9 . / % # + - = (no white space); "{=" ... "=}" (and "{N=" ... "=}"), GNU
// parallel's perl expressions, are candidates too. A candidate that is none of
// the placeholders above ({..} {+/} {0} {-1} {1..3}) is refused by NewSpec and
// Validate, never run literally; perl expressions are refused as not
// supported. Anything else stays literal text: ${HOME}, awk's '{print $1}',
// {a,b}, {foo}.
//
// A command without any placeholder gets the input as its last arguments, one
// argument per source (with Colsep, per column), as in GNU parallel and xargs.
// A command with any placeholder, even only {#}, gets nothing appended.
type Spec struct {
	// Args is the command and its arguments, with placeholders (see above).
	Args []string `json:"args"`
	// Shell runs Args joined by spaces through "sh -c". NewSpec sets it when the
	// command holds a shell metacharacter.
	Shell bool `json:"shell,omitempty"`
	// Quote, with Shell, shell-quotes every argument but the shell operators
	// (| && ; > ...) before joining them, so that each stays the exact word
	// the user gave: maptask run -- grep 'a  b' {} '|' wc -l.
	Quote bool `json:"quote,omitempty"`
	// Env names variables that commands receive although maptask keeps them
	// from commands by default (store credentials such as AWS_SECRET_ACCESS_KEY).
	Env []string `json:"env,omitempty"`
	// MaxOutput bounds the kept output of an attempt; 0 means 1 MiB.
	MaxOutput int `json:"max_output,omitempty"`
	// Dir is the working directory; "" means the worker's.
	Dir string `json:"dir,omitempty"`
	// Colsep, when set, splits each value of an input into columns at this
	// regular expression (RE2 syntax) when the command runs, as GNU
	// parallel's --colsep: {1} {2} ... are the columns, with white space
	// around each trimmed (parallel's --colsep implies --trim rl), and a
	// missing column is "". {} stays the whole input line.
	Colsep string `json:"colsep,omitempty"`
	// Sources is the number of input sources (values in each Input); 0 means
	// 1, and is what a one-source command keeps (so that it encodes, and its
	// cache keys are, as before Sources existed). Without Colsep, Validate
	// refuses a {N} with N > Sources.
	Sources int `json:"sources,omitempty"`

	// tmpl is Args parsed, by NewSpec or UnmarshalJSON; nil (or parsed from
	// other Args) means Expand parses them itself. Args are never changed in
	// place once a Spec is made: give it new Args instead.
	tmpl *template
}

// UnmarshalJSON decodes a Spec and parses its placeholders once, so that a
// worker expands the command of each element without parsing it again.
func (s *Spec) UnmarshalJSON(data []byte) error {
	type plain Spec
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*s = Spec(p)
	s.tmpl = parseTemplate(s.Args)
	return nil
}

// Result is the outcome of a successful element. The command's output is the
// attempt's log (maptask logs ID INDEX), not part of the result.
type Result struct {
	ExitCode int `json:"exit_code"`
}

const shellChars = "|&;<>()$`\\\"'*?[]#~=%\n\t "

// shellOperators are arguments that only make sense to a shell.
var shellOperators = map[string]bool{"|": true, "||": true, "&&": true, ";": true, "&": true, ">": true, ">>": true, "<": true, "2>": true, "2>&1": true, "|&": true}

// NewSpec returns the Spec for args. One argument holding a shell
// metacharacter or a space (maptask run 'convert {} {.}.png && rm {}') runs
// through sh -c, as do arguments holding a shell operator on its own (| && ; >
// ...). Otherwise the arguments are an exact argv and run directly, without a
// shell: maptask run -- sh -c 'echo {}; date' runs sh with those three arguments.
//
// An unknown placeholder or a perl expression is refused, naming them (see
// Spec). In a command run through sh -c, a placeholder taken from the input
// ({} {.} {1} ...) must stand outside quotes: maptask quotes the input
// itself, and inside the user's quotes the input would be parsed again by the
// shell ('echo "{}"' with the input $(rm -rf ~) would run it). Such a command
// is refused; "$MAPTASK_INPUT" is the quoted alternative. {#} {%} and {index}
// are numbers and may stand anywhere.
func NewSpec(args []string) (Spec, error) {
	if len(args) == 0 || args[0] == "" {
		return Spec{}, errors.New("maptask: no command given")
	}
	s := Spec{Args: args, tmpl: parseTemplate(args)}
	if s.tmpl.err != nil {
		return Spec{}, s.tmpl.err
	}
	if len(args) == 1 && strings.ContainsAny(args[0], shellChars) {
		s.Shell = true
		if err := checkQuotedPlaceholders(args[0]); err != nil {
			return Spec{}, err
		}
	}
	for _, a := range args {
		if shellOperators[a] {
			s.Shell = true
			s.Quote = len(args) > 1
		}
	}
	return s, nil
}

// Validate checks a Spec made by NewSpec and then given its Colsep and
// Sources (or one decoded or built by hand): its placeholders are known, its
// column separator compiles, and without Colsep no {N} refers to a source
// beyond Sources.
func (s Spec) Validate() error {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return errors.New("maptask: no command given")
	}
	t := s.template()
	if t.err != nil {
		return t.err
	}
	if s.Shell && !s.Quote && len(s.Args) == 1 {
		if err := checkQuotedPlaceholders(s.Args[0]); err != nil {
			return err
		}
	}
	if s.Sources < 0 {
		return fmt.Errorf("maptask: %d input sources: must be 1 or more", s.Sources)
	}
	if s.Colsep != "" {
		_, err := compileColsep(s.Colsep)
		return err
	}
	sources := max(s.Sources, 1)
	if t.maxN > sources {
		what := "there is 1 input source"
		if sources > 1 {
			what = "there are " + strconv.Itoa(sources) + " input sources"
		}
		return fmt.Errorf("maptask: {%d} refers to input source %d but %s "+
			"(give one ::: or :::: per source, or --colsep to split each input into columns)", t.maxN, t.maxN, what)
	}
	return nil
}

// checkQuotedPlaceholders refuses a shell command with a placeholder taken
// from the input ({} {.} {1} ...) inside single or double quotes or after a
// backslash, where the substituted, quoted input would be parsed again by the
// shell.
func checkQuotedPlaceholders(script string) error {
	starts := map[int]string{}
	candidates(script, func(c candidate) {
		if g, ok := parsePlaceholder(script[c.start:c.end]); ok && !c.perl && g.inputDerived() {
			starts[c.start] = g.text
		}
	})
	if len(starts) == 0 {
		return nil
	}
	if strings.Contains(script, "<<") {
		// In a here-document the shell removes no quotes but still expands
		// $(...) and `...`: the quoted input would run as code there.
		var ph string
		for _, p := range starts {
			ph = p
			break
		}
		return fmt.Errorf("maptask: %s with a here-document (<<) in %q: the shell expands $(...) in a here-document whatever the quoting, "+
			"so the input could run as code; use \"$MAPTASK_INPUT\" (or printf '%%s\\n' %s | ...) instead", ph, script, ph)
	}
	const (
		plain = iota
		single
		double
	)
	state := plain
	for i := 0; i < len(script); i++ {
		c := script[i]
		if ph, ok := starts[i]; ok && state != plain {
			where := "single quotes"
			if state == double {
				where = "double quotes"
			}
			return fmt.Errorf("maptask: %s inside %s in %q: the input would be parsed again by the shell; "+
				"write %s outside quotes (maptask quotes the input) or use \"$MAPTASK_INPUT\"", ph, where, script, ph)
		}
		switch {
		case state == single:
			if c == '\'' {
				state = plain
			}
		case c == '\\':
			i++ // the next character is literal, in plain text and in double quotes
			if ph, ok := starts[i]; ok {
				return fmt.Errorf("maptask: %s after a backslash in %q: the input would be parsed again by the shell; write %s on its own", ph, script, ph)
			}
		case state == double:
			if c == '"' {
				state = plain
			}
		case c == '\'':
			state = single
		case c == '"':
			state = double
		}
	}
	return nil
}

// HasPlaceholder reports whether the command holds any placeholder ({} {.}
// {#} {index} ...); without one the input is appended to it as its last
// arguments, and reaches it as $MAPTASK_INPUT too.
func (s Spec) HasPlaceholder() bool { return s.template().any }

// Expand returns the command line for one element: its placeholders replaced
// (see Spec), slot being the job slot {%} stands for. Run through sh, every
// value taken from the input is shell-quoted, so spaces and quotes in it stay
// one word ('{.}.png' works as expected). A command without placeholders gets
// the input's values (with Colsep, its columns) as its last arguments, as in
// GNU parallel and xargs.
//
// With Quote, each argument is an exact word: the input is put in first, and
// then every word but the shell operators is quoted as a whole.
func (s Spec) Expand(in Input, index, slot int) []string {
	t := s.template()
	cols := []string(in)
	if s.Colsep != "" {
		cols = columns(in, s.Colsep)
	}
	quoteInput := s.Shell && !s.Quote
	n := len(s.Args)
	if !t.any {
		n += len(cols)
	}
	args := make([]string, 0, n)
	for i, a := range s.Args {
		segs := t.segs[i]
		switch len(segs) {
		case 0:
			args = append(args, a)
		case 1:
			args = append(args, expandSegment(segs[0], in, cols, index, slot, quoteInput))
		default:
			var b strings.Builder
			b.Grow(len(a) + len(in.String())*2)
			for _, g := range segs {
				b.WriteString(expandSegment(g, in, cols, index, slot, quoteInput))
			}
			args = append(args, b.String())
		}
	}
	if !t.any {
		for _, v := range cols {
			if quoteInput {
				v = shellQuote(v)
			}
			args = append(args, v)
		}
	}
	if s.Quote {
		for i, a := range args {
			// An operator is one the user wrote as such, never a value from
			// the input that happens to read "|" or ">".
			if literal := i < len(s.Args) && len(t.segs[i]) == 0; !literal || !shellOperators[a] {
				args[i] = shellQuote(a)
			}
		}
	}
	return args
}

// expandSegment is the text of one segment for an element.
func expandSegment(g segment, in Input, cols []string, index, slot int, quote bool) string {
	switch g.kind {
	case value:
		v := expandValue(g, in, cols)
		if quote {
			v = shellQuote(v)
		}
		return v
	case jobNum:
		return strconv.Itoa(index + 1)
	case slotNum:
		return strconv.Itoa(slot)
	case indexNum:
		return strconv.Itoa(index)
	}
	return g.text
}

var shellQuote = remote.ShellQuote

// outputGrace is how long an attempt waits, after its command exited or was
// killed, for output from processes that escaped its process group.
const outputGrace = time.Second

// Task runs a Spec on one input.
var Task = maptask.NewBoundTask("maptask.command", Run)

// exitError is a command's non-zero exit.
type exitError struct {
	code   int
	output string
}

func (e *exitError) Error() string {
	msg := fmt.Sprintf("command exited with status %d", e.code)
	if tail := logbuf.LastLine([]byte(e.output)); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// ExitCode returns the command's exit status.
func (e *exitError) ExitCode() int { return e.code }

// signalError is a command killed by a signal that maptask did not send (see
// Lost for which of those are the system's doing).
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string {
	return "command killed by signal " + SignalName(e.sig)
}

// Signal returns the signal that killed the command.
func (e *signalError) Signal() syscall.Signal { return e.sig }

// Lost reports whether the signal came from outside the program (KILL from
// the OOM killer, TERM or HUP from a node going away): the system lost the
// attempt, and a system retry runs it again. A program that crashed by
// itself (SEGV, ABRT, BUS, FPE, ILL) failed, and spends a user retry.
func (e *signalError) Lost() bool {
	switch e.sig {
	case syscall.SIGSEGV, syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGSYS, syscall.SIGTRAP:
		return false
	}
	return true
}

// exitedByItself reports whether a command's Wait error says it exited (with
// any status) rather than being killed by a signal.
func exitedByItself(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		return ok && ws.Exited()
	}
	return err == nil
}

// Run runs spec on in: the task function behind Task.
func Run(ctx context.Context, spec Spec, in Input) (Result, error) {
	index, attempt, _ := maptask.AttemptFromContext(ctx)
	slot := slots.take()
	defer slots.release(slot)
	args := spec.Expand(in, index, slot)
	if len(args) == 0 {
		return Result{}, maptask.Permanent(errors.New("maptask: no command given"))
	}
	var cmd *exec.Cmd
	if spec.Shell {
		cmd = exec.Command("/bin/sh", "-c", strings.Join(args, " "))
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	cmd.Dir = spec.Dir
	// The worker protocol's variables and the store's credentials stay out of
	// the command's environment: a maptask-built program it runs must not take
	// itself for a worker of this execution.
	cmd.Env = childenv.For(spec.Env, "MAPTASK_INPUT="+in.String(), "MAPTASK_INDEX="+strconv.Itoa(index), "MAPTASK_ATTEMPT="+strconv.Itoa(attempt), reaper.Env())
	// A process group of its own, killed if maptask dies (see package reaper).
	cmd.SysProcAttr = reaper.SysProcAttr()
	// Standard output and standard error go to the attempt's two logs, to
	// a watcher (maptask run printing them) and, for the error message, to
	// small buffers of their ends.
	outs := newStreams(ctx, spec, index, attempt)
	defer outs.close()
	cmd.Stdout, cmd.Stderr = outs.stdout, outs.stderr
	// A process that escaped the group may hold the output pipe open: the
	// attempt ends with its command all the same.
	cmd.WaitDelay = outputGrace
	if err := cmd.Start(); err != nil {
		return Result{}, maptask.Permanent(fmt.Errorf("maptask: starting %q: %w", args[0], err))
	}
	pgid := cmd.Process.Pid
	reaper.Track(pgid)
	defer reaper.Untrack(pgid)
	// Kill the command's whole tree when the attempt's context ends: a timeout
	// or a cancellation leaves no orphan behind, even one that left the group.
	stop := context.AfterFunc(ctx, func() { reaper.KillTree(pgid) })
	err := cmd.Wait()
	killed := !stop()
	// Reap anything the command left running in its group once it exits.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited 0; only an escaped process kept its output open
	}
	outs.close()
	// A command that exited by itself before the kill landed keeps its
	// result: its work is done (a cancel racing its last line ran it twice).
	if killed && !exitedByItself(err) {
		return Result{}, ctx.Err()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return Result{ExitCode: 0}, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return Result{}, &signalError{ws.Signal()}
		}
		e := &exitError{code: ee.ExitCode(), output: outs.lastWords()}
		if e.code == PermanentExitCode {
			return Result{}, maptask.Permanent(e)
		}
		return Result{}, e
	default:
		return Result{}, err
	}
}

// tailKept is how much of the end of each stream an attempt keeps for its
// error message.
const tailKept = 4 << 10

// streams are where one attempt's standard output and standard error go.
type streams struct {
	stdout, stderr     io.Writer
	outTail, errTail   *logbuf.Buffer
	kept, keptErr      *logbuf.Buffer // with Spec.MaxOutput: the attempt's own bound
	log, errLog        io.Writer
	watchOut, watchErr io.WriteCloser
	closed             bool
}

func newStreams(ctx context.Context, spec Spec, index, attempt int) *streams {
	s := &streams{outTail: logbuf.New(tailKept), errTail: logbuf.New(tailKept),
		log: maptask.LogFromContext(ctx), errLog: maptask.ErrorLogFromContext(ctx)}
	out, errOut := []io.Writer{s.outTail}, []io.Writer{s.errTail}
	if spec.MaxOutput > 0 {
		s.kept, s.keptErr = logbuf.New(spec.MaxOutput), logbuf.New(spec.MaxOutput)
		out, errOut = append(out, s.kept), append(errOut, s.keptErr)
	} else {
		out, errOut = append(out, s.log), append(errOut, s.errLog)
	}
	if w := watcherFrom(ctx); w != nil {
		s.watchOut, s.watchErr = w.Attempt(index, attempt)
		if s.watchOut != nil {
			out = append(out, s.watchOut)
		}
		if s.watchErr != nil {
			errOut = append(errOut, s.watchErr)
		}
	}
	s.stdout, s.stderr = io.MultiWriter(out...), io.MultiWriter(errOut...)
	return s
}

// close ends the streams once the command's output is all copied: the
// watcher's writers are closed and a bounded copy goes to the logs.
func (s *streams) close() {
	if s.closed {
		return
	}
	s.closed = true
	for _, w := range []io.WriteCloser{s.watchOut, s.watchErr} {
		if w != nil {
			_ = w.Close()
		}
	}
	if s.kept != nil {
		_, _ = s.log.Write(s.kept.Bytes())
		_, _ = s.errLog.Write(s.keptErr.Bytes())
	}
}

// lastWords is what a failed command said last: the end of its standard
// error, or of its standard output when it wrote no error.
func (s *streams) lastWords() string {
	if s.errTail.Len() > 0 {
		return string(s.errTail.Bytes())
	}
	return string(s.outTail.Bytes())
}

// IsShellOperator reports whether word is one NewSpec takes for a shell
// operator (| && ; > ...) when it stands as an argument of its own.
func IsShellOperator(word string) bool { return shellOperators[word] }

// SignalName names a signal as maptask's messages do: "KILL (9)".
func SignalName(sig syscall.Signal) string {
	return fmt.Sprintf("%s (%d)", strings.TrimPrefix(unix.SignalName(sig), "SIG"), int(sig))
}
