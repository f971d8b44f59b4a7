package command

import (
	"reflect"
	"testing"
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
		if got := c.spec.Expand(c.input, 7); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Expand(%q) = %q, want %q", c.input, got, c.want)
		}
	}
}
