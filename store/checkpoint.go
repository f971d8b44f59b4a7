package store

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// The checkpoint of an execution is its journal compacted: one entry per
// element (its latest record, as LoadRecords merges them) and how much of
// each journal object it holds. It is written by Checkpoint (a driver writes
// one at the end of every run) and read by LoadState, which then merges only
// the journal written after it. It is derived from the journal and never
// trusted over it: records after the checkpoint still apply, and a
// checkpoint that holds more of an object than the object has (an object
// moved to quarantine since, or shorter than it was) is ignored, as is one
// that does not parse. See the package doc for its format.
//
// Format version 1, executions/<id>/<inputs>/checkpoint, written whole (a
// local store renames it into place; a blob store puts it):
//
//	8 bytes   magic "\x89mtckpt\n"
//	4 bytes   format version, little-endian uint32: 1
//	4 bytes   header length H, little-endian uint32
//	4 bytes   CRC-32C (Castagnoli) of the header, little-endian uint32
//	H bytes   header, JSON: checkpointHeader
//	elements  section: one entry per element, in element order
//	outputs   section: the outputs of the elements that have one, in element
//	          order, each as its length (uvarint) and its bytes
//
// An entry is a flags byte (bits 0-2 the status: 0 no record, 1 running,
// 2 succeeded, 3 failed, 4 skipped; 0x08 cached, 0x10 permanent, 0x20 exit
// code, 0x40 error message, 0x80 output). An element with no record has
// nothing more. Otherwise, in order: attempts (varint), duration in ns
// (varint), time (varint, the difference from the time of the previous
// element that has a record, or from 0), the outcome (one byte: 0 none,
// 1 succeeded, 2 failed, 3 timed out, 4 lost, 5 cancelled, 255 another word),
// then the exit code (varint) if 0x20, the error message (uvarint length,
// bytes) if 0x40, the outcome's word (uvarint length, bytes) if 255. An
// element has an output in the outputs section if 0x80. Varints are encoding/binary's
// (zig-zag for signed). The header gives each section's size and CRC-32C,
// so a reader that needs no outputs reads the elements alone.
const (
	checkpointMagic   = "\x89mtckpt\n"
	checkpointVersion = 1
	// checkpointPrefix is the length of what precedes the header.
	checkpointPrefix = 20
	// maxCheckpointHeader bounds a checkpoint's header (mostly its list of
	// journal objects).
	maxCheckpointHeader = 64 << 20
)

// checkpointHeader is the JSON header of a checkpoint.
type checkpointHeader struct {
	N        int       `json:"n"`
	Time     time.Time `json:"time"`
	Counts   Counts    `json:"counts"` // for people reading the file: the elements section is the truth
	Journal  []covered `json:"journal"`
	Elements section   `json:"elements"`
	Outputs  section   `json:"outputs"`
}

// covered is how much of one journal object a checkpoint holds: its first
// Size bytes, whole lines.
type covered struct {
	Key  string `json:"key"` // below the journal's prefix: <writer>/<seq>.jsonl
	Size int64  `json:"size"`
}

type section struct {
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checkpointKey(spec *Spec) string { return runPrefix(spec) + "checkpoint" }

// LoadState merges the journal of execution id, whose spec says it has n
// elements, as LoadRecordsReport does (the same records, corrupt objects put
// in quarantine and reported the same way), into a State. It starts from the
// execution's checkpoint when it has a usable one, and then reads only what
// the journal holds beyond it: for a finished execution, the checkpoint
// alone. Without outputs, it reads no output, from the checkpoint or the
// journal, and State.Output returns nil.
//
// Two records of one element from different journal objects with the same
// Time and the same standing (both succeeded, or neither) are merged in key
// order by LoadRecords; from a checkpoint, the one written after the
// checkpoint wins. Times are nanoseconds, so this does not arise in
// practice.
func (s *Store) LoadState(ctx context.Context, id string, n int, outputs bool) (*State, []Quarantined, error) {
	spec, err := s.specOfN(ctx, id, n)
	if err != nil {
		return nil, nil, err
	}
	return s.loadState(ctx, spec, outputs)
}

// loadState is LoadState: it starts again, without the object, whenever a
// journal object turns out corrupt (put in quarantine) or gone.
func (s *Store) loadState(ctx context.Context, spec *Spec, outputs bool) (*State, []Quarantined, error) {
	skip := map[string]bool{}
	var moved []Quarantined
	for {
		st, err := s.loadStateOnce(ctx, spec, outputs, skip)
		var bad *badObject
		if !errors.As(err, &bad) {
			return st, moved, err
		}
		if bad.err != nil {
			moved = append(moved, s.quarantine(ctx, spec.ID, bad.key, bad.err))
		}
		skip[bad.key] = true
	}
}

func (s *Store) loadStateOnce(ctx context.Context, spec *Spec, outputs bool, skip map[string]bool) (*State, error) {
	objs, err := s.journalObjects(ctx, journalPrefix(runPrefix(spec)), skip)
	if err != nil {
		return nil, err
	}
	st, err := s.readCheckpoint(ctx, spec, outputs)
	if err != nil {
		return nil, err
	}
	if st == nil || !coverHolds(st, objs) {
		st = newState(spec.N, outputs)
	}
	if err := s.mergeTails(ctx, spec, st, objs); err != nil {
		return nil, err
	}
	return st, nil
}

// badObject is a journal object found corrupt (err) or gone (err nil) while
// merging: the merge starts again without it.
type badObject struct {
	key string
	err error
}

func (b *badObject) Error() string { return fmt.Sprintf("store: journal object %s: %v", b.key, b.err) }

// journalObject is one object of a journal, as listed.
type journalObject struct {
	key, rel string // rel: below the journal's prefix
	writer   string
	seq      int
	size     int64
}

// journalObjects lists the objects of the journal under prefix, but those in
// skip, in the order LoadRecords reads them (by writer, then sequence).
func (s *Store) journalObjects(ctx context.Context, prefix string, skip map[string]bool) ([]journalObject, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	var objs []journalObject
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, wrap("listing", prefix+" in "+s.url, err)
		}
		if obj.IsDir || skip[obj.Key] {
			continue
		}
		if w, seq, ok := parseJournalKey(prefix, obj.Key); ok {
			objs = append(objs, journalObject{key: obj.Key, rel: strings.TrimPrefix(obj.Key, prefix), writer: w, seq: seq, size: obj.Size})
		}
	}
	slices.SortFunc(objs, func(a, b journalObject) int {
		if c := strings.Compare(a.writer, b.writer); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	return objs, nil
}

// coverHolds reports whether every journal object st holds part of is still
// there, at least as long as st says.
func coverHolds(st *State, objs []journalObject) bool {
	if len(st.cover) == 0 {
		return true
	}
	sizes := make(map[string]int64, len(objs))
	for _, o := range objs {
		sizes[o.rel] = o.size
	}
	for rel, n := range st.cover {
		if size, ok := sizes[rel]; !ok || size < n {
			return false
		}
	}
	return true
}

// mergeTails merges into st what each journal object holds beyond what st
// has of it, object by object in order.
func (s *Store) mergeTails(ctx context.Context, spec *Spec, st *State, objs []journalObject) error {
	for _, o := range objs {
		from := st.cover[o.rel]
		if o.size <= from {
			continue
		}
		n, err := s.mergeObject(ctx, spec, st, o.key, from)
		switch {
		case errors.Is(err, ErrNotFound): // gone since it was listed: put in quarantine by another reader
			return &badObject{key: o.key}
		case isCorrupt(err):
			return &badObject{key: o.key, err: err}
		case err != nil:
			return err
		}
		if n > 0 {
			st.cover[o.rel] = from + n
			s.merged.Add(n)
		}
	}
	return nil
}

// mergeObject merges the records of the journal object key from byte from
// on into st, and returns how many bytes it took: whole lines, and a last
// line without its newline only if it parsed (one that does not is a write
// cut short or in progress, read again next time).
func (s *Store) mergeObject(ctx context.Context, spec *Spec, st *State, key string, from int64) (int64, error) {
	r, err := s.bucket.NewRangeReader(ctx, key, from, -1, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return 0, s.notFound(key)
	}
	if err != nil {
		return 0, wrap("reading", key, err)
	}
	defer r.Close()
	label := key
	if from > 0 {
		label = fmt.Sprintf("%s (after byte %d)", key, from)
	}
	outputs := st.outs != nil
	return scanJournal(r, label, spec.N, func(rec *Record) {
		if !outputs {
			rec.Output = nil
		}
		st.merge(rec)
	})
}

// scanJournal calls f on every record of a journal object read from r, as
// readJournal does, and returns the bytes it consumed (see mergeObject).
func scanJournal(r io.Reader, label string, n int, f func(*Record)) (int64, error) {
	var d recordDecoder
	var rec Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), recordLimit+1)
	var pos, last int64
	terminated := true
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		advance, token, err := bufio.ScanLines(data, atEOF)
		if atEOF && token != nil && advance == len(data) && (len(data) == 0 || data[len(data)-1] != '\n') {
			terminated = false
		}
		if advance > 0 {
			last = int64(advance)
			pos += last
		}
		return advance, token, err
	})
	no := 0
	for sc.Scan() {
		no++
		ok, err := d.parse(label, no, sc.Bytes(), n, &rec)
		var syntax *json.SyntaxError
		if err != nil && !terminated && errors.As(err, &syntax) {
			return pos - last, nil
		}
		if err != nil {
			return 0, err
		}
		if ok {
			f(&rec)
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return 0, fmt.Errorf("store: %s line %d: %w: longer than the %d bytes a journal record may have", label, no+1, ErrCorrupt, recordLimit)
	case err != nil:
		return 0, wrap("reading", label, err)
	}
	return pos, nil
}

// readCheckpoint reads the checkpoint of spec's execution: nil, with no
// error, when there is none or it cannot be used (it does not parse, it is
// of a newer format, it is for another number of elements).
func (s *Store) readCheckpoint(ctx context.Context, spec *Spec, outputs bool) (*State, error) {
	key := checkpointKey(spec)
	r, err := s.bucket.NewRangeReader(ctx, key, 0, checkpointPrefix, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("reading", key, err)
	}
	var head [checkpointPrefix]byte
	_, err = io.ReadFull(r, head[:])
	size := r.Size()
	r.Close()
	if err != nil || string(head[:8]) != checkpointMagic || binary.LittleEndian.Uint32(head[8:]) != checkpointVersion {
		return nil, nil // cut short, not a checkpoint, or a format this maptask does not know: not used
	}
	hlen := int64(binary.LittleEndian.Uint32(head[12:]))
	if hlen > maxCheckpointHeader || checkpointPrefix+hlen > size {
		return nil, nil
	}
	raw, err := s.readRange(ctx, key, checkpointPrefix, hlen)
	if err != nil {
		return nil, ignoreDamage(err)
	}
	var h checkpointHeader
	if crc32.Checksum(raw, castagnoli) != binary.LittleEndian.Uint32(head[16:]) || json.Unmarshal(raw, &h) != nil ||
		h.N != spec.N || h.Elements.Size < 0 || h.Outputs.Size < 0 || h.Elements.Size > size || h.Outputs.Size > size ||
		checkpointPrefix+hlen+h.Elements.Size+h.Outputs.Size != size {
		return nil, nil
	}
	length := h.Elements.Size
	if outputs {
		length += h.Outputs.Size
	}
	body, err := s.readRange(ctx, key, checkpointPrefix+hlen, length)
	if err != nil {
		return nil, ignoreDamage(err)
	}
	elems := body[:h.Elements.Size]
	if crc32.Checksum(elems, castagnoli) != h.Elements.CRC32C {
		return nil, nil
	}
	var outs []byte
	if outputs {
		outs = body[h.Elements.Size:]
		if crc32.Checksum(outs, castagnoli) != h.Outputs.CRC32C {
			return nil, nil
		}
	}
	st, err := decodeElements(elems, h.N)
	if err != nil {
		return nil, nil
	}
	if outputs && st.indexOutputs(outs) != nil {
		return nil, nil
	}
	for _, c := range h.Journal {
		if c.Size < 0 || !validJournalRel(c.Key) {
			return nil, nil
		}
		st.cover[c.Key] = c.Size
	}
	st.checkpointed, st.fromCheckpoint = true, true
	return st, nil
}

// indexOutputs makes outs, a checkpoint's outputs section, the State's
// outputs: block 0, each output where the section has it.
func (st *State) indexOutputs(outs []byte) error {
	st.outs = make([]uint64, st.n)
	st.blocks = [][]byte{outs[:len(outs):len(outs)]} // full: new outputs go to a block of their own
	st.arena = 0
	p := uint64(0)
	for i, f := range st.flags {
		if f&flagOutput == 0 {
			continue
		}
		l, k := binary.Uvarint(outs[p:])
		if k <= 0 || l > uint64(len(outs))-p-uint64(k) {
			return errCheckpoint
		}
		st.outs[i] = p
		p += uint64(k) + l
	}
	if p != uint64(len(outs)) {
		return errCheckpoint
	}
	return nil
}

// ignoreDamage turns the errors of an object that changed or vanished
// between two reads into "no checkpoint"; others are returned.
func ignoreDamage(err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, errShort) {
		return nil
	}
	return err
}

// validJournalRel reports whether rel could name a journal object below the
// journal's prefix.
func validJournalRel(rel string) bool {
	_, _, ok := parseJournalKey("", rel)
	return ok
}

var errCheckpoint = errors.New("malformed checkpoint")

// decodeElements decodes the elements section of a checkpoint of n
// elements, into a State without outputs.
func decodeElements(b []byte, n int) (*State, error) {
	st := newState(n, false)
	var prev int64
	p := 0
	uvarint := func() (uint64, bool) {
		v, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return 0, false
		}
		p += k
		return v, true
	}
	varint := func() (int64, bool) {
		v, k := binary.Varint(b[p:])
		if k <= 0 {
			return 0, false
		}
		p += k
		return v, true
	}
	str := func() (string, bool) {
		l, ok := uvarint()
		if !ok || l > uint64(len(b)-p) {
			return "", false
		}
		s := string(b[p : p+int(l)])
		p += int(l)
		return s, true
	}
	for i := range n {
		if p >= len(b) {
			return nil, errCheckpoint
		}
		f := b[p]
		p++
		code := f & statusMask
		if code > codeSkipped || (code == codeNone && f != 0) {
			return nil, errCheckpoint
		}
		st.flags[i] = f
		if code == codeNone {
			continue
		}
		a, ok1 := varint()
		d, ok2 := varint()
		t, ok3 := varint()
		if !ok1 || !ok2 || !ok3 || p >= len(b) {
			return nil, errCheckpoint
		}
		prev += t
		if a == int64(int32(a)) {
			st.attempts[i] = int32(a)
		} else {
			if st.big == nil {
				st.big = map[int]int{}
			}
			st.big[i] = int(a)
		}
		st.durations[i], st.times[i] = d, prev
		oc := b[p]
		p++
		if oc > outcomeCancelled && oc != outcomeOther {
			return nil, errCheckpoint
		}
		st.outcomes[i] = oc
		if f&flagExit != 0 {
			x, ok := varint()
			if !ok {
				return nil, errCheckpoint
			}
			if st.exits == nil {
				st.exits = make([]int, n)
			}
			st.exits[i] = int(x)
		}
		var rf rareFields
		if f&flagErr != 0 {
			e, ok := str()
			if !ok || e == "" {
				return nil, errCheckpoint
			}
			rf.err = e
		}
		if oc == outcomeOther {
			w, ok := str()
			if !ok || codeOfOutcome(Outcome(w)) != outcomeOther {
				return nil, errCheckpoint
			}
			rf.outcome = Outcome(w)
		}
		if rf != (rareFields{}) {
			if st.rare == nil {
				st.rare = map[int]rareFields{}
			}
			st.rare[i] = rf
		}
	}
	if p != len(b) {
		return nil, errCheckpoint
	}
	return st, nil
}

// encodeElements hands the elements section of st's checkpoint to f, a
// piece at a time (each piece is reused once f returns).
func (st *State) encodeElements(f func([]byte)) {
	b := make([]byte, 0, 64<<10)
	var prev int64
	for i, fl := range st.flags {
		if len(b) > 60<<10 {
			f(b)
			b = b[:0]
		}
		b = append(b, fl)
		if fl&statusMask == codeNone {
			continue
		}
		b = binary.AppendVarint(b, int64(st.attempt(i)))
		b = binary.AppendVarint(b, st.durations[i])
		b = binary.AppendVarint(b, st.times[i]-prev)
		prev = st.times[i]
		oc := st.outcomes[i]
		b = append(b, oc)
		if fl&flagExit != 0 {
			b = binary.AppendVarint(b, int64(st.exits[i]))
		}
		if fl&flagErr != 0 {
			b = binary.AppendUvarint(b, uint64(len(st.rare[i].err)))
			b = append(b, st.rare[i].err...)
		}
		if oc == outcomeOther {
			w := st.rare[i].outcome
			b = binary.AppendUvarint(b, uint64(len(w)))
			b = append(b, w...)
		}
		if len(b) > 60<<10 { // a long error message: not kept in the piece
			f(b)
			b = b[:0]
		}
	}
	f(b)
}

// encodeOutputs hands the outputs section of st's checkpoint to f, output
// by output (as length and bytes).
func (st *State) encodeOutputs(f func([]byte)) {
	for i, fl := range st.flags {
		if fl&flagOutput != 0 {
			ref := st.outs[i]
			b := st.blocks[ref>>40][ref&(1<<40-1):]
			l, k := binary.Uvarint(b)
			f(b[:k+int(l)])
		}
	}
}

// Checkpoint compacts the journal of execution id into its checkpoint,
// replacing the one it had: LoadState then reads the checkpoint, and only
// the journal written after it. It reads the execution's journal (from its
// checkpoint, when it has one), then writes the checkpoint whole: a reader
// sees the old one or the new one. A driver's JournalWriter does the same
// from what it wrote without reading it back (see JournalWriter.Checkpoint).
func (s *Store) Checkpoint(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return err
	}
	st, _, err := s.loadState(ctx, spec, true)
	if err != nil {
		return err
	}
	return s.writeCheckpoint(ctx, spec, st)
}

// updateCheckpoint merges into st the journal written beyond it, and writes
// it as the checkpoint unless the store's checkpoint already says the same.
// It returns the State it wrote: st, or one read afresh when st no longer
// agrees with the journal.
func (s *Store) updateCheckpoint(ctx context.Context, spec *Spec, st *State) (*State, error) {
	objs, err := s.journalObjects(ctx, journalPrefix(runPrefix(spec)), nil)
	if err != nil {
		return st, err
	}
	if coverHolds(st, objs) {
		err = s.mergeTails(ctx, spec, st, objs)
	}
	var bad *badObject
	if !coverHolds(st, objs) || errors.As(err, &bad) {
		// The journal lost what st holds (an object put in quarantine), or
		// has a damaged object: read again, the damage put aside.
		if st, _, err = s.loadState(ctx, spec, true); err != nil {
			return st, err
		}
	} else if err != nil {
		return st, err
	}
	if st.checkpointed {
		return st, nil
	}
	return st, s.writeCheckpoint(ctx, spec, st)
}

// writeCheckpoint writes st as the checkpoint of spec's execution.
func (s *Store) writeCheckpoint(ctx context.Context, spec *Spec, st *State) error {
	if st.outs == nil {
		return fmt.Errorf("store: execution %q: a checkpoint needs the outputs", spec.ID)
	}
	// Two passes over the sections: their sizes and checksums for the
	// header, then the bytes, without holding them.
	var elems, outs section
	ecrc, ocrc := crc32.New(castagnoli), crc32.New(castagnoli)
	st.encodeElements(func(b []byte) { elems.Size += int64(len(b)); ecrc.Write(b) })
	st.encodeOutputs(func(b []byte) { outs.Size += int64(len(b)); ocrc.Write(b) })
	elems.CRC32C, outs.CRC32C = ecrc.Sum32(), ocrc.Sum32()
	h := checkpointHeader{N: st.n, Time: time.Now().UTC(), Counts: st.Counts(), Journal: make([]covered, 0, len(st.cover)),
		Elements: elems, Outputs: outs}
	for rel, size := range st.cover {
		h.Journal = append(h.Journal, covered{rel, size})
	}
	slices.SortFunc(h.Journal, func(a, b covered) int { return strings.Compare(a.Key, b.Key) })
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("store: execution %q: encoding its checkpoint: %w", spec.ID, err)
	}
	if len(hdr) > maxCheckpointHeader {
		return fmt.Errorf("store: execution %q: its checkpoint's header has %d bytes, more than the %d the store reads", spec.ID, len(hdr), maxCheckpointHeader)
	}
	key := checkpointKey(spec)
	w, err := s.bucket.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return wrap("writing", key, err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var head [checkpointPrefix]byte
	copy(head[:], checkpointMagic)
	binary.LittleEndian.PutUint32(head[8:], checkpointVersion)
	binary.LittleEndian.PutUint32(head[12:], uint32(len(hdr)))
	binary.LittleEndian.PutUint32(head[16:], crc32.Checksum(hdr, castagnoli))
	write := func(b []byte) { bw.Write(b) } // its error is kept, and returned by Flush
	write(head[:])
	write(hdr)
	st.encodeElements(write)
	st.encodeOutputs(write)
	if err := bw.Flush(); err != nil {
		_ = w.Close()
		return wrap("writing", key, err)
	}
	if err := w.Close(); err != nil {
		return wrap("writing", key, err)
	}
	st.checkpointed = true
	return nil
}

// Track makes w keep the merged journal of its execution up to date as it
// writes, so that its Checkpoint need not read back what it wrote: base is
// the State LoadState returned (with outputs), or nil for a journal w
// starts (an execution just created). w owns base from then on, and copies
// the outputs of what it appends. It costs about 50 bytes per element, plus
// the outputs, for as long as w lives. Call it before the first Append.
func (w *JournalWriter) Track(base *State) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case base == nil:
		base = newState(w.spec.N, true)
	case base.n != w.spec.N:
		return fmt.Errorf("store: execution %q: tracking a journal of %d elements, not %d", w.spec.ID, base.n, w.spec.N)
	case base.outs == nil:
		return fmt.Errorf("store: execution %q: tracking a journal loaded without its outputs", w.spec.ID)
	}
	w.track = base
	return nil
}

// tracked merges recs, just written as the bytes [at, at+size) of the
// journal object key, into the tracked State.
func (w *JournalWriter) tracked(key string, at, size int64, recs []Record) {
	st := w.track
	if st == nil {
		return
	}
	for k := range recs {
		st.merge(&recs[k])
	}
	st.checkpointed = false
	// What w holds of the object it writes stays in w (pend) until it
	// writes another (blob stores: one per Append) or checkpoints: a local
	// segment costs no map update per Append.
	if key == w.pendKey && at == w.pendEnd {
		w.pendEnd = at + size
		return
	}
	w.flushCover()
	if rel := strings.TrimPrefix(key, w.prefix); st.cover[rel] == at {
		w.pendKey, w.pendEnd = key, at+size
	}
}

// flushCover records in the tracked State what w holds of the object it
// wrote last.
func (w *JournalWriter) flushCover() {
	if w.pendKey != "" {
		w.track.cover[strings.TrimPrefix(w.pendKey, w.prefix)] = w.pendEnd
		w.pendKey = ""
	}
}

// Checkpoint writes the checkpoint of w's execution (see Store.Checkpoint):
// from what w tracked (Track) and what other writers (workers) wrote to the
// journal since, which it reads. Without Track, it is Store.Checkpoint.
// When nothing was written since the checkpoint the tracked State was read
// from, it writes nothing.
func (w *JournalWriter) Checkpoint(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.track == nil {
		return w.s.Checkpoint(ctx, w.spec.ID)
	}
	w.flushCover()
	st, err := w.s.updateCheckpoint(ctx, w.spec, w.track)
	if st != nil {
		w.track = st
	}
	return err
}
