package command

import (
	"context"
	"io"
	"sync"
)

// A Watcher sees the output of the commands that run in this process while
// they run: `maptask run` prints it as GNU parallel does. A remote worker runs
// its commands without one; their output is read back from the store.
type Watcher interface {
	// Attempt is called as attempt (1-based) of element index starts. What
	// the command writes to its standard output and standard error is copied
	// to the writers it returns (nil: not watched) as well as to the
	// attempt's logs, until the command ends; then both are closed.
	Attempt(index, attempt int) (stdout, stderr io.WriteCloser)
}

type watcherKey struct{}

// WithWatcher returns a context under which the commands Run starts in this
// process report their output to w. Pass it to maptask.Map.
func WithWatcher(ctx context.Context, w Watcher) context.Context {
	return context.WithValue(ctx, watcherKey{}, w)
}

func watcherFrom(ctx context.Context) Watcher {
	w, _ := ctx.Value(watcherKey{}).(Watcher)
	return w
}

// slots hands out job slot numbers ({%}): the lowest number not held by a
// command running in this process, from 1, as GNU parallel numbers its slots.
var slots slotTable

type slotTable struct {
	mu   sync.Mutex
	used []bool // used[k] holds slot k+1
}

func (t *slotTable) take() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, u := range t.used {
		if !u {
			t.used[k] = true
			return k + 1
		}
	}
	t.used = append(t.used, true)
	return len(t.used)
}

func (t *slotTable) release(slot int) {
	t.mu.Lock()
	t.used[slot-1] = false
	t.mu.Unlock()
}
