//go:build faults

// Package faults is maptask's fault suite: the CLI and a process-backend
// program, built once, are run with faults injected — the driver SIGKILLed at
// random moments, workers killed, the S3 server stopped and frozen, a full
// disk, two drivers on one execution, a read-only store, a truncated journal —
// and each test checks the promise it breaks: nothing claimed that is not
// stored, nothing left running, nothing lost but what was in flight. Figures
// go to the test log as lines starting with "FIGURE".
//
//	go test -tags faults -count=1 -v ./faults/   (make faults; make test runs it)
package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maptask/maptask/internal/testenv"
)

var (
	maptaskBin string // the CLI
	procmapBin string // a Go program on the process backend
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "maptask-faults")
	if err != nil {
		panic(err)
	}
	maptaskBin = filepath.Join(dir, "maptask")
	procmapBin = filepath.Join(dir, "procmap")
	builds := map[string]string{maptaskBin: "../cmd/maptask", procmapBin: "./testdata/procmap"}
	if old := os.Getenv("FAULTS_MAPTASK_BIN"); old != "" {
		// Another maptask, to measure the figures of an older version.
		maptaskBin = old
		delete(builds, maptaskBin)
		builds = map[string]string{procmapBin: "./testdata/procmap"}
	}
	for bin, pkg := range builds {
		// The CLI is built with -race: its packages are those `go test -race
		// ./...` compiled already, so it costs a link. The process-backend
		// program is not: its 40 race-instrumented workers would take 10 times
		// as long and the test would measure the race detector.
		args := []string{"build", "-o", bin, pkg}
		if bin == maptaskBin {
			args = []string{"build", "-race", "-o", bin, pkg}
		}
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// figure logs one measured figure of the suite.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: "+format, append([]any{t.Name()}, args...)...)
}

// env is the environment of every maptask the suite starts: a marker that
// every command inherits, so that survivors can be found in /proc.
type env struct {
	marker string
	store  string
	extra  []string
}

func newEnv(t *testing.T, store string) *env {
	return &env{marker: fmt.Sprintf("faults-%d-%d", os.Getpid(), rand.Int64()), store: store}
}

func (e *env) cmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, maptaskBin, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "FAULTS_MARKER="+e.marker, "MAPTASK_STORE="+e.store)
	c.Env = append(c.Env, e.extra...)
	return c
}

// run runs maptask to its end and returns its exit code and output.
func (e *env) run(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := e.cmd(ctx, dir, args...)
	out, err := c.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("maptask %v: %v", args, err)
	}
	return code, string(out)
}

// survivors lists the processes still running with this env's marker.
func (e *env) survivors() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile("/proc/" + en.Name() + "/environ")
		if err != nil || !bytes.Contains(data, []byte("FAULTS_MARKER="+e.marker)) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + en.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue // a zombie runs nothing
			}
		}
		out = append(out, pid)
	}
	return out
}

// noSurvivors waits briefly for the processes of a killed driver to go, and
// fails with the ones left.
func (e *env) noSurvivors(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := e.survivors()
		if len(left) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return len(left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runsPerInput counts the lines of the file every command appends its input to.
func runsPerInput(t *testing.T, file string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line != "" {
			counts[line]++
		}
	}
	return counts
}

func inputs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

func total(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// statusOf reads `maptask status --json`.
type statusJSON struct {
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Outcome   string `json:"outcome"`
	Required  int    `json:"required"`
}

func (e *env) status(t *testing.T, dir, id string) (statusJSON, int, string) {
	t.Helper()
	code, out := e.run(t, dir, "status", "--json", id)
	var s statusJSON
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status --json: %v: %s", err, out)
		}
	}
	return s, code, out
}

// The driver is SIGKILLed at 20 random moments of a 300-input run, and each
// time resumed at once: a kill may cost at most the commands that were
// running (8), leaves no process behind, and --results counts every attempt.
func TestDriverKilled(t *testing.T) {
	forStores(t, testDriverKilled)
}

// forStores runs a check on a file store and on an S3 server of its own.
func forStores(t *testing.T, check func(t *testing.T, dir string, e *env)) {
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		check(t, dir, newEnv(t, filepath.Join(dir, "store")))
	})
	t.Run("s3", func(t *testing.T) {
		s3 := startS3(t)
		e := newEnv(t, s3.url())
		e.extra = s3.creds()
		check(t, t.TempDir(), e)
	})
}

func testDriverKilled(t *testing.T, dir string, e *env) {
	const n, j, kills = 300, 8, 20
	runs := filepath.Join(dir, "runs")
	args := append([]string{"run", "--progress", "never", "-j", strconv.Itoa(j), "--execution", "killed", "--results", filepath.Join(dir, "results.jsonl"),
		"--", "sh", "-c", `echo $1 >> ` + runs + `; sleep 0.05`, "sh", "{}", ":::"}, inputs(n)...)
	orphans := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range kills {
		c := e.cmd(context.Background(), dir, args...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		_ = c.Process.Kill()
		_ = c.Wait()
		left := e.noSurvivors(t)
		if left > 0 {
			t.Errorf("kill %d: %d processes of the killed driver still running", k+1, left)
		}
		orphans += left
	}
	code, out := e.run(t, dir, args...)
	if code != 0 {
		t.Fatalf("final run: exit %d: %s", code, out)
	}
	counts := runsPerInput(t, runs)
	extra := total(counts) - n
	figure(t, "%d kills: %d command runs for %d inputs (%d recomputed, %.1f per kill; bound %d in flight), %d orphans", kills, total(counts), n, extra, float64(extra)/kills, j, orphans)
	if len(counts) != n {
		t.Fatalf("%d inputs ran, want %d", len(counts), n)
	}
	if extra > kills*j {
		t.Errorf("%d commands recomputed over %d kills: more than the %d that can be in flight per kill", extra, kills, j)
	}
	// --results counts every attempt of an input, across the killed drivers.
	data, err := os.ReadFile(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// An attempt may be counted that was killed before its command did
	// anything: never fewer attempts than runs, and at most what was in
	// flight at each kill more.
	fewer, more := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r struct {
			Input    string `json:"input"`
			Attempts int    `json:"attempts"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Attempts < counts[r.Input] {
			fewer++
		}
		more += max(r.Attempts-counts[r.Input], 0)
	}
	figure(t, "%d of %d inputs report fewer attempts than they ran; %d attempts counted that were killed before their command ran", fewer, n, more)
	if fewer > 0 {
		t.Errorf("%d inputs report fewer attempts than they ran", fewer)
	}
	if more > kills*j {
		t.Errorf("%d attempts counted beyond the runs: more than in flight at the kills", more)
	}
}

// Workers of a process-backend map are SIGKILLed while it runs: it completes
// within its system budget, and only the killed attempts run again.
func TestWorkersKilled(t *testing.T) {
	dir := t.TempDir()
	c := exec.Command(procmapBin, filepath.Join(dir, "store"))
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	killed := 0
	rng := rand.New(rand.NewPCG(3, 4))
loop:
	for killed < 10 {
		select {
		case <-done:
			done <- nil
			break loop
		case <-time.After(150 * time.Millisecond):
		}
		kids := children(c.Process.Pid)
		if len(kids) == 0 {
			continue
		}
		_ = syscall.Kill(kids[rng.IntN(len(kids))], syscall.SIGKILL)
		killed++
	}
	err := <-done
	figure(t, "%d workers killed: %s", killed, strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("the map did not complete: %v: %s", err, out.String())
	}
	if killed < 3 {
		t.Fatalf("only %d workers could be killed: the map ran too fast for the test", killed)
	}
	extra := 0
	fmt.Sscanf(strings.TrimSpace(out.String()), "extra attempts %d", &extra)
	if extra > killed {
		t.Errorf("%d extra attempts for %d killed workers: elements the dead workers never started were charged", extra, killed)
	}
}

// A SIGKILLed driver leaves no command running, not even the children of
// its commands, and not for a moment: a resume started at once would run them
// twice.
func TestDriverKilledLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "store"))
	// Short commands, so that kills also land while commands start.
	args := append([]string{"run", "--progress", "never", "-j", "4", "--execution", "orphans", "--", "sh", "-c", "sleep 30 & sleep 0.$(($1 % 5))", "sh", "{}", ":::"}, inputs(40)...)
	rng := rand.New(rand.NewPCG(5, 6))
	seen, left := 0, 0
	for range 10 {
		c := e.cmd(context.Background(), dir, args...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		seen += len(e.survivors())
		_ = c.Process.Kill()
		_ = c.Wait()
		time.Sleep(500 * time.Millisecond)
		for _, pid := range e.survivors() {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			t.Logf("survivor: %s", stat)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			left++
		}
	}
	figure(t, "10 kills: %d processes running when the driver was killed, %d still running 0.5 s later", seen, left)
	if seen == 0 {
		t.Fatal("no command was running at the kills: the test tested nothing")
	}
	if left > 0 {
		t.Errorf("%d processes outlived their driver", left)
	}
}

// children lists the worker processes of pid (not the reaper's shell).
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, en := range entries {
		data, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && strings.Contains(s, "(procmap)") {
			c, _ := strconv.Atoi(en.Name())
			out = append(out, c)
		}
	}
	return out
}

// s3Server is a versitygw of the suite's own, so that stopping it disturbs no
// other test.
type s3Server struct {
	t    *testing.T
	data string
	port int
	cmd  *exec.Cmd
}

func startS3(t *testing.T) *s3Server {
	bin, _ := filepath.Abs("../.cache/bin/versitygw")
	if _, err := os.Stat(bin); err != nil {
		testenv.Require(t, "versitygw in .cache/bin", "run `hack/s3.sh start` once")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &s3Server{t: t, data: t.TempDir(), port: port}
	if err := os.MkdirAll(filepath.Join(s.data, "faults"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.start(bin)
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Signal(syscall.SIGCONT)
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	return s
}

func (s *s3Server) start(bin string) {
	s.cmd = exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", s.port), "posix", s.data)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=faults", "ROOT_SECRET_ACCESS_KEY=faults-secret")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatal("versitygw did not start")
}

func (s *s3Server) url() string {
	return fmt.Sprintf("s3://faults?endpoint=http://127.0.0.1:%d&region=us-east-1&use_path_style=true", s.port)
}

func (s *s3Server) creds() []string {
	return []string{"AWS_ACCESS_KEY_ID=faults", "AWS_SECRET_ACCESS_KEY=faults-secret", "AWS_REGION=us-east-1"}
}

// The S3 server is stopped (or frozen) for 10 s in the middle of a run: the
// verdict never claims results the store does not hold, and a resume
// completes the map.
func TestS3Outage(t *testing.T) {
	for _, mode := range []string{"stopped", "frozen"} {
		t.Run(mode, func(t *testing.T) {
			s3 := startS3(t)
			dir := t.TempDir()
			e := newEnv(t, s3.url())
			e.extra = s3.creds()
			const n = 1000
			args := append([]string{"run", "--progress", "never", "-j", "8", "--execution", "outage", "--", "sh", "-c", "sleep 0.02", "sh", "{}", ":::"}, inputs(n)...)
			c := e.cmd(context.Background(), dir, args...)
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1200 * time.Millisecond)
			bin := s3.cmd.Path
			if mode == "stopped" {
				_ = s3.cmd.Process.Kill()
				_ = s3.cmd.Wait()
				time.Sleep(10 * time.Second)
				s3.start(bin)
			} else {
				_ = s3.cmd.Process.Signal(syscall.SIGSTOP)
				time.Sleep(10 * time.Second)
				_ = s3.cmd.Process.Signal(syscall.SIGCONT)
			}
			err := c.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			st, scode, sout := e.status(t, dir, "outage")
			figure(t, "run exit %d, then status: %d of %d succeeded, verdict %q (%s)", code, st.Succeeded, n, st.Outcome, lastLine(out.String()))
			if scode != 0 {
				t.Fatalf("status: exit %d: %s", scode, sout)
			}
			if st.Outcome == "succeeded" && st.Succeeded < st.Required {
				t.Errorf("the verdict claims success with %d of %d required results stored", st.Succeeded, st.Required)
			}
			if code == 0 && st.Succeeded != n {
				t.Errorf("run exited 0 with %d of %d results stored", st.Succeeded, n)
			}
			rcode, rout := e.run(t, dir, "resume", "outage", "--progress", "never")
			st, _, _ = e.status(t, dir, "outage")
			figure(t, "resume exit %d: %d of %d succeeded", rcode, st.Succeeded, n)
			if rcode != 0 || st.Succeeded != n {
				t.Errorf("resume: exit %d, %d succeeded: %s", rcode, st.Succeeded, rout)
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// tmpfs mounts a tmpfs of size at a new directory (root only).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, "root (to mount a tmpfs)", "run the fault suite as root")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A store whose disk fills up mid-run: a clear error, nothing partial
// published, and a resume completes once space is freed.
func TestDiskFull(t *testing.T) {
	fs := tmpfs(t, "1m")
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(fs, "store"))
	const n = 2000
	// Each command prints a line: its log fills the disk before long.
	args := append([]string{"run", "--progress", "never", "-j", "8", "--execution", "full", "--", "echo", ":::"}, inputs(n)...)
	code, out := e.run(t, dir, args...)
	figure(t, "run on a 1 MiB store: exit %d: %s", code, lastLine(out))
	if code == 0 {
		t.Fatal("the run succeeded on a full disk: the test did not fill it")
	}
	if !strings.Contains(out, "no space left on device") {
		t.Errorf("the error does not say the disk is full: %s", lastLine(out))
	}
	if out, err := exec.Command("mount", "-o", "remount,size=256m", fs).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	rcode, rout := e.run(t, dir, "resume", "full", "--progress", "never")
	st, _, _ := e.status(t, dir, "full")
	figure(t, "after freeing space, resume exit %d: %d of %d succeeded", rcode, st.Succeeded, n)
	if rcode != 0 || st.Succeeded != n {
		t.Errorf("resume: exit %d, %d succeeded: %s", rcode, st.Succeeded, lastLine(rout))
	}
}

// Two drivers started together on one execution: one runs it, the other
// refuses, and every input runs once.
func TestTwoDrivers(t *testing.T) {
	forStores(t, testTwoDrivers)
}

func testTwoDrivers(t *testing.T, dir string, e *env) {
	runs := filepath.Join(dir, "runs")
	const n = 100
	args := append([]string{"run", "--progress", "never", "-j", "4", "--execution", "twice", "--", "sh", "-c", `echo $1 >> ` + runs + `; sleep 0.05`, "sh", "{}", ":::"}, inputs(n)...)
	type result struct {
		code int
		out  string
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			code, out := e.run(t, dir, args...)
			results <- result{code, out}
		}()
	}
	a, b := <-results, <-results
	counts := runsPerInput(t, runs)
	figure(t, "exits %d and %d; %d command runs for %d inputs", a.code, b.code, total(counts), n)
	refused := 0
	for _, r := range []result{a, b} {
		if strings.Contains(r.out, "is being run by") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d drivers refused, want 1:\n%s\n%s", refused, a.out, b.out)
	}
	if total(counts) != n {
		t.Errorf("%d command runs for %d inputs", total(counts), n)
	}
}

// A store that cannot be written is refused before anything runs.
func TestReadOnlyStore(t *testing.T) {
	fs := tmpfs(t, "16m")
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(fs, "store"))
	runs := filepath.Join(dir, "runs")
	args := append([]string{"run", "--progress", "never", "--execution", "ro", "--", "sh", "-c", `echo $1 >> ` + runs + `; test $1 -lt 10`, "sh", "{}", ":::"}, inputs(20)...)
	// The execution exists (half done), then the store becomes read-only.
	if code, out := e.run(t, dir, args...); code != 1 {
		t.Fatalf("first run: exit %d: %s", code, out)
	}
	before := total(runsPerInput(t, runs))
	if out, err := exec.Command("mount", "-o", "remount,ro", fs).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	code, out := e.run(t, dir, args...)
	ran := total(runsPerInput(t, runs)) - before
	figure(t, "run on a read-only store: exit %d, %d commands ran: %s", code, ran, lastLine(out))
	if ran != 0 {
		t.Errorf("%d commands ran on a store that cannot record them", ran)
	}
	if !strings.Contains(out, "not writable") {
		t.Errorf("the error does not say the store is not writable: %s", lastLine(out))
	}
}

// A journal segment cut mid-line is set aside, and the execution resumes.
func TestTruncatedJournal(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "store"))
	args := append([]string{"run", "--progress", "never", "--execution", "cut", "--", "sh", "-c", `test $1 -lt 30`, "sh", "{}", ":::"}, inputs(60)...)
	if code, out := e.run(t, dir, args...); code != 1 {
		t.Fatalf("first run: exit %d: %s", code, out)
	}
	var segment string
	_ = filepath.Walk(filepath.Join(dir, "store", "executions", "cut"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, "journal") && !info.IsDir() && info.Size() > 20 && segment == "" {
			segment = p
		}
		return nil
	})
	if segment == "" {
		t.Fatal("no journal segment written")
	}
	info, _ := os.Stat(segment)
	if err := os.Truncate(segment, info.Size()/2); err != nil {
		t.Fatal(err)
	}
	code, out := e.run(t, dir, "resume", "cut", "--progress", "never")
	scode, sout := e.run(t, dir, "status", "cut")
	figure(t, "resume after cutting a segment: exit %d (%s); status exit %d", code, lastLine(out), scode)
	if strings.Contains(out, "corrupt") && !strings.Contains(out, "quarantine") {
		t.Errorf("the execution is stuck on the cut segment: %s", out)
	}
	if code != 1 || scode != 0 {
		t.Errorf("resume exit %d (want 1: inputs 30-59 fail), status exit %d: %s %s", code, scode, out, sout)
	}
}
