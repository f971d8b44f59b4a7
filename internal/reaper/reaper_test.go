package reaper

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play a driver that starts a command and is
// then killed (REAPER_TEST_DRIVER=1).
func TestMain(m *testing.M) {
	if os.Getenv("REAPER_TEST_DRIVER") == "sub" {
		// A launch marked with Sub whose child leaves its group and
		// session: only the mark names it. Its pid is printed.
		env, _ := Sub()
		cmd := exec.Command("/bin/sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!; wait")
		cmd.SysProcAttr = SysProcAttr()
		cmd.Env = append(os.Environ(), env)
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		Track(cmd.Process.Pid)
		time.Sleep(time.Hour)
	}
	if os.Getenv("REAPER_TEST_DRIVER") != "" {
		cmd := exec.Command("/bin/sh", "-c", "sleep 300 & sleep 300 & wait")
		cmd.SysProcAttr = SysProcAttr()
		if err := cmd.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		Track(cmd.Process.Pid)
		fmt.Println(cmd.Process.Pid)
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

// startDriver runs this test binary as a driver (REAPER_TEST_DRIVER=mode,
// see TestMain) and returns it with the first line it printed.
func startDriver(t *testing.T, mode string) (*exec.Cmd, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	driver := exec.Command(self, "-test.run=^$")
	driver.Env = append(os.Environ(), "REAPER_TEST_DRIVER="+mode)
	stdout, err := driver.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return driver, line
}

func gone(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A zombie still answers kill(0): it is dead if /proc says so.
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] == 'Z'
	}
	return false
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still running", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// A SIGKILLed driver leaves nothing running: the watcher kills the command's
// whole group, the leader's children included.
func TestGroupsDieWithTheirDriver(t *testing.T) {
	driver, line := startDriver(t, "1")
	pgid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("driver said %q", line)
	}
	time.Sleep(200 * time.Millisecond) // the shell starts its sleeps
	members := descendants(pgid)
	if len(members) < 2 {
		t.Fatalf("the command's children did not start: %v", members)
	}
	_ = driver.Process.Kill()
	_ = driver.Wait()
	waitGone(t, append(members, pgid)...)
}

// KillTree reaches a descendant that left the process group (setsid).
func TestKillTreeReachesEscapedProcesses(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "setsid sleep 300 & echo $!; wait")
	cmd.SysProcAttr = SysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	escaped, _ := strconv.Atoi(strings.TrimSpace(line))
	deadline := time.Now().Add(5 * time.Second)
	for { // setsid has exec'd sleep in a session of its own
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", escaped))
		if f := strings.Fields(string(data)); len(f) > 5 && f[5] == strconv.Itoa(escaped) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("setsid did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	KillTree(cmd.Process.Pid)
	_ = cmd.Wait()
	waitGone(t, escaped)
}

// A process a launch marked with Sub started in a session of its own is
// killed by the watcher when the driver dies, as Env's are: the watcher
// matches the driver's mark with any launch's suffix.
func TestSubMarkedDieWithTheirDriver(t *testing.T) {
	driver, line := startDriver(t, "sub")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("driver said %q", line)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond) // setsid has made its session
	_ = driver.Process.Kill()
	_ = driver.Wait()
	waitGone(t, pid)
}

// KillMarked kills what carries a launch's mark, and nothing else.
func TestKillMarked(t *testing.T) {
	env, sub := Sub()
	otherEnv, _ := Sub()
	start := func(e string) *exec.Cmd {
		cmd := exec.Command("/bin/sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!")
		cmd.Env = append(os.Environ(), e)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		cmd.Process = &os.Process{Pid: pid}
		return cmd
	}
	mine, other := start(env), start(otherEnv)
	time.Sleep(100 * time.Millisecond)
	KillMarked(sub)
	waitGone(t, mine.Process.Pid)
	if gone(other.Process.Pid) {
		t.Error("KillMarked killed a process of another launch")
	}
}
