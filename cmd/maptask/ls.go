package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/store"
)

func newLsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the executions in the store",
		Long: `List the executions in the store, oldest first. An execution whose last run
ended is counted from its verdict alone; one running, or whose driver died,
from its journal.

An execution that cannot be read (a corrupt spec or journal, a failed
integrity check) is skipped with a line on standard error naming it and why;
the others are listed and the exit status stays 0. It is 1 when the store
cannot be listed at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, specs, err := scanExecutions(cmd, g, "ls")
			if err != nil {
				return err
			}
			defer st.Close()
			skip := func(id string, err error) {
				fmt.Fprintf(cmd.ErrOrStderr(), "maptask ls: skipping execution %s: %v\n", id, err)
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "ID\tINPUTS\tSUCCEEDED\tFAILED\tNOT RUN\tVERDICT\tCREATED\tCOMMAND")
			}
			enc := json.NewEncoder(out)
			for _, spec := range specs {
				c, err := summaryOf(cmd, st, &spec)
				if err != nil {
					if ctx.Err() != nil {
						return &exitError{exitFailed, err}
					}
					skip(spec.ID, err)
					continue
				}
				if asJSON {
					if err := enc.Encode(c); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", spec.ID, spec.N, c.Succeeded, c.Failed, c.NotRun, c.Outcome,
					spec.Created.UTC().Format(time.RFC3339), cut(c.Command, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines, one object per execution")
	return cmd
}

// counts summarises an execution from its journal and last verdict, in the
// words run's summary and --results use.
type counts struct {
	ID        string       `json:"id"`
	Task      string       `json:"task"`
	Command   string       `json:"command"` // the command line, or the Go task's name
	Total     int          `json:"total"`
	Succeeded int          `json:"succeeded"` // cached ones included
	Cached    int          `json:"cached"`
	Failed    int          `json:"failed"`
	NotRun    int          `json:"not_run"`
	Running   int          `json:"running"` // started or never recorded, before any verdict
	Outcome   string       `json:"outcome"` // of the last run; "-" before any verdict
	Required  int          `json:"required,omitempty"`
	Created   time.Time    `json:"created"`
	state     *store.State // the journal merged, without outputs (countOf)
}

func countOf(cmd *cobra.Command, st *store.Store, spec *store.Spec) (*counts, error) {
	ctx := cmd.Context()
	// The execution's checkpoint and what the journal holds beyond it: for
	// a finished execution, the checkpoint alone, outputs left unread.
	state, quarantined, err := st.LoadState(ctx, spec.ID, spec.N, false)
	if err != nil {
		return nil, err
	}
	for _, q := range quarantined {
		fmt.Fprintf(cmd.ErrOrStderr(), "maptask: execution %s: %s\n", spec.ID, printable(q.String()))
	}
	c := &counts{ID: spec.ID, Task: spec.Task, Command: commandOf(ctx, st, spec), Total: spec.N, Outcome: "-", Created: spec.Created, state: state}
	n := state.Counts()
	c.Succeeded, c.Cached, c.Failed, c.NotRun = n.Succeeded, n.Cached, n.Failed, n.Skipped
	unfinished := n.Running + n.None
	v, err := st.LoadVerdict(ctx, spec.ID)
	switch {
	case err == nil:
		c.Outcome, c.Required = v.Outcome, v.Required
		c.NotRun += unfinished // the run ended without them
	case errors.Is(err, store.ErrNotFound):
		c.Running = unfinished
	default:
		return nil, err
	}
	return c, nil
}

// summaryOf is countOf for a listing: an execution whose last run ended is
// counted from its verdict alone, never its journal; one running (or whose
// driver died) from its journal.
func summaryOf(cmd *cobra.Command, st *store.Store, spec *store.Spec) (*counts, error) {
	ctx := cmd.Context()
	v, err := st.LoadVerdict(ctx, spec.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return countOf(cmd, st, spec)
	case err != nil:
		return nil, err
	}
	return &counts{ID: spec.ID, Task: spec.Task, Command: commandOf(ctx, st, spec), Total: spec.N, Succeeded: v.Succeeded,
		Cached: v.Cached, Failed: v.Failed, NotRun: v.Skipped, Outcome: v.Outcome, Required: v.Required, Created: spec.Created}, nil
}

// commandOf shows what an execution runs: the command line of one made by
// maptask run, the task's name otherwise.
func commandOf(ctx context.Context, st *store.Store, spec *store.Spec) string {
	if spec.Task != commandTask {
		return printable(spec.Task)
	}
	bound, err := st.ReadBound(ctx, spec.ID)
	if err != nil {
		return printable(spec.Task)
	}
	var cs command.Spec
	if json.Unmarshal(bound, &cs) != nil {
		return printable(spec.Task)
	}
	return shortCommand(cs)
}

// cut shortens s to n characters, marking the cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// scanExecutions opens the store and lists its executions, saying on standard
// error which ones it skipped (unreadable) and why.
func scanExecutions(cmd *cobra.Command, g *globals, name string) (*store.Store, []store.Spec, error) {
	st, err := g.open(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	specs, bad, err := st.ScanExecutions(cmd.Context())
	if err != nil {
		st.Close()
		return nil, nil, &exitError{exitFailed, err}
	}
	for _, b := range bad {
		fmt.Fprintf(cmd.ErrOrStderr(), "maptask %s: skipping execution %s: %v\n", name, b.ID, b.Err)
	}
	return st, specs, nil
}
