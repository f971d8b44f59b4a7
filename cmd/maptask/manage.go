package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	return &cobra.Command{
		Use:   "logs ID INDEX",
		Short: "Print the output of every attempt of one element",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, spec, err := openExecution(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			index, err := strconv.Atoi(args[1])
			if err != nil || index < 0 || index >= spec.N {
				return usageError("element %q: execution %s has elements 0 to %d", args[1], spec.ID, spec.N-1)
			}
			logs, err := st.ReadLogs(cmd.Context(), spec.ID, index)
			if err != nil {
				return &exitError{exitFailed, err}
			}
			out := cmd.OutOrStdout()
			if len(logs) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "maptask: element %d of %s has no output recorded\n", index, spec.ID)
			}
			for _, l := range logs {
				fmt.Fprintf(out, "=== element %d, attempt %d ===\n", index, l.Attempt)
				out.Write(l.Data)
				if n := len(l.Data); n > 0 && l.Data[n-1] != '\n' {
					fmt.Fprintln(out)
				}
			}
			return nil
		},
	}
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
inputs, with the options it was started with unless flags given here change them.
Inputs that succeeded are not run again; failed and unfinished ones are.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			var inputs []command.Input
			if spec.N > 0 {
				raw, err := st.ReadInputs(ctx, spec.ID, 0, spec.N)
				if err != nil {
					return &exitError{exitFailed, err}
				}
				inputs = make([]command.Input, spec.N)
				for i, b := range raw {
					if err := json.Unmarshal(b, &inputs[i]); err != nil {
						return &exitError{exitFailed, fmt.Errorf("maptask: execution %s: input %d: %w", spec.ID, i, err)}
					}
				}
			}
			// The store decides what runs: say it before running it (see the
			// README on the store as a trust boundary).
			fmt.Fprintf(cmd.ErrOrStderr(), "maptask: resuming %s: %s\n", spec.ID, describeCommand(cspec))
			// Options come from the execution, then from flags given now.
			changed := cmd.Flags().Changed
			f.fromLabels(spec.Labels, changed)
			f.execution = spec.ID
			st.Close()
			used := func(name string) bool {
				return changed(name) || (name == "min-success-ratio" && f.ratio > 0) || (name == "min-successes" && f.minSuccesses >= 0)
			}
			return mapCommand(cmd, g, f, cspec, inputs, used)
		},
	}
	f.register(cmd)
	return cmd
}

// fromLabels restores the run flags recorded by labels, except those set now.
func (f *runFlags) fromLabels(l map[string]string, changed func(string) bool) {
	atoi := func(key string, dst *int) {
		if v, err := strconv.Atoi(l[key]); err == nil {
			*dst = v
		}
	}
	if !changed("concurrency") {
		atoi("cli.concurrency", &f.concurrency)
	}
	if !changed("min-successes") {
		atoi("cli.min-successes", &f.minSuccesses)
	}
	if !changed("retries") {
		atoi("cli.retries", &f.retries)
	}
	if !changed("min-success-ratio") {
		if v, err := strconv.ParseFloat(l["cli.ratio"], 64); err == nil {
			f.ratio = v
		}
	}
	if !changed("timeout") {
		if v, err := time.ParseDuration(l["cli.timeout"]); err == nil {
			f.timeout = v
		}
	}
	if !changed("cache") {
		f.cache = l["cli.cache"]
	}
	// Where it ran: a resumed Kubernetes or Slurm map finds (and adopts) the
	// Jobs or arrays it left running.
	for flag, dst := range f.placement() {
		if v, ok := l["cli."+flag]; ok && !changed(flag) {
			*dst = v
		}
	}
}
