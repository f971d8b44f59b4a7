package main

import (
	"bytes"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// console is maptask's own standard output and standard error, shared by the
// commands' output and the progress bar: a bar line on the screen is erased
// before output is written and drawn again after it, so no output line is
// ever glued to a bar, and every write of output is whole.
type console struct {
	mu     sync.Mutex
	out    io.Writer // maptask's standard output
	err    io.Writer // maptask's standard error, where the bar is drawn
	shared bool      // out and err are both terminals: one screen
	bar    []byte    // the last drawing of the bar while one is on the screen
	errFd  uintptr   // err's file descriptor when it is a terminal (for its width)
	errTTY bool
}

func newConsole(out, errw io.Writer) *console {
	c := &console{out: out, err: errw}
	outTTY := isTerminal(out)
	if f, ok := errw.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.errTTY, c.errFd = true, f.Fd()
	}
	c.shared = outTTY && c.errTTY
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// barWriter is the writer the progress display draws on: standard error, with
// the bar remembered so output can be written around it.
func (c *console) barWriter() io.Writer { return barWriter{c} }

type barWriter struct{ c *console }

func (b barWriter) Write(p []byte) (int, error) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		c.bar = append(c.bar[:0], p[i+1:]...) // a line ended: what follows is the bar
	} else {
		c.bar = append(c.bar[:0], p...) // a redraw: \r and the whole line
	}
	return c.err.Write(p)
}

// Fd lets the progress display ask the terminal's width.
func (b barWriter) Fd() uintptr { return b.c.errFd }

// write writes whole pieces of output (to standard output, or to standard
// error when toErr) with the bar, if any, erased first and drawn again after.
func (c *console) write(toErr bool, pieces ...[]byte) {
	readers := make([]io.Reader, len(pieces))
	for i, p := range pieces {
		readers[i] = bytes.NewReader(p)
	}
	c.writeFrom(toErr, "", io.MultiReader(readers...))
}

// writeFrom copies r to standard output (or standard error) as one piece of
// output, each line after prefix when there is one.
func (c *console) writeFrom(toErr bool, prefix string, r io.Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.out
	if toErr {
		w = c.err
	}
	onScreen := len(c.bar) > 0 && (toErr || c.shared)
	if onScreen {
		_, _ = io.WriteString(c.err, "\r\x1b[K")
	}
	last := byte('\n')
	buf := make([]byte, 64<<10)
	tg := tagger{prefix: prefix}
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if prefix != "" {
				chunk = tg.tag(chunk)
			}
			_, _ = w.Write(chunk)
			last = chunk[len(chunk)-1]
		}
		if err != nil {
			break
		}
	}
	if onScreen {
		if last != '\n' {
			_, _ = io.WriteString(w, "\n") // the bar goes below the output, never after it
		}
		_, _ = c.err.Write(c.bar)
	}
}
