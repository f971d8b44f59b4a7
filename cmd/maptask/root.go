package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/maptask/maptask/store"
)

// globals are the flags every command shares.
type globals struct {
	storeURL string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "maptask",
		Short:         "Map a command or task over inputs, with failure tolerance, retries, caching and resume",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.storeURL, "store", store.DefaultURL(), "store for executions and the cache: a directory or a gocloud.dev/blob URL ($MAPTASK_STORE)")
	root.AddCommand(newVersionCmd(), newLsCmd(g), newStatusCmd(g), newRunCmd(g), newLogsCmd(g), newResumeCmd(g), newCancelCmd(g))
	return root
}

// open opens the store named by --store.
func (g *globals) open(ctx context.Context) (*store.Store, error) {
	st, err := store.Open(ctx, g.storeURL)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return st, nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v, goVersion := "(unknown)", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				v, goVersion = bi.Main.Version, bi.GoVersion
				if v == "(devel)" || v == "" {
					for _, s := range bi.Settings {
						if s.Key == "vcs.revision" {
							v = "devel-" + s.Value[:min(12, len(s.Value))]
						}
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "maptask %s %s\n", v, goVersion)
		},
	}
}
