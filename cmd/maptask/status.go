package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask/store"
)

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an execution's counts, verdict and failed elements",
		Args:  cobra.ExactArgs(1),
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
			out := cmd.OutOrStdout()
			type failure struct {
				Index int    `json:"index"`
				Error string `json:"error"`
			}
			var failures []failure
			for i, r := range c.records {
				if r.Status == store.StatusFailed {
					failures = append(failures, failure{i, r.Err})
				}
			}
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					*counts
					Failures []failure `json:"failures"`
				}{c, failures})
			}
			fmt.Fprintf(out, "execution %s: task %s, %d elements\n", spec.ID, printable(spec.Task), spec.N)
			fmt.Fprintf(out, "  succeeded %d (cached %d), failed %d, not run %d, pending %d\n", c.Succeeded, c.Cached, c.Failed, c.Skipped, c.Pending)
			if c.Outcome == "-" {
				fmt.Fprintln(out, "  verdict: none yet (running, or the driver stopped before the end)")
			} else {
				fmt.Fprintf(out, "  verdict: %s (%d required)\n", c.Outcome, c.Required)
			}
			for k, f := range failures {
				if k == 20 && !all {
					fmt.Fprintf(out, "  ... and %d more (--all shows them)\n", len(failures)-20)
					break
				}
				msg := f.Error
				if nl := strings.IndexByte(msg, '\n'); nl >= 0 {
					msg = msg[:nl]
				}
				fmt.Fprintf(out, "  element %d: %s\n", f.Index, printable(msg))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&all, "all", false, "list every failed element")
	return cmd
}
