package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/maptask/maptask/command"
)

// unreadable is a standard input that must not be read.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("standard input was read")
	return 0, io.EOF
}

func TestParseSources(t *testing.T) {
	files := map[string]string{
		"abc":     "a\nb\nc\n",
		"12":      "1\n2\n",
		"xy":      "x\ny",              // no final newline
		"crlf":    "p\r\nq\r\n",        // \r\n lines
		"blank":   "a\n\nb\n",          // an empty line is an input
		"nl":      "\n",                // one empty input
		"empty":   "",                  // no input at all
		"nul":     "ok\nbad\x00line\n", // a NUL byte on line 2
		"spaces":  "  a b  \nc\td\n",   // kept as they are
		"trailcr": "only\r",            // a lone final \r is dropped too
		"dash":    "-\n:::\n",          // lines are never separators
	}
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// "@name" in args and input files is the file written above.
	path := func(list []string) []string {
		out := make([]string, len(list))
		for i, a := range list {
			if strings.HasPrefix(a, "@") {
				a = filepath.Join(dir, a[1:])
			}
			out[i] = a
		}
		return out
	}
	const terminal = "<terminal>"
	for _, c := range []struct {
		name       string
		args       []string
		inputFiles []string
		stdin      string // terminal: a terminal; "" with noStdin: must not be read
		noStdin    bool
		argv       []string
		inputs     [][]string
		sources    int
		err        string // in the error; "" for none
	}{
		{name: "one source", args: []string{"echo", "{}", ":::", "a", "b", "c"}, noStdin: true,
			argv: []string{"echo", "{}"}, inputs: [][]string{{"a"}, {"b"}, {"c"}}, sources: 1},
		{name: "empty and odd values", args: []string{"echo", ":::", "", " x ", "{}"}, noStdin: true,
			argv: []string{"echo"}, inputs: [][]string{{""}, {" x "}, {"{}"}}, sources: 1},
		{name: "cartesian product, last varies fastest", args: []string{"echo", ":::", "a", "b", ":::", "1", "2"}, noStdin: true,
			argv: []string{"echo"}, inputs: [][]string{{"a", "1"}, {"a", "2"}, {"b", "1"}, {"b", "2"}}, sources: 2},
		{name: "three sources", args: []string{"echo", ":::", "a", "b", ":::", "1", "2", "3", ":::", "x"}, noStdin: true,
			argv:   []string{"echo"},
			inputs: [][]string{{"a", "1", "x"}, {"a", "2", "x"}, {"a", "3", "x"}, {"b", "1", "x"}, {"b", "2", "x"}, {"b", "3", "x"}}, sources: 3},
		{name: "linked", args: []string{"echo", ":::", "a", "b", ":::+", "1", "2"}, noStdin: true,
			argv: []string{"echo"}, inputs: [][]string{{"a", "1"}, {"b", "2"}}, sources: 2},
		{name: "linked three, then a product", args: []string{"cmd", ":::", "a", "b", ":::+", "1", "2", ":::+", "p", "q", ":::", "x", "y"}, noStdin: true,
			argv:   []string{"cmd"},
			inputs: [][]string{{"a", "1", "p", "x"}, {"a", "1", "p", "y"}, {"b", "2", "q", "x"}, {"b", "2", "q", "y"}}, sources: 4},
		{name: "product then linked", args: []string{"cmd", ":::", "x", "y", ":::", "a", "b", ":::+", "1", "2"}, noStdin: true,
			argv:   []string{"cmd"},
			inputs: [][]string{{"x", "a", "1"}, {"x", "b", "2"}, {"y", "a", "1"}, {"y", "b", "2"}}, sources: 3},
		{name: "linked lengths differ", args: []string{"echo", ":::", "a", "b", ":::+", "1", "2", "3"}, noStdin: true,
			err: "':::+' (source 2) has 3 inputs but ':::' (source 1), to which it is linked, has 2"},
		{name: "linked to nothing", args: []string{"echo", ":::+", "a"}, noStdin: true,
			err: "':::+' (source 1) links to the source before it, but there is none"},
		{name: "file source", args: []string{"wc", "::::", "@abc"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"a"}, {"b"}, {"c"}}, sources: 1},
		{name: "each file after :::: is a source", args: []string{"wc", "::::", "@12", "@xy"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"1", "x"}, {"1", "y"}, {"2", "x"}, {"2", "y"}}, sources: 2},
		{name: "linked file", args: []string{"wc", "::::", "@12", "::::+", "@xy"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"1", "x"}, {"2", "y"}}, sources: 2},
		{name: "linked file of another length", args: []string{"wc", "::::", "@abc", "::::+", "@xy"}, noStdin: true,
			err: "has 2 inputs but ':::: " + filepath.Join(dir, "abc") + "', to which it is linked, has 3"},
		{name: "args linked to a file", args: []string{"wc", "::::", "@12", ":::+", "one", "two"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"1", "one"}, {"2", "two"}}, sources: 2},
		{name: "file and args", args: []string{"wc", ":::", "k", "::::", "@12"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"k", "1"}, {"k", "2"}}, sources: 2},
		{name: "stdin as a :::: file", args: []string{"wc", "::::", "-", ":::", "z"}, stdin: "s1\ns2\n",
			argv: []string{"wc"}, inputs: [][]string{{"s1", "z"}, {"s2", "z"}}, sources: 2},
		{name: "input files come first", args: []string{"wc", ":::", "x", "y"}, inputFiles: []string{"@12"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"1", "x"}, {"1", "y"}, {"2", "x"}, {"2", "y"}}, sources: 2},
		{name: "several input files", args: []string{"wc"}, inputFiles: []string{"@12", "@xy"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"1", "x"}, {"1", "y"}, {"2", "x"}, {"2", "y"}}, sources: 2},
		{name: "input file from stdin", args: []string{"wc"}, inputFiles: []string{"-"}, stdin: "a\nb\n",
			argv: []string{"wc"}, inputs: [][]string{{"a"}, {"b"}}, sources: 1},
		{name: "input file from stdin, even a terminal", args: []string{"wc"}, inputFiles: []string{"-"}, stdin: terminal,
			argv: []string{"wc"}, inputs: [][]string{{"typed"}}, sources: 1},
		{name: "input file linked to by :::+", args: []string{"wc", ":::+", "x", "y"}, inputFiles: []string{"@12"}, noStdin: true,
			argv: []string{"wc"}, inputs: [][]string{{"1", "x"}, {"2", "y"}}, sources: 2},
		{name: "stdin twice", args: []string{"wc", "::::", "-"}, inputFiles: []string{"-"}, stdin: "a\n",
			err: "':::: -' (standard input): standard input is already a source (--input-file - (standard input))"},
		{name: "stdin when no source", args: []string{"echo", "{}"}, stdin: "1\n2\n3\n",
			argv: []string{"echo", "{}"}, inputs: [][]string{{"1"}, {"2"}, {"3"}}, sources: 1},
		{name: "stdin a terminal and no source", args: []string{"echo"}, stdin: terminal,
			err: "no inputs: give them after ':::'"},
		{name: "stdin empty", args: []string{"echo"}, stdin: "",
			err: "standard input holds no inputs"},
		{name: "stdin ignored given :::", args: []string{"echo", ":::", "a"}, noStdin: true,
			argv: []string{"echo"}, inputs: [][]string{{"a"}}, sources: 1},
		{name: "stdin with a NUL", args: []string{"echo"}, stdin: "a\x00",
			err: "standard input line 1 holds a NUL byte"},
		{name: "no final newline", args: []string{"c", "::::", "@xy"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{"x"}, {"y"}}, sources: 1},
		{name: "crlf", args: []string{"c", "::::", "@crlf"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{"p"}, {"q"}}, sources: 1},
		{name: "lone final cr", args: []string{"c", "::::", "@trailcr"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{"only"}}, sources: 1},
		{name: "blank line", args: []string{"c", "::::", "@blank"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{"a"}, {""}, {"b"}}, sources: 1},
		{name: "one newline is one empty input", args: []string{"c", "::::", "@nl"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{""}}, sources: 1},
		{name: "white space kept", args: []string{"c", "::::", "@spaces"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{"  a b  "}, {"c\td"}}, sources: 1},
		{name: "lines are never separators", args: []string{"c", "::::", "@dash"}, noStdin: true,
			argv: []string{"c"}, inputs: [][]string{{"-"}, {":::"}}, sources: 1},
		{name: "empty file", args: []string{"c", "::::", "@empty"}, noStdin: true,
			err: "':::: " + filepath.Join(dir, "empty") + "' holds no inputs"},
		{name: "empty input file", args: []string{"c"}, inputFiles: []string{"@empty"}, noStdin: true,
			err: "--input-file " + filepath.Join(dir, "empty") + " holds no inputs"},
		{name: "NUL in a file", args: []string{"c", "::::", "@nul"}, noStdin: true,
			err: "':::: " + filepath.Join(dir, "nul") + "' line 2 holds a NUL byte"},
		{name: "NUL in an input file", args: []string{"c"}, inputFiles: []string{"@nul"}, noStdin: true,
			err: "--input-file " + filepath.Join(dir, "nul") + " line 2 holds a NUL byte"},
		{name: "missing file", args: []string{"c", "::::", "@missing"}, noStdin: true,
			err: "':::: " + filepath.Join(dir, "missing") + "': open " + filepath.Join(dir, "missing") + ": no such file"},
		{name: "missing input file", args: []string{"c"}, inputFiles: []string{"@missing"}, noStdin: true,
			err: "--input-file " + filepath.Join(dir, "missing") + ": open " + filepath.Join(dir, "missing") + ": no such file"},
		{name: "nothing after :::", args: []string{"echo", ":::"}, noStdin: true,
			err: "no inputs after ':::' (source 1)"},
		{name: "nothing after a second :::", args: []string{"echo", ":::", "a", ":::"}, noStdin: true,
			err: "no inputs after ':::' (source 2)"},
		{name: "nothing between separators", args: []string{"echo", ":::", ":::", "a"}, noStdin: true,
			err: "no inputs after ':::' (source 1)"},
		{name: "nothing after :::+", args: []string{"echo", ":::", "a", ":::+"}, noStdin: true,
			err: "no inputs after ':::+' (source 2)"},
		{name: "nothing after ::::", args: []string{"echo", "::::"}, noStdin: true,
			err: "no file after '::::'"},
		{name: "nothing after ::::+", args: []string{"echo", ":::", "a", "::::+", ":::", "b"}, noStdin: true,
			err: "no file after '::::+'"},
		{name: "no command", args: []string{":::", "a"}, noStdin: true,
			err: "no command given"},
		{name: "no arguments at all", args: nil, noStdin: true,
			err: "no command given"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdin io.Reader = strings.NewReader(c.stdin)
			isTerminal := c.stdin == terminal
			if isTerminal {
				stdin = strings.NewReader("typed\n")
			}
			if c.noStdin {
				stdin = unreadable{t}
			}
			argv, inputs, sources, err := parseSources(path(c.args), path(c.inputFiles), stdin, isTerminal)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				if !strings.HasPrefix(err.Error(), "maptask: ") {
					t.Errorf("error %q does not start with maptask:", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := make([]command.Input, len(c.inputs))
			for i, in := range c.inputs {
				want[i] = command.Input(in)
			}
			if !reflect.DeepEqual(argv, c.argv) || !reflect.DeepEqual(inputs, want) || sources != c.sources {
				t.Errorf("got argv %q inputs %q sources %d\nwant argv %q inputs %q sources %d", argv, inputs, sources, c.argv, want, c.sources)
			}
		})
	}
}

// The product of several sources is bounded (one source is not), and an
// input's values are its own: appending to one does not change the next.
func TestParseSourcesProduct(t *testing.T) {
	old := maxProduct
	maxProduct = 100
	defer func() { maxProduct = old }()
	args := []string{"echo", ":::"}
	for i := 0; i < 11; i++ {
		args = append(args, "v")
	}
	_, _, _, err := parseSources(append(append([]string{}, args...), append([]string{":::"}, args[2:]...)...), nil, nil, true)
	if err == nil || !strings.Contains(err.Error(), "more than 100 inputs together (11 × 11)") {
		t.Fatalf("error %v", err)
	}
	if _, inputs, _, err := parseSources(args, nil, nil, true); err != nil || len(inputs) != 11 {
		t.Fatalf("one source of 11 with a bound of 100: %d inputs, %v", len(inputs), err)
	}
	maxProduct = 10
	if _, inputs, _, err := parseSources(append(args, ":::+", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"), nil, nil, true); err != nil || len(inputs) != 11 {
		t.Fatalf("linked sources of 11 with a bound of 10: %d inputs, %v", len(inputs), err)
	}
	_, inputs, _, err := parseSources([]string{"echo", ":::", "a", "b", ":::", "1", "2"}, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(inputs[0], "extra")
	if inputs[1][0] != "a" || inputs[1][1] != "2" || len(inputs[1]) != 2 {
		t.Fatalf("inputs[1] = %q after appending to inputs[0]", inputs[1])
	}
}

// A read error of standard input names it.
func TestParseSourcesReadError(t *testing.T) {
	_, _, _, err := parseSources([]string{"echo"}, nil, io.MultiReader(strings.NewReader("a\n"), errReader{}), false)
	if err == nil || !strings.Contains(err.Error(), "standard input: broken pipe") {
		t.Fatalf("error %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }
