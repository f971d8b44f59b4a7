package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// tailChunk bounds what JournalTail.Read reads of a journal object at once, so
// that a reader catching up on a large journal holds a bounded buffer.
var tailChunk int64 = 1 << 20 // lowered by tests

// JournalTail reads the journal of one execution incrementally, for a reader
// that follows a running map (the console): each Read lists the journal once
// and reads only the bytes written since the previous Read, from the offset
// it stopped at in each object (a local store's segments grow in place; a
// blob store's objects are written whole, and are read once).
//
// It never writes to the store: a corrupt journal object is reported (see
// TailReport.Corrupt) and not read further, but is left where it is (a
// driver's LoadRecordsReport puts it in quarantine). The records of an
// object read before its corrupt line were already delivered. An object
// that disappears after it was read (put in quarantine by a driver) is
// reported in TailReport.Vanished: the caller may start a new tail to forget
// its records.
//
// A JournalTail is not safe for concurrent use; BytesRead is.
type JournalTail struct {
	s      *Store
	spec   *Spec
	prefix string
	read   map[string]int64 // bytes of whole lines consumed, per object
	bad    map[string]bool  // objects found corrupt: not read again
	bytes  atomic.Int64
}

// TailReport says what one JournalTail.Read did.
type TailReport struct {
	Objects  int      // journal objects listed
	Read     int      // objects read from (those that had grown)
	Bytes    int64    // bytes read
	Records  int      // records delivered
	Corrupt  []error  // objects found corrupt in this Read (each wraps ErrCorrupt, naming the object and line)
	Vanished []string // objects read before and no longer listed
}

// TailJournal returns a reader of the journal of execution id (which must
// exist) positioned at its beginning: the first Read delivers every record
// written so far.
func (s *Store) TailJournal(ctx context.Context, id string) (*JournalTail, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return nil, err
	}
	return &JournalTail{s: s, spec: spec, prefix: journalPrefix(runPrefix(spec)), read: map[string]int64{}, bad: map[string]bool{}}, nil
}

// Spec returns the spec of the execution the tail reads, as it was when the
// tail was made (an execution deleted and created again has another).
func (t *JournalTail) Spec() *Spec { return t.spec }

// BytesRead returns the bytes the tail has read from the store so far (object
// contents; listings not counted).
func (t *JournalTail) BytesRead() int64 { return t.bytes.Load() }

// Read calls f on every record written to the journal since the previous
// Read, object by object (ordered by writer, then sequence number), lines in
// order. A last line without its newline is left for a later Read (a write in
// progress). It costs one listing of the journal, plus one ranged read of
// each object that has grown. The *Record passed to f is only valid during
// the call.
//
// Merge what it delivers as LoadRecordsReport does with Wins. An error
// reading the store (unreachable, cancelled) is returned, and the next Read
// resumes where this one stopped.
func (t *JournalTail) Read(ctx context.Context, f func(*Record)) (TailReport, error) {
	return t.ReadRefs(ctx, func(r *Record, _ RecordRef) { f(r) })
}

// RecordRef locates one line of an execution's journal, for ReadRecordAt.
type RecordRef struct {
	Key    string // the journal object
	Offset int64  // where the line starts
	Length int    // its length, without the newline
}

// ReadRefs is Read, also passing where each record's line is, so that a
// reader can keep the places of the records it cares about and read them
// again later with ReadRecordAt, a few bytes each, instead of the journal.
func (t *JournalTail) ReadRefs(ctx context.Context, f func(*Record, RecordRef)) (TailReport, error) {
	var rep TailReport
	count := func(r *Record, ref RecordRef) {
		rep.Records++
		f(r, ref)
	}
	type obj struct {
		key  string
		size int64
	}
	seen := map[string]bool{}
	var grown []obj
	it := t.s.bucket.List(&blob.ListOptions{Prefix: t.prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, wrap("listing", t.prefix+" in "+t.s.url, err)
		}
		if o.IsDir {
			continue
		}
		if _, _, ok := parseJournalKey(t.prefix, o.Key); !ok {
			continue
		}
		rep.Objects++
		seen[o.Key] = true
		if !t.bad[o.Key] && o.Size > t.read[o.Key] {
			grown = append(grown, obj{o.Key, o.Size})
		}
	}
	for key := range t.read {
		if !seen[key] {
			rep.Vanished = append(rep.Vanished, key)
			delete(t.read, key)
		}
	}
	// Listing order is key order; journalKeys' order (writer, then sequence
	// number) is the same, as sequence numbers have a fixed width. The first
	// chunk of tailReaders objects is read at once (a blob store holds one
	// small object per batch of records); records are delivered in order.
	for start := 0; start < len(grown); start += tailReaders {
		batch := grown[start:min(start+tailReaders, len(grown))]
		pre := make([]prefetched, len(batch))
		var wg sync.WaitGroup
		for k, o := range batch {
			off := t.read[o.key]
			wg.Go(func() { pre[k].buf, pre[k].err = t.fetch(ctx, o.key, off, o.size) })
		}
		wg.Wait()
		for k, o := range batch {
			err := t.readUpTo(ctx, o.key, o.size, count, &rep.Bytes, &pre[k])
			switch {
			case errors.Is(err, ErrNotFound): // gone since it was listed
				continue
			case isCorrupt(err):
				t.bad[o.key] = true
				rep.Corrupt = append(rep.Corrupt, err)
				continue
			case err != nil:
				return rep, err
			}
			rep.Read++
		}
	}
	return rep, nil
}

// tailReaders bounds the journal objects a JournalTail reads at once.
const tailReaders = 8

// prefetched is the first chunk of an object, read ahead.
type prefetched struct {
	buf []byte
	err error
}

// readUpTo reads key from where the tail stopped up to size, a chunk at a
// time (the first one from pre when it is not nil), adding the bytes read to
// *n.
func (t *JournalTail) readUpTo(ctx context.Context, key string, size int64, f func(*Record, RecordRef), n *int64, pre *prefetched) error {
	for {
		before := t.read[key]
		read, err := t.readObject(ctx, key, size, f, pre)
		pre = nil
		*n += read
		if err != nil {
			return err
		}
		if after := t.read[key]; after >= size || after == before { // caught up, or a line still being written
			return nil
		}
	}
}

// fetch reads key from off towards size, at most tailChunk bytes.
func (t *JournalTail) fetch(ctx context.Context, key string, off, size int64) ([]byte, error) {
	length := min(size-off, tailChunk)
	r, err := t.s.bucket.NewRangeReader(ctx, key, off, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, t.s.notFound(key)
	}
	if err != nil {
		return nil, wrap("reading", fmt.Sprintf("%s at %d", key, off), err)
	}
	defer r.Close()
	buf, err := io.ReadAll(r)
	t.bytes.Add(int64(len(buf)))
	if err != nil {
		return buf, wrap("reading", fmt.Sprintf("%s at %d", key, off), err)
	}
	return buf, nil
}

// readObject reads key from where the tail stopped towards size (at most
// tailChunk bytes; pre, when not nil, holds them already), calls f on each
// whole line's record and advances the offset past them. It returns the
// bytes read.
func (t *JournalTail) readObject(ctx context.Context, key string, size int64, f func(*Record, RecordRef), pre *prefetched) (int64, error) {
	off := t.read[key]
	var buf []byte
	var err error
	if pre != nil {
		buf, err = pre.buf, pre.err
	} else {
		buf, err = t.fetch(ctx, key, off, size)
	}
	if err != nil {
		return int64(len(buf)), err
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		if off+int64(len(buf)) >= size && int64(len(buf)) <= int64(recordLimit) {
			return int64(len(buf)), nil // a line being written: next time
		}
		if int64(len(buf)) > int64(recordLimit) {
			return int64(len(buf)), fmt.Errorf("store: %s at %d: %w: a line longer than the %d bytes a journal record may have", key, off, ErrCorrupt, recordLimit)
		}
		// A chunk cut inside a long line: read it whole next time.
		long, err := t.readLong(ctx, key, off, size, f)
		return int64(len(buf)) + long, err
	}
	lines := buf[:end+1]
	line := 0      // numbered within this read: the error names the offset too
	at := int64(0) // where the line starts in buf
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		ln := lines[:i]
		lines = lines[i+1:]
		line++
		rec, err := parseRecord(fmt.Sprintf("%s (from byte %d)", key, off), line, ln, t.spec.N)
		if err != nil {
			return int64(len(buf)), err
		}
		if rec != nil {
			f(rec, RecordRef{Key: key, Offset: off + at, Length: i})
		}
		at += int64(i + 1)
	}
	t.read[key] = off + int64(end+1)
	return int64(len(buf)), nil
}

// readLong reads one line longer than tailChunk starting at off (at most
// MaxRecordSize bytes), and advances past it.
func (t *JournalTail) readLong(ctx context.Context, key string, off, size int64, f func(*Record, RecordRef)) (int64, error) {
	length := min(size-off, int64(recordLimit)+1)
	r, err := t.s.bucket.NewRangeReader(ctx, key, off, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return 0, t.s.notFound(key)
	}
	if err != nil {
		return 0, wrap("reading", fmt.Sprintf("%s at %d", key, off), err)
	}
	defer r.Close()
	buf, err := io.ReadAll(r)
	n := int64(len(buf))
	t.bytes.Add(n)
	if err != nil {
		return n, wrap("reading", fmt.Sprintf("%s at %d", key, off), err)
	}
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if n > int64(recordLimit) {
			return n, fmt.Errorf("store: %s at %d: %w: a line longer than the %d bytes a journal record may have", key, off, ErrCorrupt, recordLimit)
		}
		return n, nil // still being written
	}
	rec, err := parseRecord(fmt.Sprintf("%s (from byte %d)", key, off), 1, buf[:i], t.spec.N)
	if err != nil {
		return n, err
	}
	if rec != nil {
		f(rec, RecordRef{Key: key, Offset: off, Length: i})
	}
	t.read[key] = off + int64(i+1)
	return n, nil
}

// ReadRecordAt reads back the record of execution id whose line ref locates
// (from JournalTail.ReadRefs): one ranged read of the line. A ref outside the
// execution's journal is an error; an object gone since (put in quarantine)
// wraps ErrNotFound.
func (s *Store) ReadRecordAt(ctx context.Context, id string, ref RecordRef) (*Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return nil, err
	}
	prefix := journalPrefix(runPrefix(spec))
	if _, _, ok := parseJournalKey(prefix, ref.Key); !ok || !strings.HasPrefix(ref.Key, prefix) {
		return nil, fmt.Errorf("store: execution %q: %q is not an object of its journal", id, ref.Key)
	}
	if ref.Offset < 0 || ref.Length <= 0 || ref.Length > recordLimit {
		return nil, fmt.Errorf("store: execution %q: no journal line of %d bytes at %d of %s", id, ref.Length, ref.Offset, ref.Key)
	}
	line, err := s.readRange(ctx, ref.Key, ref.Offset, int64(ref.Length))
	if err != nil {
		return nil, err
	}
	rec, err := parseRecord(fmt.Sprintf("%s (from byte %d)", ref.Key, ref.Offset), 1, line, spec.N)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("store: %s at %d: %w: a blank line", ref.Key, ref.Offset, ErrCorrupt)
	}
	return rec, nil
}

// Wins reports whether r, read after cur, replaces it as an element's record:
// the rule LoadRecordsReport merges the journal by (a succeeded record beats
// any other; among the rest, the later Time, or of equal times the one read
// later). A cur with Status "" (no record yet) always loses.
func Wins(r, cur *Record) bool { return wins(r, cur) }
