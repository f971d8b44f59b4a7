//go:build unix

package store

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// pidReuseSlack is how much later than its owner's Started a process may
// have started and still be the owner: process start times are read to the
// second, with the clock adjustments since boot.
const pidReuseSlack = 5 * time.Second

// processAlive reports whether pid is a live process of this machine that
// may be the one that started at started (zero: any). A zombie is not
// alive; neither is a process started after started (a reused PID), where
// the start time can be read (Linux).
func processAlive(pid int, started time.Time) bool {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	start, zombie, ok := processStart(pid)
	if !ok {
		return true
	}
	if zombie {
		return false
	}
	return started.IsZero() || !start.After(started.Add(pidReuseSlack))
}
