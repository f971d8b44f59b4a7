package command

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Placeholders are parsed once per command (a template of literal text and
// placeholders per argument), so that expanding a command for an element is a
// walk over its segments.

// kind is what a placeholder stands for.
type kind uint8

const (
	literal  kind = iota // text
	value                // the input ({}) or one of its sources or columns ({N}), with a modifier
	jobNum               // {#}: index+1
	slotNum              // {%}: the job slot
	indexNum             // {index}: the 0-based index
)

// modifier is how a value placeholder transforms the value, as in GNU parallel.
type modifier uint8

const (
	whole     modifier = iota // {}   {N}
	noExt                     // {.}  {N.}   without its extension
	base                      // {/}  {N/}   basename
	dir                       // {//} {N//}  dirname
	baseNoExt                 // {/.} {N/.}  basename without extension
	numModifiers
)

var modifierSuffix = [numModifiers]string{whole: "", noExt: ".", base: "/", dir: "//", baseNoExt: "/."}

// segment is a piece of an argument: literal text or a placeholder.
type segment struct {
	kind kind
	text string   // literal: the text; otherwise the placeholder as written
	col  int      // value: 0 for the whole input, N for {N}
	mod  modifier // value
}

// inputDerived reports whether the segment's expansion comes from the input
// (and so must be quoted for a shell): numbers need not be.
func (g segment) inputDerived() bool { return g.kind == value }

// candidate is a placeholder candidate found in an argument: s[start:end].
type candidate struct {
	start, end int
	perl       bool // a perl expression {=...=} or {N=...=}
}

// isPlaceholderChar reports whether c may appear in a placeholder candidate's
// content: 0-9 . / % # + - =
func isPlaceholderChar(c byte) bool {
	return c >= '0' && c <= '9' || strings.IndexByte("./%#+-=", c) >= 0
}

// candidates calls fn for every placeholder candidate in s, in order: "{"
// content "}" not preceded by "$", where content is empty, "index" or made
// only of 0-9 . / % # + - =; and perl expressions "{=" ... "=}" (also with a
// source number, "{2=" ... "=}").
func candidates(s string, fn func(candidate)) {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || i > 0 && s[i-1] == '$' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j < len(s) && s[j] == '=' {
			if k := strings.Index(s[j+1:], "=}"); k >= 0 {
				end := j + 1 + k + 2
				fn(candidate{start: i, end: end, perl: true})
				i = end - 1
				continue
			}
		}
		k := strings.IndexByte(s[i+1:], '}')
		if k < 0 {
			return // no closing brace after this one: none after any later one either
		}
		content := s[i+1 : i+1+k]
		ok := content == "index"
		if !ok {
			ok = true
			for c := 0; c < len(content); c++ {
				if !isPlaceholderChar(content[c]) {
					ok = false
					break
				}
			}
		}
		if ok {
			fn(candidate{start: i, end: i + 1 + k + 1})
			i += k + 1
		}
	}
}

// parsePlaceholder returns the segment a known placeholder stands for, or
// false. ph is the whole candidate, braces included.
func parsePlaceholder(ph string) (segment, bool) {
	content := ph[1 : len(ph)-1]
	g := segment{kind: value, text: ph}
	switch content {
	case "index":
		g.kind = indexNum
		return g, true
	case "#":
		g.kind = jobNum
		return g, true
	case "%":
		g.kind = slotNum
		return g, true
	}
	digits := 0
	for digits < len(content) && content[digits] >= '0' && content[digits] <= '9' {
		digits++
	}
	if digits > 0 {
		n, err := strconv.Atoi(content[:digits])
		if err != nil || n < 1 || content[0] == '0' {
			return segment{}, false
		}
		g.col = n
	}
	for m, suffix := range modifierSuffix {
		if content[digits:] == suffix {
			g.mod = modifier(m)
			return g, true
		}
	}
	return segment{}, false
}

// knownPlaceholders lists the placeholders maptask knows, for error messages.
const knownPlaceholders = "{} {.} {/} {//} {/.} {#} {%} {index} and {N} {N.} {N/} {N//} {N/.} for source or column N"

// parseArg returns the segments of one argument, or nil when it holds no
// placeholder. Unknown placeholders and perl expressions are returned apart.
func parseArg(arg string) (segs []segment, unknown, perl []string) {
	last := 0
	candidates(arg, func(c candidate) {
		ph := arg[c.start:c.end]
		if c.perl {
			perl = append(perl, ph)
			return
		}
		g, ok := parsePlaceholder(ph)
		if !ok {
			unknown = append(unknown, ph)
			return
		}
		if c.start > last {
			segs = append(segs, segment{kind: literal, text: arg[last:c.start]})
		}
		segs = append(segs, g)
		last = c.end
	})
	if segs != nil && last < len(arg) {
		segs = append(segs, segment{kind: literal, text: arg[last:]})
	}
	return segs, unknown, perl
}

// template is a command's arguments parsed once.
type template struct {
	args []string    // the Args it was parsed from
	segs [][]segment // per argument; nil for an argument without placeholders
	any  bool        // any known placeholder: the input is not appended
	maxN int         // the largest N of {N}
	err  error       // unknown placeholders or perl expressions
}

func parseTemplate(args []string) *template {
	t := &template{args: args, segs: make([][]segment, len(args))}
	var unknown, perl []string
	for i, a := range args {
		segs, u, p := parseArg(a)
		unknown, perl = append(unknown, u...), append(perl, p...)
		t.segs[i] = segs
		for _, g := range segs {
			if g.kind != literal {
				t.any = true
				t.maxN = max(t.maxN, g.col)
			}
		}
	}
	switch {
	case len(perl) > 0:
		t.err = fmt.Errorf("maptask: %s: perl expressions are not supported (placeholders: %s)", strings.Join(perl, " "), knownPlaceholders)
	case len(unknown) > 0:
		word := "placeholder"
		if len(unknown) > 1 {
			word += "s"
		}
		t.err = fmt.Errorf("maptask: unknown %s %s: known placeholders are %s", word, strings.Join(unknown, " "), knownPlaceholders)
	}
	return t
}

// matches reports whether t was parsed from args (the same slice: a Spec's
// Args are not changed in place once it is made).
func (t *template) matches(args []string) bool {
	return len(t.args) == len(args) && (len(args) == 0 || &t.args[0] == &args[0])
}

// template returns s's parsed arguments: the ones NewSpec or UnmarshalJSON
// made, or new ones for a Spec built by hand.
func (s Spec) template() *template {
	if t := s.tmpl; t != nil && t.matches(s.Args) {
		return t
	}
	return parseTemplate(s.Args)
}

// colsep is a compiled column separator.
type colsep struct {
	re      *regexp.Regexp
	literal string // the text it matches when it matches only that ("," or "\t")
}

func (c *colsep) split(v string) []string {
	if c.literal != "" {
		return strings.Split(v, c.literal)
	}
	return c.re.Split(v, -1)
}

// colseps caches compiled column separators: a map holds one or two.
var colseps sync.Map // string -> *colsep or error

func compileColsep(sep string) (*colsep, error) {
	if v, ok := colseps.Load(sep); ok {
		if c, ok := v.(*colsep); ok {
			return c, nil
		}
		return nil, v.(error)
	}
	re, err := regexp.Compile(sep)
	if err != nil {
		err = fmt.Errorf("maptask: --colsep %q: %w", sep, err)
		colseps.Store(sep, err)
		return nil, err
	}
	c := &colsep{re: re}
	if prefix, complete := re.LiteralPrefix(); complete {
		c.literal = prefix
	}
	colseps.Store(sep, c)
	return c, nil
}

// columns splits each value of in at sep and trims white space around each
// column, as GNU parallel's --colsep (which implies --trim rl) does.
func columns(in Input, sep string) []string {
	c, err := compileColsep(sep)
	if err != nil {
		return in // Validate refuses such a Spec; expand robustly all the same
	}
	if len(in) == 1 {
		cols := c.split(in[0])
		for i, col := range cols {
			cols[i] = strings.Trim(col, " \t\n\r\f\v")
		}
		return cols
	}
	var cols []string
	for _, v := range in {
		for _, col := range c.split(v) {
			cols = append(cols, strings.Trim(col, " \t\n\r\f\v"))
		}
	}
	return cols
}

// expandValue is a value placeholder's text.
func expandValue(g segment, in Input, cols []string) string {
	if g.col > 0 {
		if g.col > len(cols) {
			return ""
		}
		return modify(cols[g.col-1], g.mod)
	}
	if len(in) == 1 || g.mod == whole {
		return modify(in.String(), g.mod)
	}
	// {.} {/} ... with several sources: each value transformed, joined by
	// one space, as GNU parallel does.
	parts := make([]string, len(in))
	for i, v := range in {
		parts[i] = modify(v, g.mod)
	}
	return strings.Join(parts, " ")
}

func modify(v string, m modifier) string {
	switch m {
	case noExt:
		return removeExt(v)
	case base:
		return basename(v)
	case dir:
		return dirname(v)
	case baseNoExt:
		return removeExt(basename(v))
	}
	return v
}

// removeExt removes the extension, as GNU parallel's {.} (s:\.[^/.]+$::): a
// final "." followed by at least one character, none of them "/" or ".".
// "a.tar.gz" gives "a.tar", "dir.x/file" and "a." are unchanged.
func removeExt(v string) string {
	i := strings.LastIndexByte(v, '.')
	if i < 0 || i == len(v)-1 || strings.IndexByte(v[i+1:], '/') >= 0 {
		return v
	}
	return v[:i]
}

// basename is what follows the last "/", as GNU parallel's {/} (s:.*/::):
// "a/b/" gives "".
func basename(v string) string {
	return v[strings.LastIndexByte(v, '/')+1:]
}

// dirname is dirname(1), as GNU parallel's {//} (Perl's File::Basename
// dirname): "a" gives ".", "/a" gives "/", "a/b/" gives "a", "" gives ".".
func dirname(v string) string {
	if v == "" {
		return "."
	}
	t := strings.TrimRight(v, "/")
	if t == "" {
		return "/"
	}
	i := strings.LastIndexByte(t, '/')
	if i < 0 {
		return "."
	}
	if d := strings.TrimRight(t[:i], "/"); d != "" {
		return d
	}
	return "/"
}
