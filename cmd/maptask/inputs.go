package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/maptask/maptask/command"
)

// Separators between the command and its input sources, as in GNU parallel.
const (
	sepArgs       = ":::"   // values follow, up to the next separator
	sepArgsLinked = ":::+"  // values linked element-wise to the source before
	sepFiles      = "::::"  // files follow, each a source of one input per line ("-": standard input)
	sepFileLinked = "::::+" // files linked element-wise to the source before
)

func isSeparator(a string) bool {
	return a == sepArgs || a == sepArgsLinked || a == sepFiles || a == sepFileLinked
}

// maxProduct bounds the inputs that several sources make together: a
// cartesian product grows fast, and every input is held in memory and in the
// store. One source (or linked ones) is not bounded: it is already in memory.
var maxProduct = 10_000_000

// inputSource is one source of values: a ::: list, a file or standard input.
type inputSource struct {
	name   string // for messages: "':::' source 2", "--input-file a.txt", "':::: b.txt'"
	values []string
	linked bool // :::+ or ::::+: linked element-wise to the source before
}

// parseSources splits the arguments of `maptask run` into the command (argv:
// everything before the first separator) and its inputs, as GNU parallel does:
//
//	::: V...      a source of values, up to the next separator
//	:::+ V...     a source linked element-wise to the one before (same length)
//	:::: FILE...  each file a source of one input per line ("-" for stdin)
//	::::+ FILE... files linked element-wise to the source before
//
// Files given by --input-file (inputFiles) are sources too, before those of
// the arguments. Several sources make the cartesian product, the last source
// varying fastest (::: a b ::: 1 2 gives a 1, a 2, b 1, b 2); linked sources
// make one source of their values side by side. Each input holds one value
// per source, and sources is how many.
//
// Without any source, the inputs are standard input's lines when it is not a
// terminal. A file holds one input per line: a final newline does not make an
// empty input, a "\r" before a newline is dropped, a NUL byte is refused.
//
// Every error is a usage error: nothing is read from a file given after one
// that failed.
func parseSources(args []string, inputFiles []string, stdin io.Reader, stdinIsTerminal bool) (argv []string, inputs []command.Input, sources int, err error) {
	first := len(args)
	for i, a := range args {
		if isSeparator(a) {
			first = i
			break
		}
	}
	argv = args[:first]
	if len(argv) == 0 {
		return nil, nil, 0, errors.New("maptask: no command given: maptask run [flags] -- COMMAND [ARG...] [::: INPUT...]")
	}

	var srcs []inputSource
	stdinUsedBy := ""
	readFile := func(label, name string, linked bool) error {
		display := label + " " + name
		if isSeparator(label) {
			display = "'" + display + "'"
		}
		var r io.Reader
		if name == "-" {
			display += " (standard input)"
			if stdinUsedBy != "" {
				return fmt.Errorf("maptask: %s: standard input is already a source (%s): it can be read once", display, stdinUsedBy)
			}
			stdinUsedBy = display
			r = stdin
		} else {
			fh, err := os.Open(name)
			if err != nil {
				return &localFileError{fmt.Errorf("maptask: %s: %w", display, err)}
			}
			defer fh.Close()
			r = fh
		}
		values, err := readLines(r, display)
		if err != nil {
			return err
		}
		srcs = append(srcs, inputSource{name: display, values: values, linked: linked})
		return nil
	}

	for _, name := range inputFiles {
		if err := readFile("--input-file", name, false); err != nil {
			return nil, nil, 0, err
		}
	}
	for i := first; i < len(args); {
		sep := args[i]
		j := i + 1
		for j < len(args) && !isSeparator(args[j]) {
			j++
		}
		operands := args[i+1 : j]
		switch sep {
		case sepArgs, sepArgsLinked:
			if len(operands) == 0 {
				return nil, nil, 0, fmt.Errorf("maptask: no inputs after '%s' (source %d)", sep, len(srcs)+1)
			}
			srcs = append(srcs, inputSource{name: fmt.Sprintf("'%s' (source %d)", sep, len(srcs)+1), values: operands, linked: sep == sepArgsLinked})
		case sepFiles, sepFileLinked:
			if len(operands) == 0 {
				return nil, nil, 0, fmt.Errorf("maptask: no file after '%s': give one or more files, or - for standard input", sep)
			}
			for _, name := range operands {
				if err := readFile(sep, name, sep == sepFileLinked); err != nil {
					return nil, nil, 0, err
				}
			}
		}
		i = j
	}
	if len(srcs) == 0 {
		if stdinIsTerminal {
			return nil, nil, 0, errors.New("maptask: no inputs: give them after ':::' (maptask run -- echo {} ::: a b c), " +
				"from files after '::::' or with --input-file FILE, or one per line on standard input (seq 10 | maptask run -- echo)")
		}
		values, err := readLines(stdin, "standard input")
		if err != nil {
			return nil, nil, 0, err
		}
		srcs = append(srcs, inputSource{name: "standard input", values: values})
	}

	// Linked sources make one group, whose values are side by side.
	var groups [][]inputSource
	for _, s := range srcs {
		if !s.linked {
			groups = append(groups, []inputSource{s})
			continue
		}
		if len(groups) == 0 {
			return nil, nil, 0, fmt.Errorf("maptask: %s links to the source before it, but there is none", s.name)
		}
		g := groups[len(groups)-1]
		if prev := g[len(g)-1]; len(s.values) != len(prev.values) {
			return nil, nil, 0, fmt.Errorf("maptask: %s has %d inputs but %s, to which it is linked, has %d: linked sources must have as many inputs",
				s.name, len(s.values), prev.name, len(prev.values))
		}
		groups[len(groups)-1] = append(g, s)
	}

	total := 1
	for _, g := range groups {
		n := len(g[0].values)
		if len(groups) > 1 && total > maxProduct/n { // one source is as long as it is
			return nil, nil, 0, fmt.Errorf("maptask: the %d input sources make more than %d inputs together (%s)", len(srcs), maxProduct, describeSizes(groups))
		}
		total *= n
	}

	// The cartesian product, the last group varying fastest: input k's
	// position in group g is (k / stride[g]) % len(g).
	sources = len(srcs)
	inputs = make([]command.Input, total)
	values := make([]string, total*sources) // one backing array for all inputs
	pos := make([]int, len(groups))
	for k := range inputs {
		in := values[k*sources : k*sources : (k+1)*sources]
		rest := k
		for g := len(groups) - 1; g >= 0; g-- {
			n := len(groups[g][0].values)
			pos[g] = rest % n
			rest /= n
		}
		for g, group := range groups {
			for _, s := range group {
				in = append(in, s.values[pos[g]])
			}
		}
		inputs[k] = command.Input(in)
	}
	return argv, inputs, sources, nil
}

// describeSizes says how many inputs each source gives: "1000 × 1000 × 3".
func describeSizes(groups [][]inputSource) string {
	sizes := make([]string, len(groups))
	for i, g := range groups {
		sizes[i] = fmt.Sprint(len(g[0].values))
	}
	return strings.Join(sizes, " × ")
}

// maxLine bounds a line of an input file.
const maxLine = 16 << 20

// readLines reads one input per line. Empty lines are inputs too, except
// after a final newline; "\r\n" ends a line as "\n" does. A NUL byte is
// refused: commands cannot take it as an argument. name says where the lines
// come from, in errors.
func readLines(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var lines []string
	line := 1
	for ; sc.Scan(); line++ {
		if bytes.IndexByte(sc.Bytes(), 0) >= 0 {
			return nil, fmt.Errorf("maptask: %s line %d holds a NUL byte: inputs are passed as arguments and cannot contain one", name, line)
		}
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("maptask: %s line %d is longer than %d MiB", name, line, maxLine>>20)
		}
		return nil, fmt.Errorf("maptask: %s: %w", name, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("maptask: %s holds no inputs", name)
	}
	return lines, nil
}
