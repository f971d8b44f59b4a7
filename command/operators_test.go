package command

import (
	"os/exec"
	"strings"
	"testing"
)

// An input that is itself a shell operator ("|", ";", ">", "&") stays one
// quoted word in a Quote command: the operators are the user's words, never
// the input's. (Expand once decided by the expanded word, so the input became
// an operator and was parsed by the shell: ">" truncated a file.)
func TestQuoteModeInputEqualToOperatorStaysAWord(t *testing.T) {
	for _, c := range []struct {
		args []string
		want func(in string) string // what sh prints for input in
	}{
		{[]string{"echo", "{}", "|", "cat"}, func(in string) string { return in }},
		// No placeholder: the input is appended, to cat, as one argument.
		{[]string{"echo", "|", "cat"}, func(in string) string { return "cat: " + in + ": No such file or directory" }},
	} {
		s, err := NewSpec(c.args)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{">", ";", "&", "|"} {
			got := s.Expand(Input{in}, 0, 1)
			script := strings.Join(got, " ")
			out, _ := exec.Command("/bin/sh", "-c", script).CombinedOutput()
			if strings.TrimSpace(strings.ReplaceAll(string(out), "'", "")) != c.want(in) {
				t.Errorf("NewSpec(%q).Expand(%q) = %q: sh printed %q; want %q", c.args, in, got, out, c.want(in))
			}
		}
	}
}

// A placeholder in a here-document body is outside quotes to the scanner, but
// the shell does not remove quotes there and still expands $(...): the input
// would run. Such a command is refused.
func TestHeredocPlaceholderRefused(t *testing.T) {
	s, err := NewSpec([]string{"cat <<EOF\n{}\nEOF"})
	if err != nil {
		if !strings.Contains(err.Error(), "here-document") {
			t.Errorf("refused with %v: want it to name the here-document", err)
		}
		return
	}
	in := "$(echo INJECTED)"
	script := strings.Join(s.Expand(Input{in}, 0, 1), " ")
	out, _ := exec.Command("/bin/sh", "-c", script).CombinedOutput()
	if strings.Contains(string(out), "INJECTED") && !strings.Contains(string(out), "$(echo") {
		t.Errorf("script %q with input %q printed %q: the input was run by the shell", script, in, out)
	}
}
