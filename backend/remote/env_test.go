package remote

import (
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/internal/childenv"
)

func TestEnv(t *testing.T) {
	job := &backend.Job{StoreURL: "file:///s", Execution: "e", Timeout: time.Second, MaxLog: 10}
	got := Env(job, Worker{Writer: "w", Attempts: "0-2:1", Resume: "k8s-j-0-", Retries: 2})
	want := map[string]string{EnvWorker: "1", EnvStoreURL: "file:///s", EnvExecution: "e", EnvTimeout: "1s", EnvMaxLog: "10",
		EnvWriter: "w", EnvAttempts: "0-2:1", EnvResume: "k8s-j-0-", EnvRetries: "2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Env = %v\nwant %v", got, want)
	}
	bare := Env(&backend.Job{StoreURL: "u", Execution: "e"}, Worker{})
	if len(bare) != 3 {
		t.Fatalf("a job without options: %v", bare)
	}
	if e := Environ(bare); !slices.Equal(e, []string{"MAPTASK_EXECUTION=e", "MAPTASK_STORE_URL=u", "MAPTASK_WORKER=1"}) {
		t.Fatalf("Environ = %v", e)
	}
	arr := Env(job, Worker{Array: [][]backend.Attempt{{{Index: 0, Number: 1}}, {{Index: 1, Number: 1}}}})
	if arr[EnvOffset] != "0" || arr[EnvBatch] != "1" || arr[EnvAttempt] != "1" {
		t.Fatalf("array env: %v", arr)
	}
}

// Every variable of the protocol is one the worker scrubs from its tasks'
// environment.
func TestEveryVariableIsScrubbed(t *testing.T) {
	for _, name := range []string{EnvWorker, EnvStoreURL, EnvExecution, EnvWriter, EnvAttempts, EnvTasks, EnvOffset, EnvBatch,
		EnvAttempt, EnvArrayIndex, EnvTimeout, EnvMaxLog, EnvResume, EnvRetries, EnvInstall, EnvProbe} {
		if !slices.Contains(childenv.Protocol, name) {
			t.Errorf("%s is not in childenv.Protocol", name)
		}
	}
}

func TestShell(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no sh")
	}
	env := map[string]string{"A": "it's $HOME `x` \"q\"", "B": "slurm-${JOB}-${TASK}", "C": "", "D": "${JOB}"}
	script := "JOB=7 TASK=3\n" + Shell(env) + `printf '%s|%s|%s|%s' "$A" "$B" "$C" "$D"`
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "it's $HOME `x` \"q\"|slurm-7-3||7"; got != want {
		t.Fatalf("sh read back %q, want %q\nscript:\n%s", got, want, script)
	}
	if !strings.HasPrefix(Shell(env), "export A=") {
		t.Fatalf("not sorted: %s", Shell(env))
	}
}

func TestFormatParseAttempts(t *testing.T) {
	in := []backend.Attempt{{Index: 0, Number: 1}, {Index: 1, Number: 1}, {Index: 2, Number: 1}, {Index: 5, Number: 2}, {Index: 6, Number: 3}, {Index: 7, Number: 3}}
	s := FormatAttempts(in)
	if s != "0-2:1,5:2,6-7:3" {
		t.Fatalf("FormatAttempts = %q", s)
	}
	back, err := ParseAttempts(s, 8)
	if err != nil || !reflect.DeepEqual(back, in) {
		t.Fatalf("ParseAttempts(%q) = %v, %v", s, back, err)
	}
	for _, bad := range []string{"", "3", "2-1:1", "0:0", "9:1", "a:1", "1-x:1", "0-7:1,3:2"} {
		if _, err := ParseAttempts(bad, 8); err == nil {
			t.Errorf("ParseAttempts(%q) accepted", bad)
		}
	}
}

func FuzzParseAttempts(f *testing.F) {
	for _, s := range []string{"0-2:1,5:2,6-7:3", "0:1", "", "0-99999999999:1", "3-1:2"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, list string, n int) {
		n = n % 1000
		if n < 0 {
			n = -n
		}
		got, err := ParseAttempts(list, n)
		if err != nil {
			return
		}
		if len(got) > n {
			t.Fatalf("%d attempts for %d elements", len(got), n)
		}
		back, err := ParseAttempts(FormatAttempts(got), n)
		if err != nil || !reflect.DeepEqual(back, got) && len(got) > 0 {
			t.Fatalf("%q: %v does not round-trip: %v, %v", list, got, back, err)
		}
	})
}

func TestArrayEnv(t *testing.T) {
	a := func(i, n int) backend.Attempt { return backend.Attempt{Index: i, Number: n} }
	for _, tasks := range [][][]backend.Attempt{
		{{a(3, 1), a(4, 1)}, {a(5, 1), a(6, 1)}}, // uniform: three numbers
		{{a(3, 1), a(4, 1)}, {a(5, 1)}},          // a short last batch: lists
		{{a(3, 2)}, {a(9, 2)}},                   // scattered: lists
		{{a(0, 1), a(1, 2)}, {a(2, 1), a(3, 1)}}, // mixed numbers: lists
		{{a(7, 3)}},                              // one
	} {
		env := ArrayEnv(tasks)
		back, err := ArrayTasks(env, len(tasks))
		if err != nil || !reflect.DeepEqual(back, tasks) {
			t.Errorf("%v: env %v reads back as %v, %v", tasks, env, back, err)
		}
	}
	if env := ArrayEnv([][]backend.Attempt{{a(3, 1), a(4, 1)}, {a(5, 1), a(6, 1)}}); env[EnvTasks] != "" || env[EnvOffset] != "3" {
		t.Errorf("uniform array: %v", env)
	}
	if _, err := ArrayTasks(map[string]string{EnvTasks: "0:1;1:1"}, 3); err == nil {
		t.Error("two lists for three indexes accepted")
	}
	if _, err := ArrayTasks(map[string]string{}, 1); err == nil {
		t.Error("an empty environment accepted")
	}
}
