package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/store"
)

// The words for an input's state, the same in the summary, status, ls and
// --results: succeeded (cached ones among them), failed, not run.
const (
	stateSucceeded = "succeeded"
	stateFailed    = "failed"
	stateNotRun    = "not run"
)

// stateOf returns the state of a finished or unrun element.
func stateOf(r maptask.Result[command.Result]) string {
	switch {
	case r.Err == nil:
		return stateSucceeded
	case errors.Is(r.Err, maptask.ErrNotRun):
		return stateNotRun
	}
	return stateFailed
}

// fromCache reports whether a succeeded element's value came from the cache
// (not from running it, now or in an earlier run of the execution).
func fromCache(r maptask.Result[command.Result]) bool { return r.Cached && r.Attempts == 0 }

// resultLine is one line of --results.
type resultLine struct {
	Index      int      `json:"index"`
	Input      string   `json:"input"`
	Inputs     []string `json:"inputs,omitempty"` // one per input source, when there are several
	Status     string   `json:"status"`           // succeeded, failed, not run
	ExitCode   int      `json:"exit_code"`        // -1 when the command did not exit by itself
	Signal     string   `json:"signal,omitempty"`
	Attempts   int      `json:"attempts"`
	DurationMS int64    `json:"duration_ms"`
	Cached     bool     `json:"cached"`                // the value came from the cache
	Earlier    bool     `json:"earlier_run,omitempty"` // it succeeded in an earlier run of the execution
	Error      string   `json:"error,omitempty"`
}

func newResultLine(i int, in command.Input, r maptask.Result[command.Result]) resultLine {
	line := resultLine{Index: i, Input: in.String(), Status: stateOf(r), ExitCode: r.Value.ExitCode,
		Attempts: r.Attempts, DurationMS: r.Duration.Milliseconds(), Cached: fromCache(r), Earlier: r.Cached && r.Attempts > 0}
	if len(in) > 1 {
		line.Inputs = in
	}
	if r.Err != nil {
		line.ExitCode, line.Error = -1, r.Err.Error()
		var ec interface{ ExitCode() int }
		if errors.As(r.Err, &ec) {
			line.ExitCode = ec.ExitCode()
		}
		var sig interface{ Signal() syscall.Signal }
		if errors.As(r.Err, &sig) {
			line.Signal = command.SignalName(sig.Signal())
		}
	}
	return line
}

// resultsFile is --results: a JSON Lines job log appended as inputs finish
// (readable while the run goes on), with the inputs left unrun added at the
// end, so that it holds one line per input.
type resultsFile struct {
	mu      sync.Mutex
	file    *os.File // emptied before the first line
	emptied bool
	bw      *bufio.Writer
	enc     *json.Encoder
	written []bool
	err     error
}

func newResultsFile(file *os.File, n int) *resultsFile {
	bw := bufio.NewWriter(file)
	return &resultsFile{file: file, bw: bw, enc: json.NewEncoder(bw), written: make([]bool, n)}
}

// emptyLocked empties the file once, when the run writes its first line.
func (f *resultsFile) emptyLocked() {
	if f.emptied || f.err != nil {
		return
	}
	f.emptied = true
	if f.err = f.file.Truncate(0); f.err == nil {
		_, f.err = f.file.Seek(0, io.SeekStart)
	}
}

func (f *resultsFile) add(line resultLine) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.emptyLocked(); f.err != nil || f.written[line.Index] {
		return
	}
	f.written[line.Index] = true
	if f.err = f.enc.Encode(line); f.err == nil {
		f.err = f.bw.Flush() // a line at a time: tail -f shows the run
	}
}

// finish adds the inputs not written yet (those that did not run).
func (f *resultsFile) finish(inputs []command.Input, res *maptask.Results[command.Result]) error {
	f.mu.Lock()
	f.emptyLocked() // the run ran, even if it wrote nothing
	f.mu.Unlock()
	for i, r := range res.All() {
		if !f.written[i] {
			f.add(newResultLine(i, inputs[i], r))
		}
	}
	return f.err
}

// failure is a failed input, for the summary.
type failure struct {
	index    int
	attempts int
	err      error
}

// failures collects failed inputs as they finish.
type failures struct {
	mu   sync.Mutex
	list []failure
}

func (f *failures) add(i int, r maptask.Result[command.Result]) {
	f.mu.Lock()
	f.list = append(f.list, failure{index: i, attempts: r.Attempts, err: r.Err})
	f.mu.Unlock()
}

// shownFailures is how many failed inputs the summary describes one by one.
const shownFailures = 10

// describe writes the failed inputs: for each its input, why it failed (exit
// status, signal, timeout), its attempts and the last lines of its standard
// error (or output), from the store.
func (f *failures) describe(ctx context.Context, w io.Writer, st *store.Store, id string, inputs []command.Input) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.list) == 0 {
		return
	}
	fmt.Fprintf(w, "maptask: %d %s failed:\n", len(f.list), plural(len(f.list), "input", "inputs"))
	slices.SortFunc(f.list, func(a, b failure) int { return a.index - b.index })
	for k, fl := range f.list {
		if k == shownFailures {
			fmt.Fprintf(w, "  ... and %d more (maptask status %s; maptask logs --failed %s)\n", len(f.list)-k, id, id)
			break
		}
		fmt.Fprintf(w, "  %s (element %d, %d %s): %s\n", quoteInput(inputs[fl.index].String()), fl.index,
			fl.attempts, plural(fl.attempts, "attempt", "attempts"), printable(reason(fl.err)))
		if st == nil {
			continue
		}
		for _, line := range tailOf(ctx, st, id, fl.index, fl.attempts, 3) {
			fmt.Fprintf(w, "      %s\n", printable(line))
		}
	}
}

// tailOf returns the last lines of an attempt's standard error, or of its
// output when it wrote nothing there.
func tailOf(ctx context.Context, st *store.Store, id string, index, attempt, n int) []string {
	l, err := st.ReadAttemptLog(ctx, id, index, attempt)
	if err != nil {
		return nil
	}
	if lines := logbuf.LastLines(l.Stderr, n); len(lines) > 0 {
		return lines
	}
	return logbuf.LastLines(l.Data, n)
}

// reason says why an element failed, in one line: "exit status 2", "killed
// by signal KILL", "timed out after 2s".
func reason(err error) string {
	var ec interface{ ExitCode() int }
	var sig interface{ Signal() syscall.Signal }
	switch {
	case err == nil:
		return "succeeded"
	case errors.As(err, &sig):
		return "killed by signal " + command.SignalName(sig.Signal())
	case errors.As(err, &ec):
		return fmt.Sprintf("exit status %d", ec.ExitCode())
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// quoteInput shows an input as the user typed it: quoted, control characters escaped.
func quoteInput(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}
