package main

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/maptask/maptask/command"
)

// printable makes text from the store safe to show on a terminal: control
// characters (escape sequences among them) are shown quoted, as \x1b, never
// sent to the terminal. The store is written by commands and workers, so its
// text is not trusted.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			q := strconv.QuoteRune(r) // '\x1b', '\n', '\ufffd'
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// describeCommand shows the command an execution runs, as a person can check
// it before it runs: each argument quoted (control characters escaped), or the
// script given to sh -c.
func describeCommand(s command.Spec) string {
	var text string
	if s.Shell {
		text = "sh -c " + strconv.Quote(strings.Join(s.Args, " "))
	} else {
		words := make([]string, len(s.Args))
		for i, a := range s.Args {
			words[i] = strconv.Quote(a)
		}
		text = strings.Join(words, " ")
	}
	if len(s.Env) > 0 {
		text += " (passing " + printable(strings.Join(s.Env, ", ")) + ")"
	}
	return text
}
