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
	storeURL  string
	noDefault error // why there is no default store, when there is none
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "maptask",
		Short:         "Map a command or task over inputs, with failure tolerance, retries, caching and resume",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def, err := store.DefaultURL()
	g.noDefault = err
	root.PersistentFlags().StringVar(&g.storeURL, "store", def, "store for executions and the cache: a directory or a gocloud.dev/blob URL ($MAPTASK_STORE)")
	root.AddCommand(newVersionCmd(), newLsCmd(g), newStatusCmd(g), newRunCmd(g), newLogsCmd(g), newResumeCmd(g), newCancelCmd(g), newUpdateCmd(g), newRmCmd(g), newGCCmd(g), newUICmd(g), newManCmd(root))
	return root
}

// url returns the store named by --store, or why there is none.
func (g *globals) url() (string, error) {
	if g.storeURL == "" && g.noDefault != nil {
		return "", &exitError{exitUsage, g.noDefault}
	}
	return g.storeURL, nil
}

// open opens the store named by --store.
func (g *globals) open(ctx context.Context) (*store.Store, error) {
	u, err := g.url()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, u)
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
