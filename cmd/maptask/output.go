package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/maptask/maptask/command"
	"github.com/maptask/maptask/store"
)

// outputMode is how commands' output reaches maptask's own.
type outputMode int

const (
	grouped    outputMode = iota // each input's output whole, as it finishes (GNU parallel's default)
	keepOrder                    // each input's output whole, in input order (-k)
	lineBuffer                   // lines as they come (--line-buffer)
	quiet                        // in the store only (--quiet)
)

// printer prints commands' output as GNU parallel users expect: grouped per
// input, never a line cut by another's. Commands that run in this process
// (the local backend) report their output as it comes, through the Watcher
// methods; the output of commands run by remote workers is read back from the
// store once their input is final.
type printer struct {
	mode   outputMode
	con    *console
	tag    func(i int) string // --tag: the prefix of input i's lines; nil without
	st     *store.Store       // for remote output
	id     string
	remote bool

	mu       sync.Mutex
	attempts map[int]*spools // grouped, keepOrder: the latest attempt of each running input
	next     int             // keepOrder: the first input not printed yet
	waiting  map[int]*spools // keepOrder: finished inputs waiting for an earlier one
	done     map[int]bool    // keepOrder: finished inputs with nothing to print
}

func newPrinter(mode outputMode, con *console, tag func(int) string, st *store.Store, id string, remote bool) *printer {
	return &printer{mode: mode, con: con, tag: tag, st: st, id: id, remote: remote,
		attempts: map[int]*spools{}, waiting: map[int]*spools{}, done: map[int]bool{}}
}

// spools hold one attempt's output until it is printed.
type spools struct{ out, err spool }

// Attempt implements command.Watcher.
func (p *printer) Attempt(index, attempt int) (io.WriteCloser, io.WriteCloser) {
	switch p.mode {
	case quiet:
		return nil, nil
	case lineBuffer:
		return &lineWriter{p: p, index: index}, &lineWriter{p: p, index: index, toErr: true}
	}
	s := &spools{}
	p.mu.Lock()
	if old := p.attempts[index]; old != nil {
		old.discard() // a retry: only the last attempt's output is printed
	}
	p.attempts[index] = s
	p.mu.Unlock()
	return &s.out, &s.err
}

// finished is called once input index is final (in the order inputs finish):
// it prints its output, or keeps it until the inputs before it are printed.
// cached inputs did not run now and print nothing.
func (p *printer) finished(ctx context.Context, index, attempt int, ranNow bool) {
	if p.mode == quiet {
		return
	}
	var s *spools
	if ranNow {
		s = p.collect(ctx, index, attempt)
	}
	if p.mode != keepOrder {
		if s != nil {
			p.print(index, s)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s != nil {
		p.waiting[index] = s
	} else {
		p.done[index] = true
	}
	for {
		if s, ok := p.waiting[p.next]; ok {
			delete(p.waiting, p.next)
			p.print(p.next, s)
		} else if !p.done[p.next] {
			return
		}
		delete(p.done, p.next)
		p.next++
	}
}

// end prints what keepOrder still holds, in input order: inputs after one
// that never ran.
func (p *printer) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.waiting) > 0 {
		if s, ok := p.waiting[p.next]; ok {
			delete(p.waiting, p.next)
			p.print(p.next, s)
		}
		p.next++
	}
	for _, s := range p.attempts {
		s.discard()
	}
}

// collect returns the output of input index's last attempt: from this
// process's spools, or from the store for a remote worker's.
func (p *printer) collect(ctx context.Context, index, attempt int) *spools {
	if !p.remote {
		p.mu.Lock()
		s := p.attempts[index]
		delete(p.attempts, index)
		p.mu.Unlock()
		return s // nil with --line-buffer: printed already
	}
	l, err := p.st.ReadAttemptLog(ctx, p.id, index, attempt)
	if err != nil {
		p.con.write(true, fmt.Appendf(nil, "maptask: the output of element %d: %v\n", index, err))
		return nil
	}
	s := &spools{}
	s.out.Write(l.Data)
	s.err.Write(l.Stderr)
	return s
}

// print writes one input's output: standard output, then standard error,
// each whole.
func (p *printer) print(index int, s *spools) {
	defer s.discard()
	prefix := ""
	if p.tag != nil {
		prefix = p.tag(index)
	}
	for _, st := range []struct {
		sp    *spool
		toErr bool
	}{{&s.out, false}, {&s.err, true}} {
		if st.sp.size() == 0 {
			continue
		}
		r, err := st.sp.reader()
		if err != nil {
			p.con.write(true, fmt.Appendf(nil, "maptask: the output of element %d: %v\n", index, err))
			continue
		}
		p.con.writeFrom(st.toErr, prefix, r)
	}
}

// lineWriter prints complete lines as a command writes them (--line-buffer).
type lineWriter struct {
	p       *printer
	index   int
	toErr   bool
	partial []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		lines := append(w.partial, b[:i+1]...)
		w.partial = append(w.partial[:0:0], b[i+1:]...)
		w.emit(lines)
	} else {
		w.partial = append(w.partial, b...)
	}
	return n, nil
}

func (w *lineWriter) emit(lines []byte) {
	if w.p.tag != nil {
		t := tagger{prefix: w.p.tag(w.index)}
		lines = t.tag(lines)
	}
	w.p.con.write(w.toErr, lines)
}

// Close prints a last line without its newline.
func (w *lineWriter) Close() error {
	if len(w.partial) > 0 {
		w.emit(append(w.partial, '\n'))
		w.partial = nil
	}
	return nil
}

// tagger prefixes every line of a stream (--tag), which may come in pieces
// cut anywhere.
type tagger struct {
	prefix  string
	midLine bool // the last piece ended inside a line
}

func (t *tagger) tag(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(t.prefix)*8)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		if !t.midLine {
			out = append(out, t.prefix...)
		}
		out = append(out, line...)
		t.midLine = line[len(line)-1] != '\n'
		b = b[len(line):]
	}
	return out
}

// spoolMemory is how much output a spool keeps in memory before it moves to
// a temporary file (as GNU parallel buffers output in $TMPDIR).
const spoolMemory = 1 << 20

// spool is one stream of one attempt's output, whole: in memory, then in an
// unlinked temporary file once large.
type spool struct {
	mu   sync.Mutex
	mem  []byte
	file *os.File
	n    int64
	err  error
}

func (s *spool) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += int64(len(b))
	if s.file == nil && len(s.mem)+len(b) <= spoolMemory {
		s.mem = append(s.mem, b...)
		return len(b), nil
	}
	if s.file == nil && s.err == nil {
		f, err := os.CreateTemp("", "maptask-output-*")
		if err != nil {
			s.err = err
		} else {
			_ = os.Remove(f.Name()) // private, and gone with the process
			s.file = f
			_, s.err = f.Write(s.mem)
			s.mem = nil
		}
	}
	if s.err != nil {
		return len(b), nil // the store keeps the head and tail; the error is said at print time
	}
	_, s.err = s.file.Write(b)
	return len(b), nil
}

func (s *spool) Close() error { return nil }

func (s *spool) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *spool) reader() (io.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, fmt.Errorf("buffering it in a temporary file: %w (the store keeps its beginning and end: maptask logs)", s.err)
	}
	if s.file == nil {
		return bytes.NewReader(s.mem), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.file, nil
}

func (s *spools) discard() {
	for _, sp := range []*spool{&s.out, &s.err} {
		sp.mu.Lock()
		if sp.file != nil {
			_ = sp.file.Close()
			sp.file = nil
		}
		sp.mem = nil
		sp.mu.Unlock()
	}
}

var _ command.Watcher = (*printer)(nil)
