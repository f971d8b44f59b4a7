package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// journalReaders bounds the objects LoadRecords reads at once.
const journalReaders = 8

func journalPrefix(id string) string { return execKey(id, "journal/") }

// AppendRecords writes recs as one new journal object of writer: the driver of
// a run, or a worker. Two calls never overwrite each other.
func (s *Store) AppendRecords(ctx context.Context, id, writer string, recs []Record) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if err := ValidateID(writer); err != nil {
		return fmt.Errorf("store: journal writer: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	seq, err := s.nextSeq(ctx, id, writer)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("store: encoding record of element %d: %w", recs[i].Index, err)
		}
	}
	return s.write(ctx, fmt.Sprintf("%s%s/%010d.jsonl", journalPrefix(id), writer, seq), buf.Bytes())
}

func (s *Store) nextSeq(ctx context.Context, id, writer string) (int, error) {
	k := id + "/" + writer
	s.mu.Lock()
	seq, ok := s.seqs[k]
	s.mu.Unlock()
	if !ok { // a writer name reused by a new process continues after its objects
		keys, err := s.list(ctx, journalPrefix(id)+writer+"/")
		if err != nil {
			return 0, err
		}
		seq = len(keys)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.seqs[k]; ok && cur > seq {
		seq = cur
	}
	s.seqs[k] = seq + 1
	return seq, nil
}

// ReadJournal returns the records one writer wrote, in order: how a backend
// learns what its worker did.
func (s *Store) ReadJournal(ctx context.Context, id, writer string) ([]Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := ValidateID(writer); err != nil {
		return nil, fmt.Errorf("store: journal writer: %w", err)
	}
	keys, err := s.list(ctx, journalPrefix(id)+writer+"/")
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, k := range keys {
		err := s.readJournalObject(ctx, k, -1, func(r Record) { out = append(out, r) })
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LoadRecords merges the whole journal into one record per element (Status ""
// where there is none): a success beats any other record, otherwise the latest
// record wins.
func (s *Store) LoadRecords(ctx context.Context, id string, n int) ([]Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	keys, err := s.list(ctx, journalPrefix(id))
	if err != nil {
		return nil, err
	}
	// Each object is parsed concurrently into its own slice; the merge then runs
	// in key order so that equal times resolve the same way every time.
	parsed := make([][]Record, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, journalReaders)
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = s.readJournalObject(ctx, k, n, func(r Record) { parsed[i] = append(parsed[i], r) })
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := make([]Record, n)
	for _, recs := range parsed {
		for _, r := range recs {
			cur := &out[r.Index]
			if cur.Status == StatusSucceeded && r.Status != StatusSucceeded {
				continue
			}
			if r.Status == StatusSucceeded && cur.Status != StatusSucceeded || r.Time >= cur.Time {
				*cur = r
			}
		}
	}
	return out, nil
}

// readJournalObject parses one JSON Lines object; n < 0 skips the range check.
func (s *Store) readJournalObject(ctx context.Context, key string, n int, emit func(Record)) error {
	data, err := s.read(ctx, key)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("store: %s line %d: %w: %v", key, line, ErrCorrupt, err)
		}
		if r.Index < 0 || (n >= 0 && r.Index >= n) {
			return fmt.Errorf("store: %s line %d: %w: element %d of %d", key, line, ErrCorrupt, r.Index, n)
		}
		switch r.Status {
		case StatusSucceeded, StatusFailed, StatusSkipped:
		default:
			return fmt.Errorf("store: %s line %d: %w: status %q", key, line, ErrCorrupt, strings.ToValidUTF8(string(r.Status), "?"))
		}
		emit(r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("store: %s: %w: %v", key, ErrCorrupt, err)
	}
	return nil
}
