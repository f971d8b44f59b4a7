package maptask

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/worker"
)

// initCalled records that Init ran in this process.
var initCalled atomic.Bool

// Init must be the first call in main of a program whose tasks run on other
// backends than the in-process one: when a backend started the program as a
// worker, Init runs the elements it was given and exits the process; otherwise
// it returns at once and costs nothing.
//
// A worker program that forgets Init would run main again in every worker and
// start a map of its own there, and so on without end. Map guards against it:
// in a process started as a worker, Map without Init prints why to standard
// error and exits with worker.ExitNoInit, which the driver takes as a fatal
// error of the whole map.
func Init() {
	initCalled.Store(true)
	if worker.Active() {
		os.Exit(worker.Main(context.Background()))
	}
}

// errNestedRemote refuses a remote map started by a task running in a worker.
var errNestedRemote = errors.New("maptask: a task running in a worker cannot start a map on a worker backend " +
	"(nested remote maps would recurse through the worker program); run the inner map in-process, or start it from the driver")

// guardWorker is called by every Map before anything runs. In a process a
// backend started as a worker, Map without Init is the fork bomb Init exists to
// prevent: the process exits at once with a distinct code. With Init, Map runs
// inside a task and may only use the in-process backend.
func guardWorker(b backend.Backend) error {
	if !worker.Active() {
		return nil
	}
	if !initCalled.Load() {
		fmt.Fprintf(os.Stderr, "maptask: this program was started as a maptask worker but called Map before maptask.Init(): "+
			"call maptask.Init() first thing in main (exit status %d)\n", worker.ExitNoInit)
		os.Exit(worker.ExitNoInit)
	}
	if b != nil && backend.IsRemote(b) {
		return errNestedRemote
	}
	return nil
}
