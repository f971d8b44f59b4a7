// Package logbuf keeps the first bytes of an attempt's output, and counts the
// rest, so that a chatty task cannot fill the store or the driver's memory.
package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// DefaultLimit is the output kept per attempt unless told otherwise.
const DefaultLimit = 1 << 20

// Buffer keeps the first limit bytes written to it. It is safe for concurrent
// use. The zero value keeps DefaultLimit bytes.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	limit   int
	dropped int
}

// New returns a Buffer keeping at most limit bytes (DefaultLimit when limit <= 0).
func New(limit int) *Buffer {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Buffer{limit: limit}
}

// Write keeps what fits and drops the rest; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	room := limit - b.buf.Len()
	if room >= len(p) {
		return b.buf.Write(p)
	}
	if room > 0 {
		b.buf.Write(p[:room])
	}
	b.dropped += len(p) - max(room, 0)
	return len(p), nil
}

// Len returns the bytes written so far, dropped ones included.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len() + b.dropped
}

// Bytes returns what was kept, followed by a note of what was dropped.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped == 0 {
		return bytes.Clone(b.buf.Bytes())
	}
	return fmt.Appendf(bytes.Clone(b.buf.Bytes()), "\n[maptask: %d more bytes of output dropped]\n", b.dropped)
}

// LastLine returns the last non-empty line of out, cut to 300 bytes: what an
// error message quotes of a failed program's output.
func LastLine(out []byte) string {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
