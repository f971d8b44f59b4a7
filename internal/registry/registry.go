// Package registry maps task names to tasks, so that a worker process started by
// a backend resolves the name it was given to exactly one task of its program.
package registry

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/codec"
)

// Entry is a registered task as a worker sees it: bytes in, bytes out.
type Entry interface {
	Name() string
	// NewRunner decodes the map's bound value (nil when none) once and returns a
	// function that runs the task on one encoded input.
	NewRunner(c codec.Codec, bound []byte) (Runner, error)
}

// Runner runs one attempt of one element: it decodes the input, calls the
// task with the attempt and its two logs (LogFromContext, ErrorLogFromContext)
// in its context, and encodes the output.
type Runner func(ctx context.Context, a backend.Attempt, log, errLog io.Writer, input []byte) ([]byte, error)

var (
	mu    sync.RWMutex
	tasks = map[string]Entry{}
)

// Register adds e. It panics when the name is taken, like http.Handle, so that a
// name always resolves to one task.
func Register(e Entry) {
	mu.Lock()
	defer mu.Unlock()
	if e.Name() == "" {
		panic("maptask: NewTask: empty task name")
	}
	if _, dup := tasks[e.Name()]; dup {
		panic(fmt.Sprintf("maptask: NewTask: task name %q is already registered", e.Name()))
	}
	tasks[e.Name()] = e
}

// Lookup returns the task registered under name.
func Lookup(name string) (Entry, bool) {
	mu.RLock()
	defer mu.RUnlock()
	e, ok := tasks[name]
	return e, ok
}

// Names returns the registered names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(tasks))
	for n := range tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
