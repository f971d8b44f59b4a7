package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/store"
)

// shownStatusFailures is how many failed elements status describes unless --all.
const shownStatusFailures = 20

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an execution's counts, verdict and failed elements",
		Long: `Show an execution's counts (succeeded, cached among them, failed, not run),
its verdict, and each failed element: its input, attempts, duration, why it
failed and the last lines of its error output.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := store.ValidateID(args[0]); err != nil {
				return &exitError{exitUsage, err}
			}
			st, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			spec, err := st.LoadSpec(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return &exitError{exitUsage, err}
			}
			if err != nil {
				return &exitError{exitFailed, err}
			}
			c, err := countOf(cmd, st, spec)
			if err != nil {
				return &exitError{exitFailed, err}
			}
			failures := failedElements(ctx, st, spec, c, all || asJSON)
			changes, err := st.Changes(ctx, spec.ID, 0)
			if err != nil {
				return &exitError{exitFailed, err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					*counts
					Failures []failedElement     `json:"failures"`
					Changes  []store.ChangeEntry `json:"changes,omitempty"`
				}{c, failures, changes})
			}
			fmt.Fprintf(out, "execution %s: %s, %d %s\n", spec.ID, c.Command, spec.N, plural(spec.N, "input", "inputs"))
			fmt.Fprintf(out, "  succeeded %d (cached %d), failed %d, not run %d", c.Succeeded, c.Cached, c.Failed, c.NotRun)
			if c.Running > 0 {
				fmt.Fprintf(out, ", running or unfinished %d", c.Running)
			}
			fmt.Fprintln(out)
			if c.Outcome == "-" {
				fmt.Fprintln(out, "  verdict: none yet (running, or the driver stopped before the end)")
			} else {
				fmt.Fprintf(out, "  verdict: %s (%d required)\n", c.Outcome, c.Required)
			}
			printChanges(out, changes)
			for _, f := range failures {
				fmt.Fprintf(out, "  element %d %s (%d %s, %s): %s\n", f.Index, quoteInput(f.Input), f.Attempts, plural(f.Attempts, "attempt", "attempts"),
					time.Duration(f.DurationMS)*time.Millisecond, printable(firstLine(f.Error)))
				for _, line := range f.Tail {
					fmt.Fprintf(out, "      %s\n", printable(line))
				}
			}
			if more := c.Failed - len(failures); more > 0 {
				fmt.Fprintf(out, "  ... and %d more (--all shows them)\n", more)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&all, "all", false, "describe every failed element")
	return cmd
}

// failedElement is a failed element as status shows it.
type failedElement struct {
	Index      int      `json:"index"`
	Input      string   `json:"input"`
	Attempts   int      `json:"attempts"`
	DurationMS int64    `json:"duration_ms"`
	Error      string   `json:"error"`
	Tail       []string `json:"tail,omitempty"` // last lines of its error output
}

// failedElements describes the failed elements of c (the first ones unless
// all), reading their inputs and the end of their logs.
func failedElements(ctx context.Context, st *store.Store, spec *store.Spec, c *counts, all bool) []failedElement {
	command := spec.Task == commandTask
	var list []failedElement
	for i := range c.state.Len() {
		if c.state.Status(i) != store.StatusFailed {
			continue
		}
		r := c.state.Record(i)
		if len(list) == shownStatusFailures && !all {
			break
		}
		f := failedElement{Index: i, Attempts: r.Attempts, DurationMS: r.DurationNS / 1e6, Error: r.Err}
		if raw, err := st.ReadInput(ctx, spec.ID, i); err == nil {
			f.Input = inputText(raw, command)
		}
		f.Tail = tailOf(ctx, st, spec.ID, i, r.Attempts, 3)
		list = append(list, f)
	}
	return list
}

// commandTask is the task of executions made by maptask run.
var commandTask = command.Task.Name()

// inputText shows a stored input: a command's input as its text, a Go task's
// as its encoding.
func inputText(raw []byte, isCommand bool) string {
	if isCommand {
		var in command.Input
		if json.Unmarshal(raw, &in) == nil {
			return in.String()
		}
	}
	return string(raw)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// printChanges lists the changes made to an execution while it ran
// (maptask update) and what became of each.
func printChanges(out io.Writer, changes []store.ChangeEntry) {
	for _, e := range changes {
		what := "not applied yet"
		switch r := e.Result; {
		case r == nil:
		case r.Applied:
			what = fmt.Sprintf("applied: %s, %d required", describeBound(r.Concurrency), r.Required)
		default:
			what = "refused: " + r.Error
		}
		fmt.Fprintf(out, "  change %d at %s by %s: %s (%s)\n", e.Seq, e.Time.Local().Format(time.DateTime), e.By, e.Change.String(), what)
	}
}
