package command

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/maptask/maptask/codec"
)

// The path modifiers behave as GNU parallel's (its test suite's {//} cases,
// and the regular expressions behind {.} {/} {/.}).
func TestPathModifiers(t *testing.T) {
	for _, c := range []struct{ in, noExt, base, dir, baseNoExt string }{
		{"a", "a", "a", ".", "a"},
		{"a/b", "a/b", "b", "a", "b"},
		{"a/b/c", "a/b/c", "c", "a/b", "c"},
		{"/a", "/a", "a", "/", "a"},
		{"/a/b", "/a/b", "b", "/a", "b"},
		{"./a", "./a", "a", ".", "a"},
		{"./a/b", "./a/b", "b", "./a", "b"},
		{"a.jpg", "a", "a.jpg", ".", "a"},
		{"a/b.jpg", "a/b", "b.jpg", "a", "b"},
		{"/a/b/c.jpg", "/a/b/c", "c.jpg", "/a/b", "c"},
		{"./a.jpg", "./a", "a.jpg", ".", "a"},
		{"a.tar.gz", "a.tar", "a.tar.gz", ".", "a.tar"},
		{"dir.x/file", "dir.x/file", "file", "dir.x", "file"},
		{"dir.x/file.y", "dir.x/file", "file.y", "dir.x", "file"},
		{"a.", "a.", "a.", ".", "a."},
		{".bashrc", "", ".bashrc", ".", ""},
		{"d/.bashrc", "d/", ".bashrc", "d", ""},
		{"a/b/", "a/b/", "", "a", ""},
		{"a//b", "a//b", "b", "a", "b"},
		{"//a", "//a", "a", "/", "a"},
		{"/", "/", "", "/", ""},
		{"///", "///", "", "/", ""},
		{"", "", "", ".", ""},
		{"a b/c d.e f", "a b/c d", "c d.e f", "a b", "c d"},
	} {
		got := [4]string{modify(c.in, noExt), modify(c.in, base), modify(c.in, dir), modify(c.in, baseNoExt)}
		want := [4]string{c.noExt, c.base, c.dir, c.baseNoExt}
		if got != want {
			t.Errorf("%q: {.} {/} {//} {/.} = %q, want %q", c.in, got, want)
		}
	}
}

func mustSpec(t *testing.T, args ...string) Spec {
	t.Helper()
	s, err := NewSpec(args)
	if err != nil {
		t.Fatalf("NewSpec(%q): %v", args, err)
	}
	return s
}

func TestExpandPlaceholders(t *testing.T) {
	for _, c := range []struct {
		args   []string
		colsep string
		in     Input
		want   []string
	}{
		// Each placeholder, in an exact argv.
		{[]string{"echo", "{}", "{.}", "{/}", "{//}", "{/.}"}, "", Input{"d/a.tar.gz"}, []string{"echo", "d/a.tar.gz", "d/a.tar", "a.tar.gz", "d", "a.tar"}},
		{[]string{"echo", "{#}", "{%}", "{index}"}, "", Input{"x"}, []string{"echo", "8", "3", "7"}},
		{[]string{"cp", "{}", "out/{#}-{/.}.png"}, "", Input{"in/a b.jpg"}, []string{"cp", "in/a b.jpg", "out/8-a b.png"}},
		// Placeholders next to each other and repeated.
		{[]string{"{}{}", "x{.}y{/}z"}, "", Input{"p/q.r"}, []string{"p/q.rp/q.r", "xp/qyq.rz"}},
		// Several sources: {} joins the values, {N} picks one, {N.} and the
		// others transform it; {.} transforms each value.
		{[]string{"echo", "{}", "{2}", "{1}", "{1/}", "{2.}"}, "", Input{"a/x.c", "b/y.d"}, []string{"echo", "a/x.c b/y.d", "b/y.d", "a/x.c", "x.c", "b/y"}},
		{[]string{"echo", "{.}", "{/}", "{//}"}, "", Input{"a/x.c", "b/y.d"}, []string{"echo", "a/x b/y", "x.c y.d", "a b"}},
		{[]string{"echo", "{3}"}, "", Input{"a", "b"}, []string{"echo", ""}}, // robust: Validate refuses it beforehand
		// Columns: {N} is a column, trimmed; {} the whole line; a missing
		// column is empty.
		{[]string{"echo", "{2}", "{1}", "{}", "{3}"}, ",", Input{"a , b"}, []string{"echo", "b", "a", "a , b", ""}},
		{[]string{"echo", "{1}", "{2/.}"}, `\t`, Input{"x\tdir/f.txt"}, []string{"echo", "x", "f"}},
		{[]string{"echo", "{3}", "{1}"}, `[,;]`, Input{"a;b,c"}, []string{"echo", "c", "a"}},
		{[]string{"echo", "{2}", "{3}"}, `\s+`, Input{"a  b", "c"}, []string{"echo", "b", "c"}}, // columns of every source, in order
		// The append rule: no placeholder, the values (or columns) are the last arguments.
		{[]string{"echo"}, "", Input{"x y"}, []string{"echo", "x y"}},
		{[]string{"echo", "-n"}, "", Input{"a", "b"}, []string{"echo", "-n", "a", "b"}},
		{[]string{"echo"}, ",", Input{"a,b"}, []string{"echo", "a", "b"}},
		{[]string{"echo"}, "", Input{""}, []string{"echo", ""}},
		{[]string{"echo", "{#}"}, "", Input{"x"}, []string{"echo", "8"}}, // any placeholder: nothing appended
		{[]string{"echo", "{index}"}, "", Input{"x"}, []string{"echo", "7"}},
		{[]string{"echo", "{%}"}, "", Input{"x"}, []string{"echo", "3"}},
		// Literal text that is not a placeholder.
		{[]string{"echo", "${HOME}", "{a,b}", "{foo}", "{ }", "{", "}", "x}{"}, "", Input{"v"}, []string{"echo", "${HOME}", "{a,b}", "{foo}", "{ }", "{", "}", "x}{", "v"}},
		{[]string{"awk", "{print $1}", "{}"}, "", Input{"f"}, []string{"awk", "{print $1}", "f"}},
		{[]string{"echo", "{{}}"}, "", Input{"v"}, []string{"echo", "{v}"}},
		{[]string{"echo", "${}"}, "", Input{"v"}, []string{"echo", "${}", "v"}},
	} {
		s := mustSpec(t, c.args...)
		s.Colsep = c.colsep
		if got := s.Expand(c.in, 7, 3); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q colsep %q: Expand(%q) = %q, want %q", c.args, c.colsep, c.in, got, c.want)
		}
	}
}

// Through a shell, every value taken from the input is quoted; numbers are not.
func TestExpandQuotesForTheShell(t *testing.T) {
	for _, c := range []struct {
		script string
		colsep string
		in     Input
		want   []string
	}{
		{"convert {} {.}.png", "", Input{"it's a.jpg"}, []string{`convert 'it'\''s a.jpg' 'it'\''s a'.png`}},
		{"echo {#} {%} {index} >> {/}.log", "", Input{"d/$(x)"}, []string{`echo 8 3 7 >> '$(x)'.log`}},
		{"echo {1} {2} | cat", "", Input{"a b", "c;d"}, []string{`echo 'a b' 'c;d' | cat`}},
		{"echo {2} | cat", ",", Input{"a,$HOME"}, []string{`echo '$HOME' | cat`}},
		{"echo {}", "", Input{"a", "b"}, []string{`echo 'a b'`}},
		{"wc -c", "", Input{"$HOME", "x y"}, []string{"wc -c", `'$HOME'`, `'x y'`}},
		{"echo \"job {#}\" '{%}'", "", Input{"x"}, []string{`echo "job 8" '3'`}},
	} {
		s := mustSpec(t, c.script)
		if !s.Shell {
			t.Fatalf("%q: not run through a shell", c.script)
		}
		s.Colsep = c.colsep
		if got := s.Expand(c.in, 7, 3); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: Expand(%q) = %q, want %q", c.script, c.in, got, c.want)
		}
	}
	// With Quote, each word is quoted whole after the placeholders are put in.
	s := mustSpec(t, "cp", "{}", "{/.}.{#}", "&&", "echo", "{%}")
	got := strings.Join(s.Expand(Input{"d/it's.c"}, 0, 2), " ")
	if want := `'cp' 'd/it'\''s.c' 'it'\''s.1' && 'echo' '2'`; got != want {
		t.Errorf("Quote: %s\nwant     %s", got, want)
	}
}

func TestUnknownPlaceholdersAreRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"echo", "{..}"}, "unknown placeholder {..}"},
		{[]string{"echo", "{+/}"}, "{+/}"},
		{[]string{"echo", "{0}"}, "{0}"},
		{[]string{"echo", "{-1}"}, "{-1}"},
		{[]string{"echo", "{1..3}"}, "{1..3}"},
		{[]string{"echo", "{01}"}, "{01}"},
		{[]string{"echo", "{#1}"}, "{#1}"},
		{[]string{"echo", "{=}"}, "{=}"},
		{[]string{"echo", "{1}{..}x{%%}"}, "unknown placeholders {..} {%%}"},
		{[]string{"echo {} {//.}"}, "{//.}"},
		{[]string{"echo", "a{99999999999999999999999}"}, "{99999999999999999999999}"},
		{[]string{"echo", "{= s/a/b/ =}"}, "{= s/a/b/ =}: perl expressions are not supported"},
		{[]string{"echo", "{2=$_=uc($_)=}"}, "perl expressions are not supported"},
		{[]string{"echo {==} {}"}, "perl expressions"},
	} {
		_, err := NewSpec(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSpec(%q) = %v, want an error with %q", c.args, err, c.want)
		}
		if err = (Spec{Args: c.args}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%q) = %v, want an error with %q", c.args, err, c.want)
		}
	}
	for _, args := range [][]string{
		{"echo", "${HOME}", "{a,b}", "{foo}", "{ 1 }", "{}"},
		{"awk '{print $1}' | sort"},
		{"echo ${x:-{}} {1}"}, // {} after "-" is a candidate, and known
		{"find . -exec echo {} +"},
		{"echo {index} {#} {%} {1//} {12/.}"},
	} {
		if _, err := NewSpec(args); err != nil {
			t.Errorf("NewSpec(%q): %v", args, err)
		}
	}
}

func TestInputPlaceholdersInsideQuotesAreRefused(t *testing.T) {
	for _, script := range []string{
		`echo "{.}"`, `echo '{1}'`, `echo "x {/} y" | cat`, `echo \{//}`, `echo '{2/.}' {1}`,
		`echo "\{}"`, // a backslash inside double quotes does not protect the quoted input
		`echo $'{}'`,
	} {
		_, err := NewSpec([]string{script})
		if err == nil || !strings.Contains(err.Error(), "parsed again by the shell") {
			t.Errorf("NewSpec(%q) = %v, want a refusal", script, err)
		}
	}
	for _, script := range []string{
		`echo "job {#} of slot {%}" '{index}'`, `echo {.} "quoted" 'more' {/}`, `echo "${HOME}" {}`,
		`awk '{print $1}' {}`,
	} {
		if _, err := NewSpec([]string{script}); err != nil {
			t.Errorf("NewSpec(%q): %v", script, err)
		}
	}
}

func TestValidateSources(t *testing.T) {
	for _, c := range []struct {
		args    []string
		colsep  string
		sources int
		want    string // "" for no error
	}{
		{[]string{"echo", "{1}"}, "", 0, ""},
		{[]string{"echo", "{2}"}, "", 0, "{2} refers to input source 2 but there is 1 input source"},
		{[]string{"echo", "{2}", "{3.}"}, "", 2, "{3} refers to input source 3 but there are 2 input sources"},
		{[]string{"echo", "{3}"}, "", 3, ""},
		{[]string{"echo", "{9}"}, ",", 1, ""}, // columns: a missing one is empty
		{[]string{"echo", "{1}"}, "(", 1, "--colsep \"(\""},
		{[]string{"echo"}, "", -1, "must be 1 or more"},
		{nil, "", 0, "no command"},
	} {
		s := Spec{Args: c.args, Colsep: c.colsep, Sources: c.sources}
		err := s.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q colsep %q sources %d: Validate = %v, want %q", c.args, c.colsep, c.sources, err, c.want)
		}
	}
}

func TestHasPlaceholder(t *testing.T) {
	for args, want := range map[string]bool{"echo {}": true, "echo {#}": true, "echo {%}": true, "echo {index}": true,
		"echo {2/}": true, "echo": false, "echo ${HOME}": false, "echo {foo}": false} {
		if got := (Spec{Args: strings.Fields(args)}).HasPlaceholder(); got != want {
			t.Errorf("HasPlaceholder(%q) = %v", args, got)
		}
	}
}

// A one-value Input is the JSON string codec.JSON writes for a string, byte
// for byte: stored executions decode unchanged and cache keys stay the same.
func TestInputJSON(t *testing.T) {
	for _, v := range []string{"", "a b", "<&>", "it's \"q\"", "\u2028", "é", "\xff\xfe", "a\x00b", "line\n"} {
		want, err := codec.JSON.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.JSON.Marshal(Input{v})
		if err != nil || string(got) != string(want) {
			t.Errorf("Input{%q} = %s %v, want %s", v, got, err, want)
		}
		var back Input
		if err := codec.JSON.Unmarshal(want, &back); err != nil || !reflect.DeepEqual(back, Input{v}) {
			t.Errorf("decoding %s = %q %v", want, back, err)
		}
	}
	for _, in := range []Input{{"a", "b"}, {"x\xff", "<y>", ""}, {}} {
		data, err := codec.JSON.Marshal(in)
		if err != nil || data[0] != '[' {
			t.Fatalf("%q: %s %v", in, data, err)
		}
		var back Input
		if err := codec.JSON.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, in) {
			t.Errorf("%q: %s decodes to %q %v", in, data, back, err)
		}
	}
	var in Input
	for _, bad := range []string{`1`, `{"x":1}`, `[1]`, `["a",{"$bytes":"!"}]`} {
		if err := json.Unmarshal([]byte(bad), &in); err == nil {
			t.Errorf("%s decoded to %q", bad, in)
		}
	}
	if s := (Input{"a", "b c"}).String(); s != "a b c" {
		t.Errorf("String = %q", s)
	}
}

// A Spec decoded from JSON (as a worker does) comes with its arguments
// parsed; a Spec whose Args were replaced is parsed again.
func TestTemplateFollowsArgs(t *testing.T) {
	s := mustSpec(t, "echo", "{.}")
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"args":["echo","{.}"]}` {
		t.Errorf("encoded as %s", data)
	}
	var d Spec
	if err := json.Unmarshal(data, &d); err != nil || d.tmpl == nil || !d.tmpl.matches(d.Args) {
		t.Fatalf("decoded %+v %v", d, err)
	}
	if got := d.Expand(Input{"a.b"}, 0, 1); !reflect.DeepEqual(got, []string{"echo", "a"}) {
		t.Errorf("decoded Spec expands to %q", got)
	}
	s.Args = []string{"echo", "{/}"}
	if got := s.Expand(Input{"d/a.b"}, 0, 1); !reflect.DeepEqual(got, []string{"echo", "a.b"}) {
		t.Errorf("after new Args: %q", got)
	}
}

// expandReplacer is Expand as it was before templates: a strings.Replacer
// per element, for {} and {index} only.
func expandReplacer(s Spec, input string, index int) []string {
	quoteInput := s.Shell && !s.Quote
	in := input
	if quoteInput {
		in = shellQuote(input)
	}
	r := strings.NewReplacer("{}", in, "{index}", strconv.Itoa(index))
	args := make([]string, len(s.Args), len(s.Args)+1)
	hasPlaceholder := false
	for i, a := range s.Args {
		args[i] = r.Replace(a)
		hasPlaceholder = hasPlaceholder || strings.Contains(a, "{}")
	}
	if !hasPlaceholder {
		args = append(args, in)
	}
	if s.Quote {
		for i, a := range args {
			if !shellOperators[a] {
				args[i] = shellQuote(a)
			}
		}
	}
	return args
}

// Commands that use only {} expand as they did before (the append rule now
// also holds for a command with only {index}, which got the input appended).
func TestExpandAsBefore(t *testing.T) {
	for _, args := range [][]string{
		{"cp", "{}", "out/{index}-{}"}, {"echo"}, {"convert {} {}.png"}, {"wc -c"},
		{"printf", "%s|", "a  b", "$HOME", "{}", ">", "{}.out"}, {"echo", "{}{}", "x{}y"}, {"sh", "-c", "echo {}; date"},
	} {
		s := mustSpec(t, args...)
		for _, in := range []string{"", "a b", "it's $(x)", "{}", "{index}"} {
			got, want := s.Expand(Input{in}, 42, 1), expandReplacer(s, in, 42)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q on %q: %q, before %q", args, in, got, want)
			}
		}
	}
}

var benchSpecs = map[string][]string{
	"argv":  {"convert", "-resize", "50%", "{}", "out/{index}-{}.png"},
	"shell": {"convert {} {}.png && rm {}"},
	"plain": {"echo"},
}

func BenchmarkExpand(b *testing.B) {
	for name, args := range benchSpecs {
		s, err := NewSpec(args)
		if err != nil {
			b.Fatal(err)
		}
		in := Input{"photos/2024/holiday snap.jpg"}
		b.Run(name+"/template", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Expand(in, i, 1)
			}
		})
		b.Run(name+"/unparsed", func(b *testing.B) { // a Spec built by hand: parsed on each call
			b.ReportAllocs()
			u := Spec{Args: s.Args, Shell: s.Shell, Quote: s.Quote}
			for i := 0; i < b.N; i++ {
				u.Expand(in, i, 1)
			}
		})
		b.Run(name+"/replacer", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				expandReplacer(s, in[0], i)
			}
		})
	}
	s := mustSpecB(b, "convert", "{}", "{//}/{#}-{/.}.png")
	b.Run("modifiers/template", func(b *testing.B) {
		b.ReportAllocs()
		in := Input{"photos/2024/holiday snap.jpg"}
		for i := 0; i < b.N; i++ {
			s.Expand(in, i, 1)
		}
	})
	s = mustSpecB(b, "echo", "{1}", "{3}")
	s.Colsep = ","
	b.Run("colsep/template", func(b *testing.B) {
		b.ReportAllocs()
		in := Input{"a,b,c,d"}
		for i := 0; i < b.N; i++ {
			s.Expand(in, i, 1)
		}
	})
}

func mustSpecB(b *testing.B, args ...string) Spec {
	s, err := NewSpec(args)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// Any argument parses, and a Spec NewSpec accepts expands without panicking,
// whatever the input.
func FuzzPlaceholders(f *testing.F) {
	for _, seed := range []string{"echo {} {.}", "{1/.}{#}{%}{index}", "{= x =}", "${x:-{}}", "'{}'", `\{}`, "{{}}", "{1..3}", "{", "}{", "{2=", "{0}"} {
		f.Add(seed, "a/b.c", ",")
	}
	f.Fuzz(func(t *testing.T, arg, input, sep string) {
		for _, args := range [][]string{{arg}, {"echo", arg}, {"echo", arg, "|", "cat"}} {
			s, err := NewSpec(args)
			if err != nil {
				continue
			}
			s.Expand(Input{input, input}, 3, 2)
			s.Colsep = sep
			if s.Validate() == nil {
				s.Expand(Input{input}, 0, 1)
			}
		}
	})
}

// A command run on an Input of several values gets them by {N} and all of
// them, joined, as $MAPTASK_INPUT.
func TestRunSeveralSources(t *testing.T) {
	spec := Spec{Args: []string{"sh", "-c", `echo "[$MAPTASK_INPUT][$1][$2][$#]"; exit 3`, "sh", "{2}", "{1/}"}, Sources: 2}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), spec, Input{"d/a b", "c"})
	if err == nil || !strings.HasSuffix(err.Error(), ": [d/a b c][c][a b][2]") {
		t.Fatalf("command saw %v", err)
	}
}
