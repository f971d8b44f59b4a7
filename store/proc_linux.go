package store

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's times: 100 on every Linux.
const clockTicks = 100

// processStart returns when process pid started, from /proc/<pid>/stat
// (field 22, in clock ticks since boot) and /proc/stat's btime, and whether
// it is a zombie.
func processStart(pid int) (start time.Time, zombie, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, false, false
	}
	// "pid (comm) state ..." where comm may hold anything: fields follow
	// the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, false, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return time.Time{}, false, false
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, false, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false, false
	}
	start = boot.Add(time.Duration(ticks) * time.Second / clockTicks)
	return start, f[0] == "Z" || f[0] == "X", true
}

// bootTime reads btime from /proc/stat.
func bootTime() (time.Time, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for line := range strings.SplitSeq(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(s, 0), err == nil
		}
	}
	return time.Time{}, false
}
