package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"
)

// InputsDigest fingerprints an input list in its stored layout: sha256 (hex)
// over the offsets, each as 8 little-endian bytes, then the data.
func InputsDigest(data []byte, offsets []uint64) string {
	h := sha256.New()
	var b [8]byte
	for _, o := range offsets {
		binary.LittleEndian.PutUint64(b[:], o)
		h.Write(b[:])
	}
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// executionNotFound names a missing execution the way users see it.
func (s *Store) executionNotFound(id string) error {
	return fmt.Errorf("maptask: execution %q %w in store %s", id, ErrNotFound, s.url)
}

// CreateExecution stores a new execution: its N inputs (data, cut at offsets:
// element i is data[offsets[i]:offsets[i+1]]), its bound value when bound is
// not nil, then the spec, whose presence marks the execution complete. It
// refuses, writing nothing, an execution that already exists (an error wrapping
// ErrExists). The inputs are written once, whole: the cost is that of
// uploading data.
//
// It is exclusive on every store: the spec is written create-only
// (IfNotExist: a hard link in a local directory, If-None-Match on S3), so of
// creators racing for one id exactly one succeeds, and the others remove
// what they wrote. It sets spec.Version to SpecVersion and spec.Inputs to a
// fresh name: the journal, logs, verdict and cancel request of the execution
// live under that name, so an execution created again under the id of a
// deleted one starts with none of them.
func (s *Store) CreateExecution(ctx context.Context, spec Spec, data []byte, offsets []uint64, bound []byte) error {
	if err := ValidateID(spec.ID); err != nil {
		return err
	}
	if err := checkOffsets(spec.N, len(data), offsets); err != nil {
		return fmt.Errorf("store: execution %q: %w", spec.ID, err)
	}
	if s.keyErr != nil {
		return s.keyErr
	}
	specKey := execKey(spec.ID, "spec.json")
	if ok, err := s.exists(ctx, specKey); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("store: execution %q in %s: %w", spec.ID, s.url, ErrExists)
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	spec.Inputs = "inputs-" + hex.EncodeToString(nonce[:])
	spec.Version = SpecVersion
	file := specFile{Spec: spec}
	if s.key != nil {
		var err error
		if file.MAC, err = s.specMAC(specKey, &spec); err != nil {
			return fmt.Errorf("store: execution %q: encoding its spec: %w", spec.ID, err)
		}
	}
	js, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("store: execution %q: encoding its spec: %w", spec.ID, err)
	}
	if len(js) > MaxSpecSize {
		return fmt.Errorf("store: execution %q: its spec has %d bytes, more than the %d the store keeps (a long command, or many labels)", spec.ID, len(js), MaxSpecSize)
	}
	if len(bound) > MaxBoundSize {
		return fmt.Errorf("store: execution %q: its bound value has %d bytes, more than the %d the store keeps", spec.ID, len(bound), MaxBoundSize)
	}
	index := make([]byte, 8*len(offsets))
	for i, o := range offsets {
		binary.LittleEndian.PutUint64(index[8*i:], o)
	}
	keys := inputObjects(&spec)
	if bound != nil {
		bound = s.seal(keys.bound, bound)
	}
	written := []string{}
	for _, obj := range []struct {
		key  string
		data []byte
	}{{keys.data, data}, {keys.index, index}, {keys.bound, bound}} {
		if obj.data == nil {
			continue
		}
		if err := s.write(ctx, obj.key, obj.data); err != nil {
			return err
		}
		written = append(written, obj.key)
	}
	// The spec is written only if no racing creator wrote one first; the loser
	// removes its own inputs, which no spec names.
	created, err := s.createOnly(ctx, specKey, js)
	if err == nil && !created {
		err = fmt.Errorf("store: execution %q in %s: %w", spec.ID, s.url, ErrExists)
	}
	if err != nil {
		for _, k := range written {
			_ = s.bucket.Delete(context.WithoutCancel(ctx), k)
		}
		return err
	}
	s.keepSpec(spec)
	return nil
}

// inputKeys are the keys of an execution's input objects.
type inputKeys struct{ data, index, bound string }

func inputObjects(spec *Spec) inputKeys {
	if spec.Inputs == "" {
		return inputKeys{execKey(spec.ID, "inputs.data"), execKey(spec.ID, "inputs.index"), execKey(spec.ID, "bound")}
	}
	p := execKey(spec.ID, spec.Inputs)
	return inputKeys{p + ".data", p + ".index", p + ".bound"}
}

// inputsOf returns where execution id keeps its inputs, from its spec.
func (s *Store) inputsOf(ctx context.Context, id string) (inputKeys, error) {
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return inputKeys{}, err
	}
	return inputObjects(spec), nil
}

// checkOffsets checks an input index: n+1 non-decreasing offsets from 0 to size.
func checkOffsets(n, size int, offsets []uint64) error {
	if n < 0 {
		return fmt.Errorf("N %d: must be >= 0", n)
	}
	if len(offsets) != n+1 {
		return fmt.Errorf("%d input offsets for %d inputs: want %d", len(offsets), n, n+1)
	}
	if offsets[0] != 0 {
		return fmt.Errorf("input offset 0 is %d: want 0", offsets[0])
	}
	for i := 1; i < len(offsets); i++ {
		if offsets[i] < offsets[i-1] {
			return fmt.Errorf("input offsets decrease at %d (%d < %d)", i, offsets[i], offsets[i-1])
		}
	}
	if offsets[n] != uint64(size) {
		return fmt.Errorf("input offsets end at %d, the data has %d bytes", offsets[n], size)
	}
	return nil
}

// LoadSpec returns an execution's spec. A missing execution is an error wrapping
// ErrNotFound; a spec that does not parse, is larger than MaxSpecSize, or
// whose N the size of the input index contradicts, wraps ErrCorrupt. Its N
// can be trusted to allocate by: the index holds N+1 offsets of 8 bytes.
func (s *Store) LoadSpec(ctx context.Context, id string) (*Spec, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if s.keyErr != nil {
		return nil, s.keyErr
	}
	key := execKey(id, "spec.json")
	data, err := s.readCapped(ctx, key, "a spec", MaxSpecSize, 0)
	if errors.Is(err, ErrNotFound) {
		return nil, s.executionNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	var file specFile
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("store: %s: %w: %v", key, ErrCorrupt, err)
	}
	if err := s.checkSpec(key, &file); err != nil {
		return nil, err
	}
	spec := file.Spec
	if spec.ID != id || spec.N < 0 {
		return nil, fmt.Errorf("store: %s: %w: it names execution %q with %d inputs", key, ErrCorrupt, spec.ID, spec.N)
	}
	if spec.Inputs != "" && validateName("", spec.Inputs) != nil {
		return nil, fmt.Errorf("store: %s: %w: inputs %q", key, ErrCorrupt, spec.Inputs)
	}
	switch {
	case spec.Version == 0: // written before versions: the first layout
		spec.Version = 1
	case spec.Version < 0:
		return nil, fmt.Errorf("store: %s: %w: version %d", key, ErrCorrupt, spec.Version)
	case spec.Version > SpecVersion:
		return nil, fmt.Errorf("store: %s: execution %q has format version %d, newer than the %d this maptask reads: upgrade maptask", key, id, spec.Version, SpecVersion)
	case !strings.HasPrefix(spec.Inputs, "inputs-"):
		// From version 2 on, Inputs names the creation's directory too.
		return nil, fmt.Errorf("store: %s: %w: version %d with inputs %q", key, ErrCorrupt, spec.Version, spec.Inputs)
	}
	idx := inputObjects(&spec).index
	n, err := s.inputCount(ctx, id, idx)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("store: inputs of execution %q: %w: %w: %s is missing", id, ErrCorrupt, ErrInputsMissing, idx)
	}
	if err != nil {
		return nil, err
	}
	if n != spec.N {
		return nil, fmt.Errorf("store: %s: %w: it says %d inputs, %s holds %d", key, ErrCorrupt, spec.N, idx, n)
	}
	s.keepSpec(spec) // for specOf: the caller may change what it gets
	return &spec, nil
}

// specLoaders bounds the specs ListExecutions reads at once.
const specLoaders = 8

// ListExecutions returns the specs of every complete execution in the store,
// oldest first (by Created, then ID). Executions still being created (no spec
// yet) are left out. It reads every spec, a few at a time; one that cannot be
// read is an error (ScanExecutions lists the others).
func (s *Store) ListExecutions(ctx context.Context) ([]Spec, error) {
	specs, bad, err := s.ScanExecutions(ctx)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, bad[0].Err
	}
	return specs, nil
}

// ExecutionError is an execution whose spec ScanExecutions could not read.
type ExecutionError struct {
	ID  string
	Err error
}

// Error names the execution and why it could not be read.
func (e *ExecutionError) Error() string { return fmt.Sprintf("execution %q: %v", e.ID, e.Err) }

// Unwrap returns why the execution could not be read.
func (e *ExecutionError) Unwrap() error { return e.Err }

// ScanExecutions is ListExecutions for a store that may hold damaged
// executions: it returns the specs it could read, oldest first, and, by id,
// the executions whose spec it could not (corrupt, over its limit, a symbolic
// link, a failed integrity check). err is for the listing itself.
func (s *Store) ScanExecutions(ctx context.Context) (specs []Spec, bad []ExecutionError, err error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: "executions/", Delimiter: "/"})
	var ids []string
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, wrap("listing executions in", s.url, err)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(obj.Key, "executions/"), "/")
		if obj.IsDir && ValidateID(id) == nil {
			ids = append(ids, id)
		}
	}
	read := make([]*Spec, len(ids))
	errs := make([]error, len(ids))
	// A few loaders for all: a goroutine per execution would grow a new
	// stack for each.
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(specLoaders, len(ids)) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return nil
				}
				spec, err := s.LoadSpec(gctx, ids[i])
				switch {
				case errors.Is(err, ErrNotFound): // being created
				case err != nil && ctx.Err() != nil:
					return err
				case err != nil:
					errs[i] = err
				default:
					read[i] = spec
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	specs = make([]Spec, 0, len(read))
	for i, spec := range read {
		if spec != nil {
			specs = append(specs, *spec)
		}
		if errs[i] != nil {
			bad = append(bad, ExecutionError{ID: ids[i], Err: errs[i]})
		}
	}
	sort.Slice(specs, func(i, j int) bool {
		if !specs[i].Created.Equal(specs[j].Created) {
			return specs[i].Created.Before(specs[j].Created)
		}
		return specs[i].ID < specs[j].ID
	})
	return specs, bad, nil
}

// ReadInput returns the encoded input of element i with two ranged reads: 16
// bytes of the index, then the element's bytes.
func (s *Store) ReadInput(ctx context.Context, id string, i int) ([]byte, error) {
	in, err := s.readInputs(ctx, id, i, i+1, func(n int) string {
		return fmt.Sprintf("input %d out of range: the execution has %d inputs", i, n)
	})
	if err != nil {
		return nil, err
	}
	return in[0], nil
}

// ReadInputs returns the encoded inputs of elements [from, to) with two ranged
// reads: one of the index, one of the data. The slices share one buffer.
func (s *Store) ReadInputs(ctx context.Context, id string, from, to int) ([][]byte, error) {
	return s.readInputs(ctx, id, from, to, func(n int) string {
		return fmt.Sprintf("inputs [%d, %d) out of range: the execution has %d inputs", from, to, n)
	})
}

func (s *Store) readInputs(ctx context.Context, id string, from, to int, outOfRange func(n int) string) ([][]byte, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	keys, err := s.inputsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	idxKey := keys.index
	rangeErr := func(cause error) error {
		n, err := s.inputCount(ctx, id, idxKey)
		if err != nil {
			return err
		}
		if cause == nil || from < 0 || to < from || to > n {
			return fmt.Errorf("store: execution %q: %s", id, outOfRange(n))
		}
		return cause
	}
	if from < 0 || to < from || to >= 1<<59 {
		return nil, rangeErr(nil)
	}
	raw, err := s.readRange(ctx, idxKey, 8*int64(from), 8*int64(to-from+1))
	if errors.Is(err, ErrNotFound) {
		return nil, s.executionNotFound(id)
	}
	if err != nil {
		// Past the end of the index: out of range, or (S3) an invalid range.
		return nil, rangeErr(err)
	}
	offs := make([]uint64, to-from+1)
	for k := range offs {
		offs[k] = binary.LittleEndian.Uint64(raw[8*k:])
		if k > 0 && offs[k] < offs[k-1] {
			return nil, fmt.Errorf("store: %s: %w: offsets decrease at %d", idxKey, ErrCorrupt, from+k)
		}
	}
	dataKey := keys.data
	first, last := offs[0], offs[len(offs)-1]
	if last > 1<<62 {
		return nil, fmt.Errorf("store: %s: %w: offset %d at %d", idxKey, ErrCorrupt, last, to)
	}
	data, err := s.readRange(ctx, dataKey, int64(first), int64(last-first))
	if errors.Is(err, ErrNotFound) {
		return nil, s.executionNotFound(id)
	}
	if errors.Is(err, errShort) {
		return nil, fmt.Errorf("store: %s: %w: shorter than %s says", dataKey, ErrCorrupt, idxKey)
	}
	if err != nil {
		return nil, err
	}
	out := make([][]byte, to-from)
	for k := range out {
		lo, hi := offs[k]-first, offs[k+1]-first
		out[k] = data[lo:hi:hi]
	}
	return out, nil
}

// ReadAllInputs returns the inputs of execution id as they are stored, which
// is as CreateExecution took them: data, cut at offsets (N+1 of them: element
// i is data[offsets[i]:offsets[i+1]]). It costs two reads, of the index and
// of the data, and no decoding: a resume that takes its inputs from the store
// (maptask resume) can hand them on as they are, and check them, if at all,
// by InputsDigest(data, offsets) against the spec's InputsDigest, without
// encoding a single value.
func (s *Store) ReadAllInputs(ctx context.Context, id string) (data []byte, offsets []uint64, err error) {
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	spec, err := s.specOf(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	keys := inputObjects(spec)
	raw, err := s.readRange(ctx, keys.index, 0, 8*int64(spec.N+1))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, s.executionNotFound(id)
	}
	if errors.Is(err, errShort) {
		return nil, nil, fmt.Errorf("store: %s: %w: shorter than %d inputs", keys.index, ErrCorrupt, spec.N)
	}
	if err != nil {
		return nil, nil, err
	}
	offsets = make([]uint64, spec.N+1)
	for k := range offsets {
		offsets[k] = binary.LittleEndian.Uint64(raw[8*k:])
	}
	if offsets[spec.N] > 1<<62 {
		return nil, nil, fmt.Errorf("store: %s: %w: offset %d at %d", keys.index, ErrCorrupt, offsets[spec.N], spec.N)
	}
	data, err = s.readRange(ctx, keys.data, 0, int64(offsets[spec.N]))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, s.executionNotFound(id)
	}
	if errors.Is(err, errShort) {
		return nil, nil, fmt.Errorf("store: %s: %w: shorter than %s says", keys.data, ErrCorrupt, keys.index)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := checkOffsets(spec.N, len(data), offsets); err != nil {
		return nil, nil, fmt.Errorf("store: %s: %w: %v", keys.index, ErrCorrupt, err)
	}
	return data, offsets, nil
}

// inputCount returns N as the size of the execution's index says.
func (s *Store) inputCount(ctx context.Context, id, key string) (int, error) {
	var size int64
	if s.local != nil {
		var err error
		if err = ctx.Err(); err == nil {
			size, err = s.local.size(key)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return 0, s.executionNotFound(id)
		}
		if err != nil {
			return 0, wrap("reading the size of", key, err)
		}
	} else {
		attrs, err := s.bucket.Attributes(ctx, key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			return 0, s.executionNotFound(id)
		}
		if err != nil {
			return 0, wrap("reading the size of", key, err)
		}
		size = attrs.Size
	}
	if size < 8 || size%8 != 0 {
		return 0, fmt.Errorf("store: %s: %w: %d bytes", key, ErrCorrupt, size)
	}
	return int(size/8) - 1, nil
}

// ReadBound returns the execution's encoded bound value, or nil when it has none.
func (s *Store) ReadBound(ctx context.Context, id string) ([]byte, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	keys, err := s.inputsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	data, err := s.readCapped(ctx, keys.bound, "a bound value", MaxBoundSize, macHeader)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.unseal(keys.bound, data)
}

// PutVerdict records the outcome of a run of the execution, replacing the
// previous run's.
func (s *Store) PutVerdict(ctx context.Context, id string, v Verdict) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if len(v.Error) > maxErrLen {
		v.Error = v.Error[:maxErrLen] + " [... cut: the store keeps " + strconv.Itoa(maxErrLen) + " bytes of an error]"
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("store: execution %q: encoding its verdict: %w", id, err)
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return err
	}
	return s.write(ctx, run+"verdict.json", js)
}

// LoadVerdict returns the last recorded verdict: an error wrapping ErrNotFound
// before the first run ends, ErrCorrupt when it does not parse.
func (s *Store) LoadVerdict(ctx context.Context, id string) (*Verdict, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return nil, err
	}
	key := run + "verdict.json"
	data, err := s.readCapped(ctx, key, "a verdict", MaxVerdictSize, 0)
	if err != nil {
		return nil, err
	}
	var v Verdict
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("store: %s: %w: %v", key, ErrCorrupt, err)
	}
	return &v, nil
}

// SetCancel asks the running map of the execution to stop; the driver polls
// Cancelled.
func (s *Store) SetCancel(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return err
	}
	return s.write(ctx, run+"cancel", []byte("cancel\n"))
}

// ClearCancel withdraws a cancel request, as a resumed run does before it
// starts. Clearing when there is none is not an error.
func (s *Store) ClearCancel(ctx context.Context, id string) error {
	return s.deleteRunObject(ctx, id, "cancel")
}

// ClearVerdict removes the verdict of the execution's last run, as a new run
// starts: an execution with a verdict is one whose last run ended, so its
// counts can be read from the verdict alone (maptask ls). Clearing when there
// is none is not an error.
func (s *Store) ClearVerdict(ctx context.Context, id string) error {
	return s.deleteRunObject(ctx, id, "verdict.json")
}

// deleteRunObject deletes one object of the execution's current creation; a
// missing one is no error.
func (s *Store) deleteRunObject(ctx context.Context, id, name string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return err
	}
	key := run + name
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return wrap("deleting", key, err)
	}
	return nil
}

// Cancelled reports whether a cancel was requested: one existence check.
func (s *Store) Cancelled(ctx context.Context, id string) (bool, error) {
	if err := ValidateID(id); err != nil {
		return false, err
	}
	run, err := s.runOf(ctx, id)
	if err != nil {
		return false, err
	}
	return s.exists(ctx, run+"cancel")
}

// DeleteExecution removes execution id and everything kept with it (inputs,
// journal, logs, verdict, lease). Its spec goes first, so an interrupted
// delete leaves an execution that is no longer listed nor resumable rather
// than a damaged one; deleting again removes the rest. The cache is shared by
// executions and is left alone. Deleting an execution that is not there is no
// error. The caller makes sure no driver runs it (see AcquireLease).
func (s *Store) DeleteExecution(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	keys, err := s.list(ctx, execKey(id, ""))
	if err != nil {
		return err
	}
	spec := execKey(id, "spec.json")
	if i := slices.Index(keys, spec); i > 0 {
		keys[0], keys[i] = keys[i], keys[0]
	}
	for _, key := range keys {
		if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return wrap("deleting", key, err)
		}
	}
	s.mu.Lock()
	delete(s.specs, id)
	s.mu.Unlock()
	return nil
}
