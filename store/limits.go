package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"gocloud.dev/gcerrors"
)

// Limits on what one stored object may hold. A reader checks an object's size
// before it allocates for it, so a crafted or damaged store cannot make it
// crash or take memory it should not: a larger object is an error wrapping
// ErrCorrupt that names it. Writers refuse what readers would refuse.
const (
	MaxSpecSize    = 1 << 20   // an execution's spec.json
	MaxVerdictSize = 1 << 20   // an execution's verdict.json
	MaxBoundSize   = 256 << 20 // an execution's encoded bound value
	MaxOutputSize  = 64 << 20  // one encoded output: a cache entry, or the output of a journal record
	MaxLogSize     = 64 << 20  // the kept log of one attempt
	// MaxRecordSize bounds one journal line: a record whose output is
	// MaxOutputSize bytes (base64 in the line), with room for its error
	// message. Journal objects are read line by line, never whole.
	MaxRecordSize = MaxOutputSize/3*4 + 8<<20
)

// recordLimit is MaxRecordSize, lowered by tests.
var recordLimit = MaxRecordSize

// maxErrLen bounds the error message a verdict keeps, so that it stays below
// MaxVerdictSize whatever its characters.
const maxErrLen = 64 << 10

// tooLarge is the error for an object over its limit.
func tooLarge(key, what string, size, limit int64) error {
	return fmt.Errorf("store: %s: %w: %d bytes, more than the %d %s may have", key, ErrCorrupt, size, limit, what)
}

// readCapped returns a whole object holding at most limit bytes of payload
// (what names its kind in the error when it is larger) after header bytes of
// its own (a MAC); a missing one is an error wrapping ErrNotFound.
func (s *Store) readCapped(ctx context.Context, key, what string, limit, header int64) ([]byte, error) {
	if s.local != nil {
		if err := ctx.Err(); err != nil {
			return nil, wrap("reading", key, err)
		}
		data, size, err := s.local.readSmall(key, limit+header)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, s.notFound(key)
		case err != nil:
			return nil, wrap("reading", key, err)
		case data == nil:
			return nil, tooLarge(key, what, size, limit)
		}
		return data, nil
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, s.notFound(key)
	}
	if err != nil {
		return nil, wrap("reading", key, err)
	}
	defer r.Close()
	if size := r.Size(); size > limit+header {
		return nil, tooLarge(key, what, size, limit)
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+header+1))
	if err != nil {
		return nil, wrap("reading", key, err)
	}
	if int64(len(data)) > limit+header { // it grew since its size was read
		return nil, tooLarge(key, what, int64(len(data)), limit)
	}
	return data, nil
}

// readLines calls line for every line of the object key (without its end of
// line, numbered from 1; terminated is false for a last line without its
// newline), reading it as a stream: a line longer than MaxRecordSize is an
// error wrapping ErrCorrupt that names the object and line.
func (s *Store) readLines(ctx context.Context, key string, line func(no int, text []byte, terminated bool) error) error {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return s.notFound(key)
	}
	if err != nil {
		return wrap("reading", key, err)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(64<<10, int64(recordLimit)+1, r.Size()+1)), recordLimit+1)
	terminated := true
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		advance, token, err := bufio.ScanLines(data, atEOF)
		if atEOF && token != nil && advance == len(data) && (len(data) == 0 || data[len(data)-1] != '\n') {
			terminated = false
		}
		return advance, token, err
	})
	no := 0
	for sc.Scan() {
		no++
		if err := line(no, sc.Bytes(), terminated); err != nil {
			return err
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Errorf("store: %s line %d: %w: longer than the %d bytes a journal record may have", key, no+1, ErrCorrupt, recordLimit)
	case err != nil:
		return wrap("reading", key, err)
	}
	return nil
}
