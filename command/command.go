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
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/internal/childenv"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/internal/reaper"
)

// PermanentExitCode is the exit code with which a command fails its element for
// good, without spending retries.
const PermanentExitCode = 100

// Spec is the command to run for each element.
type Spec struct {
	// Args is the command and its arguments; "{}" in any of them is replaced by
	// the element's input and "{index}" by its 0-based index.
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
// metacharacter or a space (maptask run 'convert {} {}.png && rm {}') runs
// through sh -c, as do arguments holding a shell operator on its own (| && ; >
// ...). Otherwise the arguments are an exact argv and run directly, without a
// shell: maptask run -- sh -c 'echo {}; date' runs sh with those three arguments.
//
// In a command run through sh -c, "{}" must stand outside quotes: maptask
// quotes the input itself, and inside the user's quotes the input would be
// parsed again by the shell ('echo "{}"' with the input $(rm -rf ~) would run
// it). Such a command is refused; "$MAPTASK_INPUT" is the quoted alternative.
func NewSpec(args []string) (Spec, error) {
	if len(args) == 0 || args[0] == "" {
		return Spec{}, errors.New("maptask: no command given")
	}
	s := Spec{Args: args}
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

// checkQuotedPlaceholders refuses a shell command with "{}" inside single or
// double quotes (or after a backslash), where the substituted, quoted input
// would be parsed again by the shell.
func checkQuotedPlaceholders(script string) error {
	const (
		plain = iota
		single
		double
	)
	state := plain
	for i := 0; i < len(script); i++ {
		c := script[i]
		if strings.HasPrefix(script[i:], "{}") && state != plain {
			where := "single quotes"
			if state == double {
				where = "double quotes"
			}
			return fmt.Errorf("maptask: {} inside %s in %q: the input would be parsed again by the shell; "+
				"write {} outside quotes (maptask quotes the input) or use \"$MAPTASK_INPUT\"", where, script)
		}
		switch {
		case state == single:
			if c == '\'' {
				state = plain
			}
		case c == '\\':
			i++ // the next character is literal, in plain text and in double quotes
			if i < len(script) && state == plain && strings.HasPrefix(script[i:], "{}") {
				return fmt.Errorf("maptask: {} after a backslash in %q: the input would be parsed again by the shell; write {} on its own", script)
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

// HasPlaceholder reports whether the command refers to its input by "{}";
// without one the input reaches the command only as $MAPTASK_INPUT.
func (s Spec) HasPlaceholder() bool {
	for _, a := range s.Args {
		if strings.Contains(a, "{}") {
			return true
		}
	}
	return false
}

// Expand returns the command line for one element: "{}" replaced by input and
// "{index}" by index. Run through sh, the input is shell-quoted, so spaces and
// quotes in it stay one word ('{}.png' works as expected). A command without
// "{}" gets the input as its last argument, as in GNU parallel and xargs.
//
// With Quote, each argument is an exact word: the input is put in first, and
// then every word but the shell operators is quoted as a whole.
func (s Spec) Expand(input string, index int) []string {
	quoteInput := s.Shell && !s.Quote
	in := input
	if quoteInput {
		in = shellQuote(input)
	}
	r := strings.NewReplacer("{}", in, "{index}", strconv.Itoa(index))
	args := make([]string, len(s.Args), len(s.Args)+1)
	for i, a := range s.Args {
		args[i] = r.Replace(a)
	}
	if !s.HasPlaceholder() {
		args = append(args, in)
	}
	if s.Quote {
		for i, a := range args {
			if !shellOperators[a] {
				args[i] = shellQuote(a)
			}
		}
	}
	return args
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

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

// signalError is a command killed by a signal that maptask did not send: the
// system lost the attempt (an OOM kill, a node shutting down).
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return fmt.Sprintf("command killed by signal %v", e.sig) }
func (e *signalError) Lost() bool    { return true }

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

// Run runs spec on input: the task function behind Task.
func Run(ctx context.Context, spec Spec, input string) (Result, error) {
	index, attempt, _ := maptask.AttemptFromContext(ctx)
	args := spec.Expand(input, index)
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
	cmd.Env = childenv.For(spec.Env, "MAPTASK_INPUT="+input, "MAPTASK_INDEX="+strconv.Itoa(index), "MAPTASK_ATTEMPT="+strconv.Itoa(attempt), reaper.Env())
	// A process group of its own, killed if maptask dies (see package reaper).
	cmd.SysProcAttr = reaper.SysProcAttr()
	out := logbuf.New(spec.MaxOutput)
	cmd.Stdout, cmd.Stderr = out, out
	// A process that escaped the group may hold the output pipe open: the
	// attempt ends with its command all the same.
	cmd.WaitDelay = outputGrace
	log := maptask.LogFromContext(ctx)
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
	text := string(out.Bytes())
	_, _ = io.WriteString(log, text)
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
		e := &exitError{code: ee.ExitCode(), output: text}
		if e.code == PermanentExitCode {
			return Result{}, maptask.Permanent(e)
		}
		return Result{}, e
	default:
		return Result{}, err
	}
}
