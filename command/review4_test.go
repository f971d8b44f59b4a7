package command

import (
	"os/exec"
	"strings"
	"testing"
)

// An input that is itself a shell operator ("|", ";", ">", "&") must stay one
// quoted word in a Quote command: the operators are the user's words, never
// the input's. Expand decides by the expanded word, so the input becomes an
// operator and is parsed by the shell.
func TestReview4QuoteModeInputEqualToOperatorStaysAWord(t *testing.T) {
	for _, args := range [][]string{
		{"echo", "{}", "|", "cat"},
		{"echo", "|", "cat"}, // no placeholder: the input is appended
	} {
		s, err := NewSpec(args)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{">", ";", "&", "|"} {
			got := s.Expand(Input{in}, 0, 1)
			script := strings.Join(got, " ")
			out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != in {
				t.Errorf("NewSpec(%q).Expand(%q) = %q: sh printed %q (err %v); want the input %q printed as one word",
					args, in, got, out, err, in)
			}
		}
	}
}

// A placeholder in a here-document body is outside quotes to the scanner, but
// the shell does not remove quotes there and still expands $(...): the input
// runs. Such a command must be refused, or the input kept literal.
func TestReview4HeredocPlaceholderDoesNotRunTheInput(t *testing.T) {
	s, err := NewSpec([]string{"cat <<EOF\n{}\nEOF"})
	if err != nil {
		return // refused: fine
	}
	in := "$(echo INJECTED)"
	script := strings.Join(s.Expand(Input{in}, 0, 1), " ")
	out, _ := exec.Command("/bin/sh", "-c", script).CombinedOutput()
	if strings.Contains(string(out), "INJECTED") && !strings.Contains(string(out), "$(echo") {
		t.Errorf("script %q with input %q printed %q: the input was run by the shell", script, in, out)
	}
}
