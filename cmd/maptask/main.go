// Command maptask maps a command over inputs and inspects durable executions.
//
//	maptask run -j 8 --min-success-ratio 0.9 --retries 2 -- convert {} {}.png ::: *.jpg
//	maptask ls
//	maptask status ID
//
// Exit codes: 0 success, 1 a map that failed its bar (or a failed check), 2 bad
// usage or bad input (nothing launched).
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/maptask/maptask"
	_ "github.com/maptask/maptask/command" // registers maptask.command for worker mode
	"github.com/maptask/maptask/store"
)

// Exit codes of the CLI.
const (
	exitOK     = 0
	exitFailed = 1 // the map failed its min-success bar, or was cancelled
	exitUsage  = 2 // bad usage or bad input: nothing was launched
	exitStore  = 3 // the store cannot be used (unreachable, not writable, full, corrupt): what was recorded is kept
	exitBusy   = 4 // another driver is running this execution
)

// storeTrouble reports whether err says the store could not be used, as
// opposed to bad usage or a map that failed its bar.
func storeTrouble(err error) bool {
	for _, target := range []error{store.ErrNotWritable, store.ErrCorrupt, store.ErrSymlink, store.ErrIntegrity, maptask.ErrNotRecorded,
		syscall.ENOSPC, syscall.EROFS, syscall.EDQUOT, syscall.EIO, syscall.EACCES} {
		if errors.Is(err, target) {
			return true
		}
	}
	var ne *net.OpError // a store across the network did not answer
	return errors.As(err, &ne)
}

// exitCode is the exit status for err, the same in run, resume, status, ls and
// logs: a store that cannot be used is 3 whatever the command.
func exitCode(err error) int {
	if lf := (*localFileError)(nil); errors.As(err, &lf) {
		return exitUsage
	}
	code := exitUsage // cobra's own errors: unknown flags and commands, wrong arguments
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if storeTrouble(err) {
		code = exitStore
	}
	var held *store.LeaseHeldError
	if errors.As(err, &held) || errors.Is(err, store.ErrLeaseLost) {
		code = exitBusy
	}
	return code
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// localFileError is a file the user named (an input file, --results) that
// cannot be opened: bad input (exit 2), whatever the error (permission
// denied is not the store's trouble).
type localFileError struct{ err error }

func (e *localFileError) Error() string { return e.err.Error() }
func (e *localFileError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf("maptask: "+format, args...)}
}

func main() {
	maptask.Init() // a worker started by a backend runs its elements and exits here
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := newRootCmd()
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, err)
	return exitCode(err)
}
