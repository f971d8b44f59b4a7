// Package logbuf keeps a bounded record of an attempt's output: its first
// bytes and its last ones, with an exact count of what was dropped between
// them, so that a chatty task can fill neither the store nor the driver's
// memory and the error a program prints at the end of a long output is kept.
package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// DefaultLimit is the output kept per attempt unless told otherwise.
const DefaultLimit = 1 << 20

// headShare is the part of the limit given to the first bytes; the rest keeps
// the last ones, where programs print why they failed.
const headShare = 4

// Buffer keeps the first and the last bytes written to it, limit in all. It is
// safe for concurrent use. The zero value keeps DefaultLimit bytes.
type Buffer struct {
	mu    sync.Mutex
	limit int
	head  []byte // the first bytes, up to limit/headShare
	tail  []byte // a ring of the last bytes once head is full
	start int    // where the oldest byte of a full tail ring is
	total int64  // every byte written
}

// New returns a Buffer keeping at most limit bytes (DefaultLimit when limit <= 0).
func New(limit int) *Buffer {
	return &Buffer{limit: limit}
}

func (b *Buffer) sizes() (head, tail int) {
	limit := b.limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	head = limit / headShare
	return head, limit - head
}

// Write keeps what fits in the head, then the newest bytes in the tail; it
// never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
	headMax, tailMax := b.sizes()
	if room := headMax - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 || tailMax == 0 {
		return n, nil
	}
	if len(p) >= tailMax { // only the newest tailMax bytes can survive
		b.tail = append(b.tail[:0], p[len(p)-tailMax:]...)
		b.start = 0
		return n, nil
	}
	if room := tailMax - len(b.tail); room > 0 { // the ring is still filling
		k := min(room, len(p))
		b.tail = append(b.tail, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 { // overwrite the oldest bytes
		k := copy(b.tail[b.start:], p)
		p = p[k:]
		b.start = (b.start + k) % len(b.tail)
	}
	return n, nil
}

// Len returns the bytes written so far, dropped ones included.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.total)
}

// Dropped returns how many bytes were written but not kept.
func (b *Buffer) Dropped() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total - int64(len(b.head)+len(b.tail))
}

// Bytes returns what was kept: the whole output when it fit, otherwise its
// first bytes, a line saying exactly how many bytes were dropped, and its last
// bytes.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]byte, 0, len(b.head)+len(b.tail)+64)
	out = append(out, b.head...)
	if dropped := b.total - int64(len(b.head)+len(b.tail)); dropped > 0 {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = fmt.Appendf(out, "[maptask: %d bytes of output dropped here]\n", dropped)
	}
	out = append(out, b.tail[b.start:]...)
	return append(out, b.tail[:b.start]...)
}

// LastLine returns the last non-empty line of out, cut to 300 bytes: what an
// error message quotes of a failed program's output.
func LastLine(out []byte) string {
	lines := LastLines(out, 1)
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// LastLines returns the last n non-empty lines of out, oldest first, each cut
// to 300 bytes.
func LastLines(out []byte, n int) []string {
	s := strings.TrimRight(string(bytes.TrimSpace(out)), "\n")
	var lines []string
	for len(lines) < n && s != "" {
		line := s
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			line, s = s[i+1:], s[:i]
		} else {
			s = ""
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) > 300 {
			line = line[:300] + "..."
		}
		lines = append(lines, line)
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines
}
