package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask/store"
)

func newLsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the executions in the store",
		Long: `List the executions in the store, oldest first.

An execution that cannot be read (a corrupt spec or journal, a failed
integrity check) is skipped with a line on standard error naming it and why;
the others are listed and the exit status stays 0. It is 1 when the store
cannot be listed at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			specs, bad, err := st.ScanExecutions(ctx)
			if err != nil {
				return &exitError{exitFailed, err}
			}
			skip := func(id string, err error) {
				fmt.Fprintf(cmd.ErrOrStderr(), "maptask ls: skipping execution %s: %v\n", id, err)
			}
			for _, b := range bad {
				skip(b.ID, b.Err)
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "ID\tTASK\tN\tSUCCEEDED\tFAILED\tOUTCOME\tCREATED")
			}
			enc := json.NewEncoder(out)
			for _, spec := range specs {
				c, err := countOf(cmd, st, &spec)
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
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", spec.ID, spec.Task, spec.N, c.Succeeded, c.Failed, c.Outcome, spec.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines, one object per execution")
	return cmd
}

// counts summarises an execution from its journal and last verdict.
type counts struct {
	ID        string    `json:"id"`
	Task      string    `json:"task"`
	Total     int       `json:"total"`
	Succeeded int       `json:"succeeded"`
	Cached    int       `json:"cached"`
	Failed    int       `json:"failed"`
	Skipped   int       `json:"skipped"`
	Pending   int       `json:"pending"` // never recorded
	Outcome   string    `json:"outcome"` // of the last run; "-" before any verdict
	Required  int       `json:"required,omitempty"`
	Created   time.Time `json:"created"`
	records   []store.Record
}

func countOf(cmd *cobra.Command, st *store.Store, spec *store.Spec) (*counts, error) {
	ctx := cmd.Context()
	recs, quarantined, err := st.LoadRecordsReport(ctx, spec.ID, spec.N)
	if err != nil {
		return nil, err
	}
	for _, q := range quarantined {
		fmt.Fprintf(cmd.ErrOrStderr(), "maptask: execution %s: %s\n", spec.ID, printable(q.String()))
	}
	c := &counts{ID: spec.ID, Task: spec.Task, Total: spec.N, Outcome: "-", Created: spec.Created, records: recs}
	for _, r := range recs {
		switch r.Status {
		case store.StatusSucceeded:
			c.Succeeded++
			if r.Cached {
				c.Cached++
			}
		case store.StatusFailed:
			c.Failed++
		case store.StatusSkipped:
			c.Skipped++
		default:
			c.Pending++
		}
	}
	v, err := st.LoadVerdict(ctx, spec.ID)
	switch {
	case err == nil:
		c.Outcome, c.Required = v.Outcome, v.Required
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return c, nil
}
