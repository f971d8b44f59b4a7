package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/store"
)

// openExecution validates id, opens the store and loads the execution's spec.
func openExecution(cmd *cobra.Command, g *globals, id string) (*store.Store, *store.Spec, error) {
	if err := store.ValidateID(id); err != nil {
		return nil, nil, &exitError{exitUsage, err}
	}
	st, err := g.open(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	spec, err := st.LoadSpec(cmd.Context(), id)
	if err != nil {
		st.Close()
		code := exitFailed
		if errors.Is(err, store.ErrNotFound) {
			code = exitUsage
		}
		return nil, nil, &exitError{code, err}
	}
	return st, spec, nil
}

func newLogsCmd(g *globals) *cobra.Command {
	var failedOnly, stdoutOnly, stderrOnly, tag bool
	cmd := &cobra.Command{
		Use:   "logs ID [INDEX]",
		Short: "Print the output kept of an execution's commands",
		Long: `Print the output kept in the store of an execution's commands.

Without INDEX: every element's output, grouped, in input order (the last
attempt of each), standard output to standard output and standard error to
standard error, as 'maptask run' printed it (--stdout or --stderr alone: that
stream, to standard output). --failed keeps failed elements only. With INDEX: every attempt of that element, each under a header.

A long output is kept as its beginning and its end, with a line saying how
many bytes were dropped between them.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stdoutOnly && stderrOnly {
				return usageError("--stdout and --stderr: give one (or neither, for both)")
			}
			ctx := cmd.Context()
			st, spec, err := openExecution(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			showOut, showErr := !stderrOnly, !stdoutOnly
			if len(args) == 2 {
				index, err := strconv.Atoi(args[1])
				if err != nil || index < 0 || index >= spec.N {
					return usageError("element %q: execution %s has elements 0 to %d", args[1], spec.ID, spec.N-1)
				}
				return elementLogs(cmd, st, spec.ID, index, showOut, showErr)
			}
			return allLogs(ctx, cmd, st, spec, failedOnly, tag, showOut, showErr)
		},
	}
	cmd.Flags().BoolVar(&failedOnly, "failed", false, "only elements that failed")
	cmd.Flags().BoolVar(&stdoutOnly, "stdout", false, "only standard output")
	cmd.Flags().BoolVar(&stderrOnly, "stderr", false, "only standard error")
	cmd.Flags().BoolVar(&tag, "tag", false, "prefix each line with the element's input and a tab")
	return cmd
}

// elementLogs prints every attempt of one element, each under a header.
func elementLogs(cmd *cobra.Command, st *store.Store, id string, index int, showOut, showErr bool) error {
	logs, err := st.ReadLogs(cmd.Context(), id, index)
	if err != nil {
		return &exitError{exitFailed, err}
	}
	out := cmd.OutOrStdout()
	if len(logs) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "maptask: element %d of %s has no output recorded\n", index, id)
	}
	for _, l := range logs {
		fmt.Fprintf(out, "=== element %d, attempt %d ===\n", index, l.Attempt)
		if showOut {
			writeEnded(out, l.Data)
		}
		if showErr && len(l.Stderr) > 0 {
			if showOut {
				fmt.Fprintln(out, "--- standard error ---")
			}
			writeEnded(out, l.Stderr)
		}
	}
	return nil
}

// writeEnded writes b, ending it with a newline if it has none.
func writeEnded(w io.Writer, b []byte) {
	_, _ = w.Write(b)
	if n := len(b); n > 0 && b[n-1] != '\n' {
		fmt.Fprintln(w)
	}
}

// allLogs prints the last attempt's output of every element that kept one, in
// input order.
func allLogs(ctx context.Context, cmd *cobra.Command, st *store.Store, spec *store.Spec, failedOnly, tag, showOut, showErr bool) error {
	recs, err := st.LoadRecords(ctx, spec.ID, spec.N)
	if err != nil {
		return &exitError{exitFailed, err}
	}
	logged, err := st.LoggedElements(ctx, spec.ID)
	if err != nil {
		return &exitError{exitFailed, err}
	}
	var inputs []command.Input
	if tag {
		if inputs, err = readInputs(ctx, st, spec); err != nil {
			return err
		}
	}
	con := newConsole(cmd.OutOrStdout(), cmd.ErrOrStderr())
	for _, i := range logged {
		if i >= spec.N || (failedOnly && recs[i].Status != store.StatusFailed) {
			continue
		}
		attempt := recs[i].Attempts
		if attempt == 0 { // never recorded as finished: its latest attempt
			if logs, err := st.ReadLogs(ctx, spec.ID, i); err == nil && len(logs) > 0 {
				attempt = logs[len(logs)-1].Attempt
			}
		}
		l, err := st.ReadAttemptLog(ctx, spec.ID, i, attempt)
		if err != nil {
			return &exitError{exitFailed, err}
		}
		prefix := ""
		if tag {
			prefix = inputs[i].String() + "\t"
		}
		if showOut && len(l.Data) > 0 {
			con.writeFrom(false, prefix, strings.NewReader(string(l.Data)))
		}
		if showErr && len(l.Stderr) > 0 {
			// Alone (--stderr), it goes to standard output, to be piped.
			con.writeFrom(showOut, prefix, strings.NewReader(string(l.Stderr)))
		}
	}
	return nil
}

// readInputs reads a command execution's inputs.
func readInputs(ctx context.Context, st *store.Store, spec *store.Spec) ([]command.Input, error) {
	inputs := make([]command.Input, spec.N)
	if spec.N == 0 {
		return inputs, nil
	}
	raw, err := st.ReadInputs(ctx, spec.ID, 0, spec.N)
	if err != nil {
		return nil, &exitError{exitFailed, err}
	}
	for i, b := range raw {
		if err := json.Unmarshal(b, &inputs[i]); err != nil {
			return nil, &exitError{exitFailed, fmt.Errorf("maptask: execution %s: input %d: %w", spec.ID, i, err)}
		}
	}
	return inputs, nil
}

func newCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a running execution (from any terminal or machine sharing the store); its state is kept",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, spec, err := openExecution(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.SetCancel(cmd.Context(), spec.ID); err != nil {
				return &exitError{exitFailed, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "maptask: asked execution %s to stop; it does within a few seconds ('maptask resume %s' continues it)\n", spec.ID, spec.ID)
			return nil
		},
	}
}

func newResumeCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Continue a command execution: inputs that succeeded are not run again",
		Long: `Continue an execution started by 'maptask run': the same command over the same
inputs. Inputs that succeeded are not run again; failed and unfinished ones are.

The options the execution was started with (concurrency, bar, retries,
timeout, cache, keep-going, where it runs) are restored unless given again
here; the output and display flags apply to this invocation. The command, its
inputs, --colsep and --env are the execution's and cannot change.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd.Flags().Changed); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, spec, err := openExecution(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			if spec.Task != command.Task.Name() {
				return usageError("execution %s maps the Go task %q: resume it by running its program again", spec.ID, spec.Task)
			}
			bound, err := st.ReadBound(ctx, spec.ID)
			if err != nil {
				return &exitError{exitFailed, err}
			}
			var cspec command.Spec
			if err := json.Unmarshal(bound, &cspec); err != nil {
				return &exitError{exitFailed, fmt.Errorf("maptask: execution %s: its command: %w", spec.ID, err)}
			}
			inputs, err := readInputs(ctx, st, spec)
			if err != nil {
				return err
			}
			restored, err := f.restore(spec.Labels, cmd.Flags())
			if err != nil {
				return &exitError{exitFailed, err}
			}
			// The store decides what runs: say it before running it (see the
			// README on the store as a trust boundary).
			fmt.Fprintf(cmd.ErrOrStderr(), "maptask: resuming %s: %s\n", spec.ID, describeCommand(cspec))
			if len(restored) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "maptask: restored --%s\n", strings.Join(restored, " --"))
			}
			// A bound or bar given now is a change like maptask update's: it
			// comes after the changes recorded so far, which would win otherwise.
			// (Not when another maptask runs it, nor when the bar is one
			// mapCommand refuses: this resume is refused, and records nothing.)
			_, busy, _ := st.Driver(ctx, spec.ID)
			bothBars := f.ratio > 0 && f.minSuccesses >= 0
			if ch := changeFromFlags(cmd.Flags(), f.concurrency, f.minSuccesses, f.ratio); !busy && !bothBars && ch.Check(len(inputs)) == nil {
				ch.By = "resume"
				if _, err := st.RequestChange(ctx, spec.ID, ch); err != nil {
					return &exitError{exitFailed, err}
				}
			}
			f.execution = spec.ID
			st.Close()
			return mapCommand(cmd, g, f, cspec, inputs)
		},
	}
	f.register(cmd, true)
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID...",
		Short: "Remove executions from the store (their inputs, results and logs; the cache is kept)",
		Long: `Remove executions from the store: their inputs, journal, results and logs.
The cache, shared by executions, is kept. An execution that a maptask is
running is refused (exit status 4) and the others are removed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			for _, id := range args {
				if err := store.ValidateID(id); err != nil {
					return &exitError{exitUsage, err}
				}
			}
			st, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			var firstErr error
			for _, id := range args {
				if _, err := st.LoadSpec(ctx, id); errors.Is(err, store.ErrNotFound) {
					firstErr = cmp(firstErr, &exitError{exitUsage, err})
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					continue
				}
				if err := removeExecution(ctx, st, id); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "maptask rm %s: %v\n", id, err)
					firstErr = cmp(firstErr, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", id)
			}
			if firstErr != nil {
				return &exitError{exitCode(firstErr), &messageError{"maptask rm: not every execution was removed", firstErr}}
			}
			return nil
		},
	}
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// removeExecution deletes an execution no driver is running: it takes the
// execution's lease first, so a running one is refused and none can start
// while it goes.
func removeExecution(ctx context.Context, st *store.Store, id string) error {
	lease, err := st.AcquireLease(ctx, id, store.NewLeaseOwner(), time.Minute)
	if err != nil {
		return err
	}
	_ = lease // deleted with the execution
	return st.DeleteExecution(ctx, id)
}

func newGCCmd(g *globals) *cobra.Command {
	var olderThan time.Duration
	var dry bool
	cmd := &cobra.Command{
		Use:   "gc --older-than DURATION",
		Short: "Remove executions created longer ago than DURATION (running ones are kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("older-than") {
				return usageError("gc needs --older-than DURATION (like 720h for 30 days)")
			}
			if olderThan < 0 {
				return usageError("--older-than %v: must not be negative", olderThan)
			}
			ctx := cmd.Context()
			st, specs, err := scanExecutions(cmd, g, "gc")
			if err != nil {
				return err
			}
			defer st.Close()
			cutoff := time.Now().Add(-olderThan)
			removed, kept := 0, 0
			for _, spec := range specs {
				if !spec.Created.Before(cutoff) {
					continue
				}
				if dry {
					fmt.Fprintf(cmd.OutOrStdout(), "would remove %s (created %s)\n", spec.ID, spec.Created.Format(time.RFC3339))
					continue
				}
				if err := removeExecution(ctx, st, spec.ID); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "maptask gc: keeping %s: %v\n", spec.ID, err)
					kept++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s (created %s)\n", spec.ID, spec.Created.Format(time.RFC3339))
				removed++
			}
			if !dry {
				fmt.Fprintf(cmd.ErrOrStderr(), "maptask gc: removed %d %s, kept %d running\n", removed, plural(removed, "execution", "executions"), kept)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "remove executions created longer ago than this (like 720h)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "list what would be removed, and remove nothing")
	return cmd
}
