// Package store keeps maptask's durable state in a blob store through
// gocloud.dev/blob: executions (spec, inputs in an indexed layout, a journal of
// element outcomes, logs, the verdict) and the result cache. A local directory is
// the default; any gocloud URL (s3://, gs://, azblob://, mem://) works.
//
// Layout, relative to the bucket:
//
//	executions/<id>/spec.json                  written last by CreateExecution
//	executions/<id>/inputs.data                encoded inputs, concatenated
//	executions/<id>/inputs.index               N+1 little-endian uint64 offsets
//	executions/<id>/bound                      encoded bound value, if any
//	executions/<id>/journal/<writer>/<seq>.jsonl  element outcomes, JSON Lines
//	executions/<id>/logs/<index>/<attempt>.log
//	executions/<id>/verdict.json
//	executions/<id>/cancel                     a request to stop the running map
//	cache/<key[:2]>/<key>                      encoded outputs by cache key
//
// Every object is written whole (a blob store has no appends), so readers never
// see half an object. Ids and writers are validated: input never escapes its
// place in the store.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// for tests and throwaway maps
	_ "gocloud.dev/blob/s3blob"  // s3:// and S3-compatible servers
	"gocloud.dev/gcerrors"
)

// Store is an open store. It is safe for concurrent use.
type Store struct {
	bucket *blob.Bucket
	url    string

	mu   sync.Mutex
	seqs map[string]int // next journal sequence number per execution/writer
}

// DefaultURL is where executions live unless told otherwise: $MAPTASK_STORE, or
// a "maptask" directory in the user's cache directory.
func DefaultURL() string {
	if u := os.Getenv("MAPTASK_STORE"); u != "" {
		return u
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return "file://" + filepath.Join(dir, "maptask")
}

// Open opens the store at u: a gocloud.dev/blob URL, or a plain directory path.
// A local directory is created if missing.
func Open(ctx context.Context, u string) (*Store, error) {
	dir, isDir, err := localDir(u)
	if err != nil {
		return nil, err
	}
	if isDir {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("store: %s: %w", u, err)
		}
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", u, err)
		}
		return New(b, "file://"+dir), nil
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", u, err)
	}
	return New(b, u), nil
}

// localDir tells whether u names a local directory (a path or a plain file://
// URL) and returns it as an absolute path.
func localDir(u string) (string, bool, error) {
	if !strings.Contains(u, "://") {
		if u == "" {
			return "", false, errors.New("store: empty store URL")
		}
		abs, err := filepath.Abs(u)
		return abs, true, err
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", false, fmt.Errorf("store: %q: %w", u, err)
	}
	if p.Scheme != "file" || p.RawQuery != "" {
		return "", false, nil
	}
	path := p.Path
	if p.Host == "." {
		path = "." + path
	} else if p.Host != "" && p.Host != "localhost" {
		return "", false, fmt.Errorf("store: %q: a file URL names no host (file:///abs/dir)", u)
	}
	abs, err := filepath.Abs(path)
	return abs, true, err
}

// New wraps an open bucket; u is how it is named in messages and to workers.
// Close closes the bucket.
func New(b *blob.Bucket, u string) *Store {
	return &Store{bucket: b, url: u, seqs: map[string]int{}}
}

// URL returns the store's URL, as workers on other machines should open it.
func (s *Store) URL() string { return s.url }

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

var idRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidateID checks an execution id (or journal writer name): 1 to 128 letters,
// digits, '.', '_' or '-', not starting with '.' or '-'.
func ValidateID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("maptask: execution id %q: must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.' or '-'", id)
	}
	return nil
}

func execKey(id, name string) string { return "executions/" + id + "/" + name }

// read returns a whole object; a missing one is an error wrapping ErrNotFound.
func (s *Store) read(ctx context.Context, key string) ([]byte, error) {
	data, err := s.bucket.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("store: %s in %s: %w", key, s.url, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", key, err)
	}
	return data, nil
}

func (s *Store) write(ctx context.Context, key string, data []byte) error {
	if err := s.bucket.WriteAll(ctx, key, data, nil); err != nil {
		return fmt.Errorf("store: writing %s: %w", key, err)
	}
	return nil
}

func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", key, err)
	}
	return ok, nil
}

// readRange reads length bytes at offset of key.
func (s *Store) readRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if length == 0 {
		return []byte{}, nil
	}
	r, err := s.bucket.NewRangeReader(ctx, key, offset, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("store: %s in %s: %w", key, s.url, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", key, err)
	}
	defer r.Close()
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("store: reading %s at %d: %w (%w)", key, offset, err, ErrCorrupt)
	}
	return buf, nil
}

// InputsDigest fingerprints an input list in its stored layout.
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

// CacheKey is the cache key of one element: its task, cache version, bound
// value and input, each length-prefixed so that no two tuples collide.
func CacheKey(task, version string, bound, input []byte) string {
	h := sha256.New()
	var b [8]byte
	for _, f := range [][]byte{[]byte(task), []byte(version), bound, input} {
		binary.LittleEndian.PutUint64(b[:], uint64(len(f)))
		h.Write(b[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CreateExecution stores a new execution: inputs, bound value, then the spec,
// whose presence marks the execution complete. It refuses an existing one.
func (s *Store) CreateExecution(ctx context.Context, spec Spec, data []byte, offsets []uint64, bound []byte) error {
	if err := ValidateID(spec.ID); err != nil {
		return err
	}
	if len(offsets) != spec.N+1 || offsets[0] != 0 || offsets[spec.N] != uint64(len(data)) {
		return fmt.Errorf("store: execution %q: %d offsets for %d inputs of %d bytes", spec.ID, len(offsets), spec.N, len(data))
	}
	for i := 1; i < len(offsets); i++ {
		if offsets[i] < offsets[i-1] {
			return fmt.Errorf("store: execution %q: input offsets decrease at %d", spec.ID, i)
		}
	}
	specKey := execKey(spec.ID, "spec.json")
	if ok, err := s.exists(ctx, specKey); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("store: execution %q in %s: %w", spec.ID, s.url, ErrExists)
	}
	index := make([]byte, 8*len(offsets))
	for i, o := range offsets {
		binary.LittleEndian.PutUint64(index[8*i:], o)
	}
	if err := s.write(ctx, execKey(spec.ID, "inputs.data"), data); err != nil {
		return err
	}
	if err := s.write(ctx, execKey(spec.ID, "inputs.index"), index); err != nil {
		return err
	}
	if bound != nil {
		if err := s.write(ctx, execKey(spec.ID, "bound"), bound); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return s.write(ctx, specKey, js)
}

// LoadSpec returns an execution's spec.
func (s *Store) LoadSpec(ctx context.Context, id string) (*Spec, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	key := execKey(id, "spec.json")
	data, err := s.read(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("maptask: execution %q not found in store %s: %w", id, s.url, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("store: %s: %w: %v", key, ErrCorrupt, err)
	}
	if spec.ID != id || spec.N < 0 {
		return nil, fmt.Errorf("store: %s: %w: spec names execution %q with %d inputs", key, ErrCorrupt, spec.ID, spec.N)
	}
	return &spec, nil
}

// ListExecutions returns the specs of every execution in the store, oldest first.
func (s *Store) ListExecutions(ctx context.Context) ([]Spec, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: "executions/", Delimiter: "/"})
	var specs []Spec
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("store: listing executions in %s: %w", s.url, err)
		}
		if !obj.IsDir {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(obj.Key, "executions/"), "/")
		spec, err := s.LoadSpec(ctx, id)
		if errors.Is(err, ErrNotFound) || ValidateID(id) != nil {
			continue // being created, or not ours
		}
		if err != nil {
			return nil, err
		}
		specs = append(specs, *spec)
	}
	sort.Slice(specs, func(i, j int) bool {
		if !specs[i].Created.Equal(specs[j].Created) {
			return specs[i].Created.Before(specs[j].Created)
		}
		return specs[i].ID < specs[j].ID
	})
	return specs, nil
}

// ReadInput returns the encoded input of element i, reading only its bytes.
func (s *Store) ReadInput(ctx context.Context, id string, i int) ([]byte, error) {
	in, err := s.ReadInputs(ctx, id, i, i+1)
	if err != nil {
		return nil, err
	}
	return in[0], nil
}

// ReadInputs returns the encoded inputs of elements [from, to) with two ranged
// reads: one of the index, one of the data.
func (s *Store) ReadInputs(ctx context.Context, id string, from, to int) ([][]byte, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	idxKey := execKey(id, "inputs.index")
	attrs, err := s.bucket.Attributes(ctx, idxKey)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("maptask: inputs of execution %q not found in store %s: %w", id, s.url, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", idxKey, err)
	}
	n := int(attrs.Size/8) - 1
	if from < 0 || to > n || from >= to {
		return nil, fmt.Errorf("store: execution %q: inputs [%d, %d) out of range: it has %d inputs", id, from, to, n)
	}
	raw, err := s.readRange(ctx, idxKey, int64(8*from), int64(8*(to-from+1)))
	if err != nil {
		return nil, err
	}
	offs := make([]uint64, to-from+1)
	for k := range offs {
		offs[k] = binary.LittleEndian.Uint64(raw[8*k:])
		if k > 0 && offs[k] < offs[k-1] {
			return nil, fmt.Errorf("store: %s: %w: offsets decrease at %d", idxKey, ErrCorrupt, from+k)
		}
	}
	data, err := s.readRange(ctx, execKey(id, "inputs.data"), int64(offs[0]), int64(offs[len(offs)-1]-offs[0]))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, to-from)
	for k := range out {
		out[k] = data[offs[k]-offs[0] : offs[k+1]-offs[0] : offs[k+1]-offs[0]]
	}
	return out, nil
}

// ReadBound returns the execution's encoded bound value, or nil when it has none.
func (s *Store) ReadBound(ctx context.Context, id string) ([]byte, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	data, err := s.read(ctx, execKey(id, "bound"))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return data, err
}

// PutVerdict records the outcome of a run of the execution.
func (s *Store) PutVerdict(ctx context.Context, id string, v Verdict) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.write(ctx, execKey(id, "verdict.json"), js)
}

// LoadVerdict returns the last recorded verdict.
func (s *Store) LoadVerdict(ctx context.Context, id string) (*Verdict, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	key := execKey(id, "verdict.json")
	data, err := s.read(ctx, key)
	if err != nil {
		return nil, err
	}
	var v Verdict
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("store: %s: %w: %v", key, ErrCorrupt, err)
	}
	return &v, nil
}

// SetCancel asks the running map of the execution to stop.
func (s *Store) SetCancel(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	return s.write(ctx, execKey(id, "cancel"), []byte("cancel\n"))
}

// ClearCancel withdraws a cancel request, as a resumed run does before it starts.
func (s *Store) ClearCancel(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	err := s.bucket.Delete(ctx, execKey(id, "cancel"))
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("store: %s: %w", execKey(id, "cancel"), err)
	}
	return nil
}

// Cancelled reports whether a cancel was requested.
func (s *Store) Cancelled(ctx context.Context, id string) (bool, error) {
	if err := ValidateID(id); err != nil {
		return false, err
	}
	return s.exists(ctx, execKey(id, "cancel"))
}

var keyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func cacheObject(key string) (string, error) {
	if !keyRE.MatchString(key) {
		return "", fmt.Errorf("store: cache key %q: must be 64 lowercase hex digits", key)
	}
	return "cache/" + key[:2] + "/" + key, nil
}

// CacheGet returns the cached output under key, or an error wrapping ErrNotFound.
func (s *Store) CacheGet(ctx context.Context, key string) ([]byte, error) {
	obj, err := cacheObject(key)
	if err != nil {
		return nil, err
	}
	return s.read(ctx, obj)
}

// CachePut stores output under key.
func (s *Store) CachePut(ctx context.Context, key string, output []byte) error {
	obj, err := cacheObject(key)
	if err != nil {
		return err
	}
	return s.write(ctx, obj, output)
}

// PutLog keeps the log of one attempt of one element.
func (s *Store) PutLog(ctx context.Context, id string, index, attempt int, data []byte) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if index < 0 || attempt < 0 {
		return fmt.Errorf("store: log of element %d attempt %d: negative", index, attempt)
	}
	return s.write(ctx, execKey(id, fmt.Sprintf("logs/%d/%d.log", index, attempt)), data)
}

// ReadLogs returns the logs of every attempt of element index, by attempt.
func (s *Store) ReadLogs(ctx context.Context, id string, index int) ([]AttemptLog, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	prefix := execKey(id, fmt.Sprintf("logs/%d/", index))
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	logs := []AttemptLog{}
	for _, k := range keys {
		var a int
		if _, err := fmt.Sscanf(strings.TrimPrefix(k, prefix), "%d.log", &a); err != nil {
			continue
		}
		data, err := s.read(ctx, k)
		if err != nil {
			return nil, err
		}
		logs = append(logs, AttemptLog{Attempt: a, Data: data})
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i].Attempt < logs[j].Attempt })
	return logs, nil
}

// list returns the keys of the objects under prefix, in key order.
func (s *Store) list(ctx context.Context, prefix string) ([]string, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	var keys []string
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("store: listing %s: %w", prefix, err)
		}
		if !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
}
