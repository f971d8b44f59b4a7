package command

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewSpecChoosesTheShellOnlyWhenNeeded(t *testing.T) {
	for _, c := range []struct {
		args  []string
		shell bool
	}{
		{[]string{"convert", "{}", "{}.png"}, false},
		{[]string{"convert {} {}.png"}, true},
		{[]string{"echo {} | wc -c"}, true},
		{[]string{"sh", "-c", "echo {}; date"}, false}, // an exact argv: no second shell
		{[]string{"echo", "{}", ">", "out"}, true},
		{[]string{"true"}, false},
	} {
		s, err := NewSpec(c.args)
		if err != nil || s.Shell != c.shell {
			t.Errorf("NewSpec(%q): shell %v, err %v; want shell %v", c.args, s.Shell, err, c.shell)
		}
	}
	if _, err := NewSpec(nil); err == nil {
		t.Error("NewSpec(nil) accepted")
	}
}

func TestExpand(t *testing.T) {
	for _, c := range []struct {
		spec  Spec
		input string
		want  []string
	}{
		{Spec{Args: []string{"cp", "{}", "out/{index}-{}"}}, "a b", []string{"cp", "a b", "out/7-a b"}},
		{Spec{Args: []string{"echo"}}, "x y", []string{"echo", "x y"}},
		{Spec{Args: []string{"convert {} {}.png"}, Shell: true}, "it's", []string{`convert 'it'\''s' 'it'\''s'.png`}},
		{Spec{Args: []string{"wc -c"}, Shell: true}, "$HOME", []string{"wc -c", `'$HOME'`}},
	} {
		if got := c.spec.Expand(Input{c.input}, 7, 1); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Expand(%q) = %q, want %q", c.input, got, c.want)
		}
	}
}

func TestPlaceholderInsideQuotesIsRefused(t *testing.T) {
	for _, script := range []string{`echo "{}"`, `echo '{}'`, `echo "x {} y" | cat`, `echo \{}`} {
		if _, err := NewSpec([]string{script}); err == nil || !strings.Contains(err.Error(), "MAPTASK_INPUT") && !strings.Contains(err.Error(), "backslash") {
			t.Errorf("NewSpec(%q) = %v, want a refusal naming the quoted alternative", script, err)
		}
	}
	for _, script := range []string{`echo {} "quoted text" 'more'`, `echo "$MAPTASK_INPUT" | wc -c`, `printf '%s\n' {}`} {
		if _, err := NewSpec([]string{script}); err != nil {
			t.Errorf("NewSpec(%q): %v", script, err)
		}
	}
}

// An argv with a shell operator goes through sh -c with every word the user
// gave kept exact: spaces not split, $ not expanded.
func TestShellOperatorKeepsWordsExact(t *testing.T) {
	spec, err := NewSpec([]string{"printf", "%s|", "a  b", "$HOME", "{}", ">", "{}.out"})
	if err != nil || !spec.Shell || !spec.Quote {
		t.Fatalf("NewSpec: %+v %v", spec, err)
	}
	got := strings.Join(spec.Expand(Input{"it's $(x)"}, 0, 1), " ")
	want := `'printf' '%s|' 'a  b' '$HOME' 'it'\''s $(x)' > 'it'\''s $(x).out'`
	if got != want {
		t.Fatalf("Expand = %s\nwant     %s", got, want)
	}
}

// Commands never see the worker protocol's variables or store credentials,
// unless the user names them in Spec.Env.
func TestCommandEnvironmentIsScrubbed(t *testing.T) {
	t.Setenv("MAPTASK_WORKER", "1")
	t.Setenv("MAPTASK_STORE_URL", "s3://bucket")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	t.Setenv("MAPTASK_TEST_VISIBLE", "visible")
	spec := Spec{Args: []string{"sh", "-c", `echo "[$MAPTASK_WORKER][$MAPTASK_STORE_URL][$AWS_SECRET_ACCESS_KEY][$AWS_SESSION_TOKEN][$MAPTASK_TEST_VISIBLE][$MAPTASK_INPUT]"; exit 3`},
		Env: []string{"AWS_SESSION_TOKEN"}}
	_, err := Run(context.Background(), spec, Input{"in"})
	if err == nil || !strings.HasSuffix(err.Error(), ": [][][][token][visible][in]") {
		t.Fatalf("command saw %v", err)
	}
}

// A timeout ends the whole attempt, also a process that left the command's
// process group and holds its output open: the attempt does not wait for it.
func TestTimeoutEndsEscapedProcesses(t *testing.T) {
	dir := t.TempDir()
	pidFile := dir + "/escaped"
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Spec{Args: []string{"sh", "-c", `setsid sleep 104 & echo $! > ` + pidFile + `; sleep 100`}}, Input{"x"})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want the deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the attempt waited for the escaped process")
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the escaped process %d is still running", pid)
		}
	}
}
