package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"
)

// journalReaders bounds the journal objects LoadRecords reads at once.
const journalReaders = 8

// journalPrefix is the prefix of the journal of the creation whose objects
// start with run (see runPrefix).
func journalPrefix(run string) string { return run + "journal/" }

func journalKey(prefix, writer string, seq int) string {
	return fmt.Sprintf("%s%s/%010d.jsonl", prefix, writer, seq)
}

// parseJournalKey splits the key of a journal object into its writer and
// sequence number. Anything else under the journal (a write in progress, as a
// local directory shows it) is not an object of the journal: ok is false.
func parseJournalKey(prefix, key string) (writer string, seq int, ok bool) {
	writer, name, ok := strings.Cut(strings.TrimPrefix(key, prefix), "/")
	if !ok || validateName("", writer) != nil {
		return "", 0, false
	}
	digits, ok := strings.CutSuffix(name, ".jsonl")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return "", 0, false
	}
	seq, err := strconv.Atoi(digits)
	return writer, seq, err == nil
}

// journalOf checks id and writer and returns the execution's spec and the
// prefix of its journal. The execution must exist.
func (s *Store) journalOf(ctx context.Context, id, writer string) (*Spec, string, error) {
	if err := ValidateID(id); err != nil {
		return nil, "", err
	}
	if err := validateName("journal writer", writer); err != nil {
		return nil, "", err
	}
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return nil, "", err
	}
	return spec, journalPrefix(runPrefix(spec)), nil
}

// encodeRecords returns recs as JSON Lines. A record LoadRecords would reject
// is refused: such a line would make its whole journal object corrupt, and
// put it in quarantine with the good records beside it.
func encodeRecords(spec *Spec, recs []Record) ([]byte, error) {
	return appendRecords(make([]byte, 0, 64*len(recs)), spec, recs)
}

// appendRecords is encodeRecords appending to buf.
func appendRecords(buf []byte, spec *Spec, recs []Record) ([]byte, error) {
	id := spec.ID
	for i := range recs {
		switch r := &recs[i]; {
		case r.Index < 0 || r.Index >= spec.N:
			return nil, fmt.Errorf("store: execution %q: record of element %d: outside [0, %d)", id, r.Index, spec.N)
		case r.Status != StatusSucceeded && r.Status != StatusFailed && r.Status != StatusSkipped && r.Status != StatusRunning:
			return nil, fmt.Errorf("store: execution %q: record of element %d: status %q", id, r.Index, r.Status)
		case len(r.Output) > MaxOutputSize:
			return nil, fmt.Errorf("store: execution %q: record of element %d: its output has %d bytes, more than the %d the store keeps", id, r.Index, len(r.Output), MaxOutputSize)
		}
	}
	for i := range recs {
		start := len(buf)
		buf = appendRecord(buf, &recs[i])
		if len(buf)-start > MaxRecordSize {
			return nil, fmt.Errorf("store: execution %q: record of element %d: %d bytes as a journal line, more than the %d the store keeps", id, recs[i].Index, len(buf)-start, MaxRecordSize)
		}
	}
	return buf, nil
}

// AppendRecords writes recs as one new journal object of writer (the driver of
// a run, or a worker; a name that passes ValidateID). Objects of one writer are
// numbered in memory, after any the writer left in the store before, so two
// calls through one Store never overwrite each other; writers in different
// processes must use different names. Empty recs write nothing. It costs one
// write, plus a listing on a writer's first call (and a read of the spec on
// the Store's first use of the execution, which must exist).
//
// A JournalWriter does the same with one object per Append on a blob store,
// and appends to one file on a local one: the cheaper way to write many
// small batches. A writer name is used by one of the two, not both.
func (s *Store) AppendRecords(ctx context.Context, id, writer string, recs []Record) error {
	spec, prefix, err := s.journalOf(ctx, id, writer)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	buf, err := encodeRecords(spec, recs)
	if err != nil {
		return err
	}
	seq, err := s.nextSeq(ctx, prefix, writer)
	if err != nil {
		return err
	}
	return s.write(ctx, journalKey(prefix, writer, seq), buf)
}

// JournalWriter appends records to the journal of one execution as one
// writer: see OpenJournal. It is safe for concurrent use; Append calls are
// written one after the other.
type JournalWriter struct {
	s      *Store
	spec   *Spec
	writer string
	prefix string // of the execution's journal

	mu     sync.Mutex
	file   appender // local stores: the open segment, nil before the first Append
	buf    []byte   // local stores: reused to encode each Append's records
	key    string   // its key
	size   int64    // local stores: the bytes appended to the segment
	sync   bool
	closed bool
	track  *State // the execution's merged journal, kept up to date (Track); nil when not
	// pendKey holds up to pendEnd of what track holds, not yet in its cover
	// (see tracked); "" when nothing is pending.
	pendKey string
	pendEnd int64
}

// OpenJournal returns a writer of records into the journal of execution id
// (which must exist) under the name writer, which, as for AppendRecords, no
// other process may use at the same time. Close it when done.
//
// On a blob store (S3, mem://), each Append writes one new journal object, as
// AppendRecords does. On a local directory, the first Append creates one
// segment file ("<seq>.jsonl", 0600, created exclusively) and every Append
// adds its records to it with a single write(2) in append mode: a map of many
// elements writes one file per writer, not one per batch. Readers take a
// growing segment as it is.
//
// Durability on a local directory: when Append returns, the records are in the
// file, where a crash of the process cannot take them back; a crash of the
// machine (power loss) can, unless SetSync(true) asked for an fdatasync after
// every Append. A write cut short (no space left: see Append; SIGKILL in the
// middle of a large write; power loss) leaves at most a final line without its
// newline, which readers ignore: its elements run again. Segments are never
// reopened: a new JournalWriter starts a new one.
func (s *Store) OpenJournal(ctx context.Context, id, writer string) (*JournalWriter, error) {
	spec, prefix, err := s.journalOf(ctx, id, writer)
	if err != nil {
		return nil, err
	}
	return &JournalWriter{s: s, spec: spec, writer: writer, prefix: prefix}, nil
}

// SetSync asks, on a local directory store, for an fdatasync of the segment
// after every Append, so that records also survive a crash of the machine.
// Blob stores are durable when a write returns, and ignore it.
func (w *JournalWriter) SetSync(sync bool) {
	w.mu.Lock()
	w.sync = sync
	w.mu.Unlock()
}

// Append writes recs to the journal: they are durable when it returns (see
// OpenJournal for what a local directory promises). Empty recs write nothing.
// A record LoadRecords would reject (an element outside [0, N), an unknown
// status, an output over MaxOutputSize) is refused, and nothing is written.
//
// On a local directory, a failed write (no space left, an I/O error) leaves
// the segment as it was before the call: what was written of it is truncated
// away. The error names the segment and wraps the system's (errors.Is(err,
// syscall.ENOSPC)); a later Append tries again.
func (w *JournalWriter) Append(ctx context.Context, recs []Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("store: execution %q: journal writer %s is closed", w.spec.ID, w.writer)
	}
	if len(recs) == 0 {
		return nil
	}
	var buf []byte
	if w.s.local != nil && cap(w.buf) <= 1<<20 {
		buf = w.buf[:0] // written before Append returns: reusable
	}
	buf, err := appendRecords(buf, w.spec, recs)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: execution %q: appending to the journal: %w", w.spec.ID, context.Cause(ctx))
	}
	if w.s.local == nil {
		seq, err := w.s.nextSeq(ctx, w.prefix, w.writer)
		if err != nil {
			return err
		}
		key := journalKey(w.prefix, w.writer, seq)
		if err := w.s.write(ctx, key, buf); err != nil {
			return err
		}
		w.tracked(key, 0, int64(len(buf)), recs)
		return nil
	}
	if w.file == nil {
		if err := w.openSegment(ctx); err != nil {
			return err
		}
	}
	w.buf = buf
	if err := w.file.Append(buf); err != nil {
		if w.file.Broken() { // a partial line may remain: start a new segment next time
			_ = w.file.Close()
			w.file = nil
		}
		return fmt.Errorf("store: appending to %s in %s: %w", w.key, w.s.url, err)
	}
	at := w.size
	w.size += int64(len(buf))
	if w.sync {
		if err := w.file.Sync(); err != nil {
			return fmt.Errorf("store: syncing %s in %s: %w", w.key, w.s.url, err)
		}
	}
	w.tracked(w.key, at, int64(len(buf)), recs)
	return nil
}

// openSegment creates the writer's next segment file.
func (w *JournalWriter) openSegment(ctx context.Context) error {
	for range 100 {
		seq, err := w.s.nextSeq(ctx, w.prefix, w.writer)
		if err != nil {
			return err
		}
		key := journalKey(w.prefix, w.writer, seq)
		f, err := w.s.local.createAppend(key)
		if errors.Is(err, errExists) { // left by a writer of the same name: after it
			continue
		}
		if err != nil {
			return wrap("creating", key, err)
		}
		w.file, w.key, w.size = f, key, 0
		return nil
	}
	return fmt.Errorf("store: execution %q: no free journal segment for writer %s", w.spec.ID, w.writer)
}

// Close ends the writer: on a local store, it closes its segment file. The
// records appended stay in the journal.
func (w *JournalWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.file == nil {
		return nil
	}
	err := w.file.Close()
	w.file = nil
	if err != nil {
		return fmt.Errorf("store: closing %s: %w", w.key, err)
	}
	return nil
}

// appendRecord appends r as one JSON line, the same object encoding/json
// writes for a Record, without reflection: journaling is on the hot path of
// every durable map (a map of 100,000 trivial elements spent a fifth of its
// time in encoding/json here).
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"i":`...)
	b = strconv.AppendInt(b, int64(r.Index), 10)
	b = append(b, `,"s":`...)
	b = appendString(b, string(r.Status))
	if r.Attempts != 0 {
		b = append(b, `,"a":`...)
		b = strconv.AppendInt(b, int64(r.Attempts), 10)
	}
	if r.Err != "" {
		b = append(b, `,"e":`...)
		b = appendString(b, r.Err)
	}
	if r.Permanent {
		b = append(b, `,"p":true`...)
	}
	if r.DurationNS != 0 {
		b = append(b, `,"d":`...)
		b = strconv.AppendInt(b, r.DurationNS, 10)
	}
	if r.Cached {
		b = append(b, `,"c":true`...)
	}
	if r.ExitCode != nil {
		b = append(b, `,"x":`...)
		b = strconv.AppendInt(b, int64(*r.ExitCode), 10)
	}
	if len(r.Output) > 0 {
		b = append(b, `,"o":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Output)
		b = append(b, '"')
	}
	if r.Time != 0 {
		b = append(b, `,"t":`...)
		b = strconv.AppendInt(b, r.Time, 10)
	}
	if r.Outcome != "" {
		b = append(b, `,"oc":`...)
		b = appendString(b, string(r.Outcome))
	}
	return append(b, "}\n"...)
}

// appendString appends s as a JSON string: plain ASCII as it is, anything
// else through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// quarantinePrefix is where quarantine puts the objects under key prefix
// executions/<id>/…: executions/<id>/quarantine/… (see quarantine).
func quarantinePrefix(prefix string) string {
	id, rest, _ := strings.Cut(strings.TrimPrefix(prefix, "executions/"), "/")
	return execKey(id, "quarantine/"+rest)
}

// nextSeq returns the next sequence number of writer's journal objects under
// prefix.
func (s *Store) nextSeq(ctx context.Context, prefix, writer string) (int, error) {
	k := prefix + writer
	s.mu.Lock()
	if seq, ok := s.seqs[k]; ok {
		s.seqs[k] = seq + 1
		s.mu.Unlock()
		return seq, nil
	}
	s.mu.Unlock()
	// A writer name reused by a new Store continues after its objects, also
	// after those put in quarantine: a key is never used twice, so that a
	// checkpoint's cover of an object never applies to another one written
	// under its name (a worker whose pid came round again), and a second
	// quarantine never overwrites the first.
	next := 0
	for _, p := range []string{prefix, quarantinePrefix(prefix)} {
		keys, err := s.list(ctx, p+writer+"/")
		if err != nil {
			return 0, err
		}
		for _, key := range keys {
			if w, seq, ok := parseJournalKey(p, key); ok && w == writer && seq >= next {
				next = seq + 1
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.seqs[k]; ok && cur > next { // a concurrent first call got there first
		next = cur
	}
	s.seqs[k] = next + 1
	return next, nil
}

// journalKeys lists the journal objects under prefix (of one writer when
// writer is not "", of every writer whose name starts with writer when
// isPrefix), ordered by writer, then by sequence number.
func (s *Store) journalKeys(ctx context.Context, prefix, writer string, isPrefix bool) ([]string, error) {
	listed := prefix + writer
	if writer != "" && !isPrefix {
		listed += "/"
	}
	keys, err := s.list(ctx, listed)
	if err != nil {
		return nil, err
	}
	type entry struct {
		key, writer string
		seq         int
	}
	var entries []entry
	for _, key := range keys {
		if w, seq, ok := parseJournalKey(prefix, key); ok {
			entries = append(entries, entry{key, w, seq})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := strings.Compare(a.writer, b.writer); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.key
	}
	return out, nil
}

// ReadJournal returns the records one writer wrote, in the order it wrote them:
// how a backend learns what its worker did. A corrupt journal object is put
// in quarantine, as by LoadRecordsReport, and its records left out.
func (s *Store) ReadJournal(ctx context.Context, id, writer string) ([]Record, error) {
	spec, prefix, err := s.journalOf(ctx, id, writer)
	if err != nil {
		return nil, err
	}
	return s.readJournalKeys(ctx, spec, prefix, writer, false)
}

// ReadJournals returns the records of every writer whose name starts with
// prefix, writer by writer in name order, each in the order it wrote them: how
// a worker that takes over from earlier ones (a Kubernetes Job's retried
// index) learns what they did. Corrupt objects are handled as by ReadJournal.
func (s *Store) ReadJournals(ctx context.Context, id, prefix string) ([]Record, error) {
	if err := validateName("journal writer prefix", prefix); err != nil {
		return nil, err
	}
	spec, jprefix, err := s.journalOf(ctx, id, prefix)
	if err != nil {
		return nil, err
	}
	return s.readJournalKeys(ctx, spec, jprefix, prefix, true)
}

func (s *Store) readJournalKeys(ctx context.Context, spec *Spec, prefix, writer string, isPrefix bool) ([]Record, error) {
	keys, err := s.journalKeys(ctx, prefix, writer, isPrefix)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, key := range keys {
		var recs []Record
		err := s.readJournal(ctx, key, spec.N, func(r *Record) { recs = append(recs, *r) })
		switch {
		case errors.Is(err, ErrNotFound): // gone since it was listed: put in quarantine by another reader
			continue
		case isCorrupt(err):
			s.quarantine(ctx, spec.ID, key, err)
			continue
		case err != nil:
			return nil, err
		}
		if out == nil {
			out = recs // the first object's (often the only one): not copied
		} else {
			out = append(out, recs...)
		}
	}
	return out, nil
}

// Quarantined is a journal object LoadRecordsReport (or ReadJournal) found
// corrupt and moved out of the journal, so that the execution stays usable:
// the elements it recorded run again.
type Quarantined struct {
	Key string // where it was
	To  string // where it is now: executions/<id>/quarantine/<Key below executions/<id>/>; "" when it could not be moved
	// Err says what is wrong with it: it wraps ErrCorrupt and names the object
	// and the line.
	Err error
	// MoveErr is why it could not be moved (copied, then deleted), nil when it
	// was: it stays where it was, and is left out of every read.
	MoveErr error
}

// String is a message for the user: what is corrupt, where it went, and that
// its elements run again.
func (q Quarantined) String() string {
	if q.MoveErr != nil {
		return fmt.Sprintf("%v; it could not be put in quarantine (%v): its records are ignored, and the elements they recorded will run again", q.Err, q.MoveErr)
	}
	return fmt.Sprintf("%v; the journal object was moved to %s: the elements it recorded will run again", q.Err, q.To)
}

// isCorrupt reports an error that makes a journal object unusable, as opposed
// to one reading it (a network error, a symbolic link refused).
func isCorrupt(err error) bool {
	var nr *notRegularError
	return errors.Is(err, ErrCorrupt) && !errors.As(err, &nr)
}

// quarantine moves the corrupt journal object key of execution id to
// executions/<id>/quarantine/: a copy, then a delete. It writes with a context
// of its own, as a move left half done is harmless but a cancelled one is
// pointless.
func (s *Store) quarantine(ctx context.Context, id, key string, cause error) Quarantined {
	ctx = context.WithoutCancel(ctx)
	q := Quarantined{Key: key, Err: cause}
	to := execKey(id, "quarantine/"+strings.TrimPrefix(key, execKey(id, "")))
	if err := s.bucket.Copy(ctx, to, key, nil); err != nil {
		q.MoveErr = wrap("copying", key+" to "+to, err)
		return q
	}
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		q.MoveErr = wrap("deleting", key, err)
		return q
	}
	q.To = to
	return q
}

// LoadRecords merges the whole journal of an execution of n elements into one
// record per element, Status "" where there is none: LoadRecordsReport
// without the report. It logs nothing; corrupt journal objects are put in
// quarantine all the same.
func (s *Store) LoadRecords(ctx context.Context, id string, n int) ([]Record, error) {
	recs, _, err := s.LoadRecordsReport(ctx, id, n)
	return recs, err
}

// specOfN returns the spec of execution id, which a caller reading its
// journal believes to have n elements: another n is an error.
func (s *Store) specOfN(ctx context.Context, id string, n int) (*Spec, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if n != spec.N {
		return nil, fmt.Errorf("store: execution %q has %d elements, not %d", id, spec.N, n)
	}
	return spec, nil
}

// LoadRecordsReport merges the whole journal of execution id, whose spec says
// it has n elements, into one record per element, Status "" where there is
// none. A succeeded record beats any other; among the rest, the larger Time
// wins, and of equal times the one read later (objects ordered by writer and
// sequence, lines in order).
//
// A journal object with a line that does not parse, is longer than
// MaxRecordSize, or names an element outside [0, n), is corrupt: none of its
// records are used, and it is moved to executions/<id>/quarantine/ (see
// Quarantined, which reports it), so that the execution stays usable and the
// elements it recorded run again. A last line without its newline that does
// not parse is a write cut short (see OpenJournal): it alone is ignored, and
// the object is not corrupt. An n other than the spec's is an error.
//
// It reads up to 8 journal objects at once, each as a stream, line by line,
// and holds at most one record per element of each until it is merged.
func (s *Store) LoadRecordsReport(ctx context.Context, id string, n int) ([]Record, []Quarantined, error) {
	spec, err := s.specOfN(ctx, id, n)
	if err != nil {
		return nil, nil, err
	}
	keys, err := s.journalKeys(ctx, journalPrefix(runPrefix(spec)), "", false)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Record, n)
	if len(keys) == 1 {
		// One object (a single driver's run on a local store): merged as it
		// is read, without holding its winners apart.
		err := s.readJournal(ctx, keys[0], n, func(r *Record) {
			if wins(r, &out[r.Index]) {
				out[r.Index] = *r
			}
		})
		switch {
		case errors.Is(err, ErrNotFound): // gone since it was listed
			clear(out)
		case isCorrupt(err):
			clear(out)
			return out, []Quarantined{s.quarantine(ctx, id, keys[0], err)}, nil
		case err != nil:
			return nil, nil, err
		}
		return out, nil, nil
	}
	bad := make([]error, len(keys)) // why each corrupt object is
	// Objects are read concurrently and merged in order: the merger frees a
	// reader's slot once it has merged the reader's object, so no more than
	// journalReaders objects wait in memory.
	done := make([]chan []Record, len(keys))
	for i := range done {
		done[i] = make(chan []Record, 1)
	}
	slots := make(chan struct{}, journalReaders)
	dense := make(chan []int32, journalReaders) // spare indexes of winners, n entries each
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for i := range keys {
			select {
			case recs := <-done[i]:
				for k := range recs {
					if r := &recs[k]; wins(r, &out[r.Index]) {
						out[r.Index] = *r
					}
				}
				<-slots
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
launch:
	for i, key := range keys {
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
			break launch
		}
		g.Go(func() error {
			// The winner of each element within the object: merging winners in
			// object order is merging every record in order.
			var w winners
			err := s.readJournal(gctx, key, n, func(r *Record) { w.add(r, n, dense) })
			recs := w.done(dense)
			switch {
			case errors.Is(err, ErrNotFound): // gone since it was listed
				recs = nil
			case isCorrupt(err):
				bad[i], recs = err, nil
			case err != nil:
				return err
			}
			done[i] <- recs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	var moved []Quarantined
	for i, err := range bad {
		if err != nil {
			moved = append(moved, s.quarantine(ctx, id, keys[i], err))
		}
	}
	return out, moved, nil
}

// winners keeps the winning record of each element among those read from one
// journal object, in the order each element first appears: a map from
// element to record while there are few, an index of n entries (reused from
// object to object) beyond.
type winners struct {
	recs  []Record
	small map[int]int32 // element -> its record in recs
	index []int32       // element -> 1 + its record in recs; 0 when none
}

// denseAfter is the number of elements from which an object's winners are
// indexed by element rather than mapped.
const denseAfter = 1024

func (w *winners) add(r *Record, n int, spare chan []int32) {
	if w.index == nil && len(w.recs) >= denseAfter && n > 2*denseAfter && n < math.MaxInt32 {
		select {
		case w.index = <-spare:
		default:
			w.index = make([]int32, n)
		}
		for k := range w.recs {
			w.index[w.recs[k].Index] = int32(k + 1)
		}
		w.small = nil
	}
	if w.index != nil {
		if k := w.index[r.Index]; k == 0 {
			w.recs = append(w.recs, *r)
			w.index[r.Index] = int32(len(w.recs))
		} else if cur := &w.recs[k-1]; wins(r, cur) {
			*cur = *r
		}
		return
	}
	if w.small == nil {
		w.small = map[int]int32{}
	}
	if k, ok := w.small[r.Index]; !ok {
		w.small[r.Index] = int32(len(w.recs))
		w.recs = append(w.recs, *r)
	} else if cur := &w.recs[k]; wins(r, cur) {
		*cur = *r
	}
}

// done returns the winners, and gives the index back, cleared.
func (w *winners) done(spare chan []int32) []Record {
	if w.index != nil {
		for k := range w.recs {
			w.index[w.recs[k].Index] = 0
		}
		select {
		case spare <- w.index:
		default:
		}
		w.index = nil
	}
	return w.recs
}

// wins reports whether r, read after cur, replaces it as an element's record.
func wins(r, cur *Record) bool {
	if cur.Status == "" {
		return true
	}
	if rs, cs := r.Status == StatusSucceeded, cur.Status == StatusSucceeded; rs != cs {
		return rs
	}
	return r.Time >= cur.Time
}

// readJournal calls f on every record of the JSON Lines object key, in order,
// reading it line by line, for an execution of n elements. Blank lines are
// allowed; a last line without its newline that does not parse is ignored (a
// write cut short, or one in progress). The record f gets is reused for the
// next line: f copies what it keeps.
func (s *Store) readJournal(ctx context.Context, key string, n int, f func(*Record)) error {
	var d recordDecoder
	var r Record
	return s.readLines(ctx, key, func(line int, ln []byte, terminated bool) error {
		ok, err := d.parse(key, line, ln, n, &r)
		var syntax *json.SyntaxError
		if err != nil && !terminated && errors.As(err, &syntax) {
			return nil
		}
		if err != nil || !ok {
			return err
		}
		f(&r)
		return nil
	})
}

// parse parses line number line of the journal object key into r: false for
// a blank line, an error wrapping ErrCorrupt when it is not a record of an
// element in [0, n), and a *json.SyntaxError too when it is not JSON.
func (d *recordDecoder) parse(key string, line int, ln []byte, n int, r *Record) (bool, error) {
	if len(ln) > 0 && ln[0] == '{' {
		// A line as the store writes it: not blank.
	} else if len(bytes.TrimSpace(ln)) == 0 {
		return false, nil
	}
	if err := d.decode(ln, r); err != nil {
		return false, fmt.Errorf("store: %s line %d: %w: %w", key, line, ErrCorrupt, err)
	}
	if r.Index < 0 || r.Index >= n {
		return false, fmt.Errorf("store: %s line %d: %w: element %d is outside [0, %d)", key, line, ErrCorrupt, r.Index, n)
	}
	switch r.Status {
	case StatusSucceeded, StatusFailed, StatusSkipped, StatusRunning:
	default:
		return false, fmt.Errorf("store: %s line %d: %w: status %q", key, line, ErrCorrupt, r.Status)
	}
	return true, nil
}

// parseRecord is recordDecoder.parse for a single line, into a new record:
// nil for a blank line.
func parseRecord(key string, line int, ln []byte, n int) (*Record, error) {
	var d recordDecoder
	r := new(Record)
	ok, err := d.parse(key, line, ln, n, r)
	if err != nil || !ok {
		return nil, err
	}
	return r, nil
}
