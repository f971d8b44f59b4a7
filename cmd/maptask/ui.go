package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	webconsole "github.com/maptask/maptask/internal/console"
	"github.com/maptask/maptask/store"
)

// defaultUIAddr is where maptask ui listens unless told otherwise.
const defaultUIAddr = "127.0.0.1:7777"

func newUICmd(g *globals) *cobra.Command {
	var addr string
	var public bool
	var allowHosts []string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve a web console over the store's executions",
		Long: `Serve a web console over the executions in the store: a list of them, one
execution with a grid of its elements, its failures and a histogram of
durations, one element with its attempts and logs; live while maps run, and
a button to cancel a running execution.

It listens on 127.0.0.1:7777 unless --addr says otherwise; an address that is
not loopback is refused unless --public is given, as anyone who reaches the
console can read every input and log in the store and cancel its maps. It
answers only to the names of the address it listens on (loopback names; for
--public, the address itself, this machine's host name and, on a wildcard
address, its interfaces' addresses) and to those --allow-host adds: a page of
another site cannot reach it by pointing its own name at this machine (DNS
rebinding). Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if interval < 100*time.Millisecond {
				return usageError("--interval %s: must be at least 100ms", interval)
			}
			loopback, err := loopbackAddr(addr)
			if err != nil {
				return usageError("--addr %q: %v", addr, err)
			}
			if !loopback && !public {
				return usageError("--addr %s is not a loopback address: anyone who reaches it can read the store's inputs and logs and cancel its maps; add --public to serve it anyway", addr)
			}
			st, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("maptask ui: %w", err)}
			}
			errOut := cmd.ErrOrStderr()
			if !loopback {
				fmt.Fprintf(errOut, "maptask ui: WARNING: serving %s beyond this machine, without authentication: anyone who reaches it can read this store's inputs and logs and cancel its maps\n", ln.Addr())
			}
			srv := webconsole.New(st, webconsole.Options{
				Command:  func(ctx context.Context, spec *store.Spec) string { return commandOf(ctx, st, spec) },
				Input:    func(spec *store.Spec, raw []byte) string { return printable(inputText(raw, spec.Task == commandTask)) },
				Interval: interval,
				Hosts:    servedHosts(ln.Addr(), loopback, allowHosts),
				Logger:   slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			defer srv.Close()
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "maptask ui: serving %s on http://%s/ (Ctrl-C stops)\n", st.URL(), ln.Addr())
			done := make(chan error, 1)
			go func() { done <- hs.Serve(ln) }()
			select {
			case err := <-done:
				return &exitError{exitFailed, fmt.Errorf("maptask ui: %w", err)}
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Close() // ends the event streams, so Shutdown need not wait for them
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return &exitError{exitFailed, fmt.Errorf("maptask ui: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultUIAddr, "address to listen on, host:port (port 0: any free port)")
	cmd.Flags().BoolVar(&public, "public", false, "allow an --addr that is not loopback (no authentication: anyone who reaches it reads the store and can cancel maps)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often open pages are brought up to date")
	cmd.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "another name the console answers to in a request's Host header (repeatable; e.g. a DNS name of this machine)")
	return cmd
}

// servedHosts are the Host names the console answers to besides loopback
// ones: for a listener beyond loopback, its own address, this machine's
// name and, on a wildcard address, every interface's address; and extra.
func servedHosts(addr net.Addr, loopback bool, extra []string) []string {
	hosts := slices.Clone(extra)
	if loopback {
		return hosts
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return hosts
	}
	if !tcp.IP.IsUnspecified() {
		return append(hosts, tcp.IP.String())
	}
	if ifs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range ifs {
			if ipn, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	return hosts
}

// loopbackAddr reports whether addr (host:port) listens on loopback only. An
// empty host (every interface) is not loopback; "localhost" is.
func loopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if host == "" {
			return false, nil
		}
		return false, fmt.Errorf("host %q: give an IP address or localhost", host)
	}
	return ip.IsLoopback(), nil
}
