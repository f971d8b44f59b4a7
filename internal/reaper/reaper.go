// Package reaper makes sure that the processes a maptask driver or worker
// starts do not outlive it: not when it exits, not when it is killed.
//
// Each attempt runs in a process group of its own, started with
// Pdeathsig=SIGKILL, so the group's leader dies with the thread that started it.
// Its descendants would not: a SIGKILL leaves no chance to kill the group. So the
// first Track starts one small watcher per process, a POSIX shell in a session
// of its own, that reads "+PGID" and "-PGID" lines from a pipe. The pipe's write
// end belongs to this process alone; when this process dies, for any reason,
// the kernel closes it, and the watcher kills every process group still
// registered, then exits. One watcher serves every attempt of the process; a
// registration is one small write.
//
// Descendants that leave their group (setsid) are found while their parent
// still lives: KillTree kills a group leader's whole tree, by parent links,
// before killing the group.
package reaper

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// script is the watcher: it keeps the registered groups as " a b c " and kills
// them when its standard input ends (the owner died, or closed it on exit).
const script = `trap '' INT TERM HUP
groups=" "
while read -r line; do
	g=${line#?}
	case $line in
	+*) groups="$groups$g " ;;
	-*) case $groups in *" $g "*) groups="${groups%% $g *} ${groups#* $g }" ;; esac ;;
	esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
# A group registered a moment too late, or a process that left its group:
# whatever carries this driver's mark in its environment goes too.
for pass in 1 2; do
	for p in /proc/[0-9]*; do
		if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx -e "$EnvMark=$MARK" -e "$EnvMark=$MARK\.[0-9]*"; then
			kill -9 "${p#/proc/}" 2>/dev/null
		fi
	done
done
`

// EnvMark is the variable that marks every process an attempt starts, and
// their descendants, as this driver's: the watcher kills what carries the
// mark when the driver dies. It is the one maptask variable commands see
// besides MAPTASK_INPUT, MAPTASK_INDEX and MAPTASK_ATTEMPT.
const EnvMark = "MAPTASK_RUN"

// mark is this process's mark, random.
var mark = func() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// Env is the entry to add to the environment of every process an attempt
// starts.
func Env() string { return EnvMark + "=" + mark }

var subs atomic.Uint64

// Sub returns an entry to add to the environment of one launch's process
// instead of Env's: it marks what the launch starts as this driver's, as
// Env's does, and also as that launch's own, so that KillMarked(sub) can
// kill whatever of it outlives the launch, also outside its group and
// session (a daemon it started).
func Sub() (env, sub string) {
	sub = mark + "." + strconv.FormatUint(subs.Add(1), 10)
	return EnvMark + "=" + sub, sub
}

// KillMarked sends SIGKILL to every process whose environment holds the
// entry of Sub's sub. It reads /proc (elsewhere it does nothing); a process
// that forks while it reads is caught by its second pass.
func KillMarked(sub string) {
	want := []byte(EnvMark + "=" + sub)
	for range 2 {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if err != nil {
				continue
			}
			for entry := range bytes.SplitSeq(env, []byte{0}) {
				if bytes.Equal(entry, want) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					break
				}
			}
		}
	}
}

var (
	mu      sync.Mutex
	pipe    *os.File // write end; nil until the watcher runs, or when it could not start
	started bool
)

func watcher() *os.File {
	if started {
		return pipe
	}
	started = true
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdin = r
	cmd.Env = []string{"PATH=/usr/bin:/bin", "EnvMark=" + EnvMark, "MARK=" + mark}
	// A session of its own: a Ctrl-C or a group kill aimed at this process's
	// group does not reach the watcher before it has done its work.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil
	}
	r.Close()
	// Not waited for: it outlives this process by design, and init reaps it.
	_ = cmd.Process.Release()
	pipe = w
	return pipe
}

// Track registers the process group pgid, to be killed if this process dies
// before Untrack. A failure to start the watcher is not an error: Pdeathsig
// still kills each group's leader.
func Track(pgid int) {
	mu.Lock()
	defer mu.Unlock()
	if w := watcher(); w != nil {
		_, _ = fmt.Fprintf(w, "+%d\n", pgid)
	}
}

// Untrack removes pgid once its group has been killed or has ended, so that a
// later process reusing the number is never touched.
func Untrack(pgid int) {
	mu.Lock()
	defer mu.Unlock()
	if pipe != nil {
		_, _ = fmt.Fprintf(pipe, "-%d\n", pgid)
	}
}

// SysProcAttr is how an attempt's leader is started: a process group of its
// own, killed when the thread that started it dies.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// KillTree sends SIGKILL to the process group pgid and to every live
// descendant of its leader, also those that left the group or the session
// (setsid). It reads /proc; elsewhere it kills the group only.
//
// The tree is read first (a killed parent's children lose their parent
// link), then the group is killed at once, so that no member sees another
// die and runs one more step (a shell whose sleep was killed would go on
// to its next command), then the descendants outside the group.
func KillTree(pgid int) {
	tree := descendants(pgid)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for _, pid := range tree {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// descendants returns the pids of root's descendants, from /proc/*/stat.
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold anything, so read after the last ')'.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
