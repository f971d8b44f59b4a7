package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// journalReaders bounds the journal objects LoadRecords reads at once.
const journalReaders = 8

func journalPrefix(id string) string { return execKey(id, "journal/") }

func journalKey(id, writer string, seq int) string {
	return fmt.Sprintf("%s%s/%010d.jsonl", journalPrefix(id), writer, seq)
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

// AppendRecords writes recs as one new journal object of writer (the driver of
// a run, or a worker; a name that passes ValidateID). Objects of one writer are
// numbered in memory, after any the writer left in the store before, so two
// calls through one Store never overwrite each other; writers in different
// processes must use different names. Empty recs write nothing. It costs one
// write, plus a listing on a writer's first call.
func (s *Store) AppendRecords(ctx context.Context, id, writer string, recs []Record) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if err := validateName("journal writer", writer); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	// A record LoadRecords would reject is refused here: a corrupt object is
	// never removed, so writing one would break the execution for good.
	for i := range recs {
		switch r := &recs[i]; {
		case r.Index < 0:
			return fmt.Errorf("store: execution %q: record of element %d: negative index", id, r.Index)
		case r.Status != StatusSucceeded && r.Status != StatusFailed && r.Status != StatusSkipped:
			return fmt.Errorf("store: execution %q: record of element %d: status %q", id, r.Index, r.Status)
		case len(r.Output) > MaxOutputSize:
			return fmt.Errorf("store: execution %q: record of element %d: its output has %d bytes, more than the %d the store keeps", id, r.Index, len(r.Output), MaxOutputSize)
		}
	}
	buf := make([]byte, 0, 64*len(recs))
	for i := range recs {
		start := len(buf)
		buf = appendRecord(buf, &recs[i])
		if len(buf)-start > MaxRecordSize {
			return fmt.Errorf("store: execution %q: record of element %d: %d bytes as a journal line, more than the %d the store keeps", id, recs[i].Index, len(buf)-start, MaxRecordSize)
		}
	}
	seq, err := s.nextSeq(ctx, id, writer)
	if err != nil {
		return err
	}
	return s.write(ctx, journalKey(id, writer, seq), buf)
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
	num := func(key string, v int64) {
		if v != 0 {
			b = append(b, `,"`+key+`":`...)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	num("a", int64(r.Attempts))
	if r.Err != "" {
		b = append(b, `,"e":`...)
		b = appendString(b, r.Err)
	}
	if r.Permanent {
		b = append(b, `,"p":true`...)
	}
	num("d", r.DurationNS)
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
	num("t", r.Time)
	if r.Outcome != "" {
		b = append(b, `,"oc":`...)
		b = appendString(b, r.Outcome)
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

// nextSeq returns the next sequence number of writer's journal objects.
func (s *Store) nextSeq(ctx context.Context, id, writer string) (int, error) {
	k := id + "/" + writer
	s.mu.Lock()
	if seq, ok := s.seqs[k]; ok {
		s.seqs[k] = seq + 1
		s.mu.Unlock()
		return seq, nil
	}
	s.mu.Unlock()
	// A writer name reused by a new Store continues after its objects.
	prefix := journalPrefix(id)
	keys, err := s.list(ctx, prefix+writer+"/")
	if err != nil {
		return 0, err
	}
	next := 0
	for _, key := range keys {
		if w, seq, ok := parseJournalKey(prefix, key); ok && w == writer && seq >= next {
			next = seq + 1
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

// journalKeys lists the journal objects of an execution (of one writer when
// writer is not "", of every writer whose name starts with writer when
// isPrefix), ordered by writer, then by sequence number.
func (s *Store) journalKeys(ctx context.Context, id, writer string, isPrefix bool) ([]string, error) {
	prefix := journalPrefix(id)
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
// how a backend learns what its worker did.
func (s *Store) ReadJournal(ctx context.Context, id, writer string) ([]Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := validateName("journal writer", writer); err != nil {
		return nil, err
	}
	return s.readJournalKeys(ctx, id, writer, false)
}

// ReadJournals returns the records of every writer whose name starts with
// prefix, writer by writer in name order, each in the order it wrote them: how
// a worker that takes over from earlier ones (a Kubernetes Job's retried
// index) learns what they did.
func (s *Store) ReadJournals(ctx context.Context, id, prefix string) ([]Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := validateName("journal writer prefix", prefix); err != nil {
		return nil, err
	}
	return s.readJournalKeys(ctx, id, prefix, true)
}

func (s *Store) readJournalKeys(ctx context.Context, id, writer string, isPrefix bool) ([]Record, error) {
	keys, err := s.journalKeys(ctx, id, writer, isPrefix)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, key := range keys {
		err := s.readJournal(ctx, key, -1, func(r *Record) { out = append(out, *r) })
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LoadRecords merges the whole journal of an execution of n elements into one
// record per element, Status "" where there is none. A succeeded record beats
// any other; among the rest, the larger Time wins, and of equal times the one
// read later (objects ordered by writer and sequence, lines in order). A line
// that does not parse, is longer than MaxRecordSize, or names an element
// outside [0, n), is an error wrapping ErrCorrupt that names the object and
// the line.
//
// It reads up to 8 journal objects at once, each as a stream, line by line,
// and holds at most one record per element of each until it is merged.
func (s *Store) LoadRecords(ctx context.Context, id string, n int) ([]Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("store: execution %q: %d elements", id, n)
	}
	keys, err := s.journalKeys(ctx, id, "", false)
	if err != nil {
		return nil, err
	}
	out := make([]Record, n)
	// Objects are read concurrently and merged in order: the merger frees a
	// reader's slot once it has merged the reader's object, so no more than
	// journalReaders objects wait in memory.
	done := make([]chan []Record, len(keys))
	for i := range done {
		done[i] = make(chan []Record, 1)
	}
	slots := make(chan struct{}, journalReaders)
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
			var recs []Record
			at := map[int]int{}
			err := s.readJournal(gctx, key, n, func(r *Record) {
				if k, ok := at[r.Index]; !ok {
					at[r.Index] = len(recs)
					recs = append(recs, *r)
				} else if wins(r, &recs[k]) {
					recs[k] = *r
				}
			})
			if err != nil {
				return err
			}
			done[i] <- recs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
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
// reading it line by line. n < 0 skips the check of element indices against
// n. Blank lines are allowed.
func (s *Store) readJournal(ctx context.Context, key string, n int, f func(*Record)) error {
	return s.readLines(ctx, key, func(line int, ln []byte) error {
		r, err := parseRecord(key, line, ln, n)
		if err != nil || r == nil {
			return err
		}
		f(r)
		return nil
	})
}

// parseRecord parses line number line of the journal object key: nil for a
// blank line, an error wrapping ErrCorrupt when it is not a record of an
// element in [0, n) (n < 0: any element).
func parseRecord(key string, line int, ln []byte, n int) (*Record, error) {
	if len(bytes.TrimSpace(ln)) == 0 {
		return nil, nil
	}
	var r Record
	if err := json.Unmarshal(ln, &r); err != nil {
		return nil, fmt.Errorf("store: %s line %d: %w: %v", key, line, ErrCorrupt, err)
	}
	if r.Index < 0 || (n >= 0 && r.Index >= n) {
		return nil, fmt.Errorf("store: %s line %d: %w: element %d is outside [0, %d)", key, line, ErrCorrupt, r.Index, max(n, 0))
	}
	switch r.Status {
	case StatusSucceeded, StatusFailed, StatusSkipped:
	default:
		return nil, fmt.Errorf("store: %s line %d: %w: status %q", key, line, ErrCorrupt, r.Status)
	}
	return &r, nil
}
