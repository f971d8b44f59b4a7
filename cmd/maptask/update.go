package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maptask/maptask/store"
)

func newUpdateCmd(g *globals) *cobra.Command {
	var wait time.Duration
	var conc, minSuccesses int
	var ratio float64
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a running execution's concurrency or min-success bar",
		Long: `Change an execution while it runs, from any terminal or machine sharing the
store: its concurrency bound (--concurrency, 0 for unbounded) and the successes
it requires (--min-successes or --min-success-ratio).

The maptask running the execution applies the change within a second: a lower
bound lets running inputs finish and starts nothing new until fewer run; a
higher one starts more at once (Kubernetes Jobs' parallelism and Slurm arrays'
throttles and holds follow); a changed bar decides the early stop again. A change the
execution cannot take (a bar above its inputs, or above what can still
succeed) is refused and nothing changes (exit status 1). Changes are kept in
the execution: 'maptask status' lists them and 'maptask resume' runs with them.
When no maptask is running the execution, the change is recorded for its next
resume.`,
		Example: `  maptask update 20261201-101500-ab12 --concurrency 32
  maptask update 20261201-101500-ab12 --min-success-ratio 0.9`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := changeFromFlags(cmd.Flags(), conc, minSuccesses, ratio)
			if err := ch.Check(-1); err != nil {
				return &exitError{exitUsage, err}
			}
			st, spec, err := openExecution(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			if err := ch.Check(spec.N); err != nil {
				return &exitError{exitUsage, fmt.Errorf("%w (execution %s)", err, spec.ID)}
			}
			ch.By = "maptask update"
			return requestChange(cmd.Context(), st, spec.ID, ch, wait, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&conc, "concurrency", "j", 0, "run at most `N` inputs at once (0: unbounded)")
	fl.IntVar(&minSuccesses, "min-successes", 0, "succeed once `N` inputs succeeded")
	fl.Float64Var(&ratio, "min-success-ratio", 0, "succeed once this fraction `R` of the inputs succeeded, in (0, 1]")
	fl.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the running maptask to apply the change")
	return cmd
}

// changeFromFlags is the change the flags given ask for.
func changeFromFlags(fl *pflag.FlagSet, conc, minSuccesses int, ratio float64) store.Change {
	var ch store.Change
	if fl.Changed("concurrency") {
		ch.Concurrency = &conc
	}
	if fl.Changed("min-successes") {
		ch.MinSuccesses = &minSuccesses
	}
	if fl.Changed("min-success-ratio") {
		ch.MinSuccessRatio = &ratio
	}
	return ch
}

// requestChange records ch and, when a maptask runs the execution, waits for
// its answer: applied, refused (exit status 1), or no answer within wait.
func requestChange(ctx context.Context, st *store.Store, id string, ch store.Change, wait time.Duration, out io.Writer) error {
	_, running, err := st.Driver(ctx, id)
	if err != nil {
		return &exitError{exitFailed, err}
	}
	ch, err = st.RequestChange(ctx, id, ch)
	if err != nil {
		return &exitError{exitFailed, err}
	}
	if !running {
		fmt.Fprintf(out, "maptask: execution %s: no maptask is running it; change %d (%s) is recorded and applies when it is resumed\n", id, ch.Seq, ch.String())
		return nil
	}
	res, err := st.AwaitChangeResult(ctx, id, ch.Seq, wait, 100*time.Millisecond)
	switch {
	case err != nil:
		return &exitError{exitFailed, err}
	case res == nil:
		return &exitError{exitFailed, fmt.Errorf("maptask: execution %s: change %d (%s) is recorded, but the maptask running it has not applied it within %s", id, ch.Seq, ch.String(), wait)}
	case !res.Applied:
		return &exitError{exitFailed, fmt.Errorf("maptask: execution %s: change refused: %s", id, res.Error)}
	}
	fmt.Fprintf(out, "maptask: execution %s: %s applied; it now runs %s and needs %d successes\n", id, ch.String(), describeBound(res.Concurrency), res.Required)
	return nil
}

// describeBound says a concurrency bound in words.
func describeBound(c int) string {
	if c == 0 {
		return "unbounded"
	}
	return fmt.Sprintf("at most %d at once", c)
}
