// Package store keeps maptask's durable state in a blob store through
// gocloud.dev/blob: executions (spec, inputs in an indexed layout, a journal of
// element outcomes, logs, the verdict) and the result cache. A local directory is
// the default, and mem:// works as it is; any other gocloud.dev/blob URL needs a
// blank import of its driver in the program's main package: s3:// (and
// S3-compatible servers) after
//
//	import _ "github.com/maptask/maptask/store/s3"
//
// gs:// after import _ "gocloud.dev/blob/gcsblob", azblob:// after import _
// "gocloud.dev/blob/azureblob". Cloud drivers are opt-in because they are
// heavy (the S3 driver links the AWS SDK); opening a URL whose driver is not
// linked is an error naming the import to add.
//
// Layout, relative to the bucket:
//
//	executions/<id>/spec.json                              written last by CreateExecution
//	executions/<id>/<inputs>.data                          encoded inputs, concatenated
//	executions/<id>/<inputs>.index                         N+1 little-endian uint64 offsets
//	executions/<id>/<inputs>.bound                         encoded bound value, if any
//	                                                       (<inputs> is Spec.Inputs, new per creation)
//	executions/<id>/<inputs>/journal/<writer>/<seq>.jsonl  element outcomes, JSON Lines
//	executions/<id>/<inputs>/checkpoint                    the journal compacted (see Checkpoints)
//	executions/<id>/<inputs>/logs/<index>/<attempt>.log    kept output of one attempt
//	executions/<id>/<inputs>/verdict.json                  outcome of the latest run
//	executions/<id>/<inputs>/cancel                        a request to stop the running map
//	cache/<key[:2]>/<key>                                  encoded outputs by cache key
//
// (A version 1 execution, written before Spec.Inputs existed, keeps the
// objects shown under <inputs>/ directly under executions/<id>/.)
//
// Every object is written whole (a blob store has no appends), so readers never
// see half an object, and no object is ever rewritten by two writers: the journal
// is one object per AppendRecords call. Ids and writer names are validated, so
// input never escapes its place in the store. Corrupt objects are reported with
// their key (wrapping ErrCorrupt) and left in place.
//
// # Checkpoints
//
// A checkpoint is an execution's journal compacted into one object: the
// latest record of every element, as LoadRecords merges them, and how many
// bytes of each journal object it holds. A driver writes one at the end of
// every run (JournalWriter.Checkpoint, from what it wrote and what workers
// wrote since; Store.Checkpoint from the journal), and LoadState reads it,
// then only what the journal holds beyond it: resuming or showing a finished
// execution of a million elements reads about 15 MB (its elements' entries
// and outputs; 8 MB without the outputs) instead of its whole journal.
//
// The journal stays the truth. Records written after a checkpoint apply on
// top of it; a checkpoint that holds more of a journal object than the
// object has (moved to quarantine, or shortened, since) is ignored, and so
// is one that is damaged (each part has a CRC-32C), cut short, or of a
// newer format: the journal is then read whole, and the next checkpoint
// replaces it. Its format (version 1: a binary layout after a JSON header) is
// described beside checkpointMagic in checkpoint.go; testdata/checkpoint-v1
// holds one as maptask wrote it (TestCheckpointFormatV1).
//
// # Local directories
//
// A store in a local directory is its owner's alone: the root directory is
// created 0700 when missing, every directory below it 0700 and every file 0600
// (objects are written to a temporary file, "<name>.<random>.tmp", beside them
// and renamed into place). Existing directories keep their modes.
//
// Ownership: when the process runs as root (euid 0) and the root directory
// belongs to another uid or gid, every directory and file the store creates is
// given (chown) to the root directory's owner and group. A root driver writing
// into a store that belongs to its workers' user (the Kubernetes backend's
// pods run as a non-root uid, such as 65532) thus leaves it readable and
// writable by them, with files still 0600.
//
// Symbolic links: the root directory may be, or pass through, a symbolic link;
// it is resolved once, by Open. Below it, the store never follows one: every
// key is walked from the root one path element at a time with O_NOFOLLOW, and
// a symbolic link met while reading, writing, deleting or listing is an error
// naming its path and wrapping ErrSymlink. A file that is not a regular file
// (a FIFO, a device) is refused too, wrapping ErrCorrupt.
//
// # Limits
//
// Readers bound what they read, so that a damaged or crafted store cannot
// crash them or make them take unbounded memory: objects read whole are
// refused, before they are read, above MaxSpecSize, MaxVerdictSize,
// MaxBoundSize, MaxOutputSize (cache entries) and MaxLogSize; journal objects
// are read as streams, line by line, each line at most MaxRecordSize; a
// spec's N must agree with the size of its input index (8*(N+1) bytes). Each
// such error wraps ErrCorrupt and names the object. Writers refuse what
// readers would refuse (a verdict's error message is cut instead).
//
// # Integrity key
//
// Whoever can write a store can change what it holds: without a key, that is
// running any command through maptask resume or through remote workers (a
// command map's command is its spec's bound value), and forging outputs
// through the cache. With MAPTASK_STORE_KEY set (EnvKey: a secret of at least
// MinKeySize bytes, used as it is; 64 hex digits from "openssl rand -hex 32"
// do), the store writes an HMAC-SHA256 under the key over the spec, the bound
// value and every cache entry, and checks it on every read: a missing or
// wrong MAC is an error wrapping ErrIntegrity that names the object ("store
// object X failed its integrity check: it was written without the key or
// modified"). The MAC covers the object's key in the store as well as its
// content, so an object copied to another place fails too. Remote workers
// read the key from their environment, as the driver does. The key never
// appears in an error or a log.
//
// A keyed spec.json carries "mac": 64 hex digits over the spec's compact JSON
// encoding (as it reads back). A keyed bound value or cache entry is the 8
// bytes "\x00mtHMAC1", the 32-byte MAC, then the payload. Without a key, the
// store writes neither, and reads both as before, a MAC dropped unchecked: a
// keyed store stays readable by a reader without the key, which then trusts
// it. The key does not cover the inputs, the journal (element outcomes and
// their outputs), logs, verdicts or cancel requests.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob" // mem:// for tests and throwaway maps
	"gocloud.dev/gcerrors"
)

// Store is an open store. It is safe for concurrent use by multiple goroutines;
// each method is a handful of blob operations and holds no lock across them.
type Store struct {
	bucket *blob.Bucket
	url    string
	key    []byte   // the integrity key, nil when there is none
	keyErr error    // why $MAPTASK_STORE_KEY is unusable, for a Store made by New
	local  localDir // the local directory driver, nil for other buckets

	mu    sync.Mutex
	seqs  map[string]int   // next journal sequence number per "id/writer"
	specs map[string]*Spec // specs read so far: a spec never changes once written

	merged atomic.Int64 // journal bytes LoadState and Checkpoint read and merged (for tests)
}

// DefaultURL is where executions live unless told otherwise: $MAPTASK_STORE, or
// a "maptask" directory in the user's cache directory. When there is neither
// (no $MAPTASK_STORE, no $HOME nor $XDG_CACHE_HOME), it is an error saying so:
// a store is never made in a shared temporary directory, where another user
// could plant what it runs.
func DefaultURL() (string, error) {
	if u := os.Getenv("MAPTASK_STORE"); u != "" {
		return u, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("maptask: no store given and no user cache directory to keep one in (%v): set MAPTASK_STORE to a directory or URL, or HOME", err)
	}
	return "file://" + filepath.Join(dir, "maptask"), nil
}

// Open opens the store at u: any gocloud.dev/blob URL whose driver is linked
// into the program (file:// and mem:// always are; s3:// after a blank import
// of package github.com/maptask/maptask/store/s3, see the package comment), or
// a plain directory path, absolute or relative. A URL whose driver is not
// linked is an error naming the import that links it. A local directory is
// created if missing. The integrity key is read from
// $MAPTASK_STORE_KEY; one too short is an error. The caller must Close the
// store.
func Open(ctx context.Context, u string) (*Store, error) {
	if u == "" {
		return nil, errors.New("store: empty store URL")
	}
	if _, err := keyFromEnv(); err != nil {
		return nil, err
	}
	if !strings.Contains(u, "://") { // a plain path
		dir, err := filepath.Abs(u)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", u, err)
		}
		return openDir(dir, u)
	}
	p, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", u, err)
	}
	if p.Scheme == "file" {
		// fileblob's own parameters are accepted, and moot: the store writes
		// no metadata, keeps temporary files beside their objects, always
		// creates the directory and signs no URLs. Modes are its own.
		for k := range p.Query() {
			switch k {
			case "create_dir", "no_tmp_dir", "metadata", "base_url", "secret_key_path":
			default:
				return nil, fmt.Errorf("store: %s: a file URL takes no parameter %q", u, k)
			}
		}
		dir, err := fileURLDir(p)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", u, err)
		}
		return openDir(dir, u)
	}
	if imp, ok := drivers[p.Scheme]; ok && !blob.DefaultURLMux().ValidBucketScheme(p.Scheme) {
		return nil, fmt.Errorf("store: %s: %w: add `import _ %q` to the program's main package", u, ErrNoDriver, imp)
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", u, err)
	}
	return New(b, u), nil
}

// Drivers are the blank imports that link a store URL scheme's driver, for
// the schemes a program does not link by default.
var drivers = map[string]string{
	"s3":     "github.com/maptask/maptask/store/s3",
	"gs":     "gocloud.dev/blob/gcsblob",
	"azblob": "gocloud.dev/blob/azureblob",
}

// ErrNoDriver is wrapped by the error Open returns for an s3://, gs:// or
// azblob:// store URL when the program does not link that scheme's driver;
// the error names the import that does. (Other unknown schemes get
// gocloud.dev/blob's error, which lists the schemes linked in.)
var ErrNoDriver = errors.New("no driver for this store URL scheme is linked into this program")

// openDir opens the local directory dir (absolute), creating it (0700) if
// missing. Temporary files are made beside their objects, so a rename
// publishes them atomically on any file system.
func openDir(dir, u string) (*Store, error) {
	b, _, err := openDirBucket(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", u, err)
	}
	return New(b, "file://"+filepath.ToSlash(dir)), nil
}

// fileURLDir returns the absolute directory a file:// URL names: file:///abs,
// file://localhost/abs, or file://./relative as fileblob reads it.
func fileURLDir(p *url.URL) (string, error) {
	path := p.Path
	switch p.Host {
	case "", "localhost":
	case ".":
		path = strings.TrimPrefix(path, "/")
	default:
		return "", fmt.Errorf("a file URL names no host (file:///abs/dir), got host %q", p.Host)
	}
	if path == "" {
		return "", errors.New("a file URL needs a directory (file:///abs/dir)")
	}
	return filepath.Abs(filepath.FromSlash(path))
}

// New wraps an open bucket; u is how the store is named in messages and how
// workers on other machines should open it. Close closes the bucket. The
// integrity key is read from $MAPTASK_STORE_KEY, as by Open; when it is too
// short, every read and write of an object it protects fails saying so.
func New(b *blob.Bucket, u string) *Store {
	key, err := keyFromEnv()
	return &Store{bucket: b, url: u, key: key, keyErr: err, local: localOf(b), seqs: map[string]int{}, specs: map[string]*Spec{}}
}

// URL returns the store's URL, as workers on other machines should open it. A
// plain directory given to Open is returned as an absolute file:// URL.
func (s *Store) URL() string { return s.url }

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// validName reports whether s matches ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$,
// without a regular expression: compiling that one cost every process that
// links the store (every worker) a millisecond and 120 kB at start-up.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidateID checks an execution id: 1 to 128 letters, digits, '.', '_' or '-',
// not starting with '.' or '-'. Such an id is one path element of the store,
// never "." or "..", so it cannot escape its place.
func ValidateID(id string) error { return validateName("execution id", id) }

func validateName(what, s string) error {
	if !validName(s) {
		return fmt.Errorf("maptask: %s %q: must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.' or '-'", what, s)
	}
	return nil
}

func execKey(id, name string) string { return "executions/" + id + "/" + name }

// notFound is the error for a missing object that has no better name.
func (s *Store) notFound(key string) error {
	return fmt.Errorf("store: %s %w in %s", key, ErrNotFound, s.url)
}

// ownError returns the error a local store made itself inside err (a symbolic
// link refused, a FIFO where an object should be), which names its path
// better than the blob layer's wrapping of it; nil when there is none.
func ownError(err error) error {
	var own interface {
		error
		own()
	}
	if errors.As(err, &own) {
		return own
	}
	return nil
}

// wrap describes a failed blob operation: "store: <what> <key>: <err>".
func wrap(what, key string, err error) error {
	if own := ownError(err); own != nil {
		return own
	}
	return fmt.Errorf("store: %s %s: %w", what, key, err)
}

func (s *Store) write(ctx context.Context, key string, data []byte) error {
	if err := s.writeAll(ctx, key, data, false); err != nil {
		return wrap("writing", key, err)
	}
	return nil
}

// writeAll writes data as the object key (only when there is none, with
// ifNotExist), without hashing it: blob.Bucket.WriteAll would compute its
// MD5, then the writer again to check it, for drivers that do not use it.
// A local directory publishes an object whole by a rename (or a hard link);
// S3 checks the SDK's own checksum of the request (s3blob sends no MD5).
// The content type is fixed rather than sniffed.
func (s *Store) writeAll(ctx context.Context, key string, data []byte, ifNotExist bool) error {
	w, err := s.bucket.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream", IfNotExist: ifNotExist})
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return false, wrap("checking", key, err)
	}
	return ok, nil
}

// errShort marks a ranged read that found fewer bytes than asked for.
var errShort = errors.New("object shorter than expected")

// readRange reads exactly length bytes at offset of key. A missing object wraps
// ErrNotFound; an object too short for the range wraps errShort.
func (s *Store) readRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if length == 0 {
		return []byte{}, nil
	}
	r, err := s.bucket.NewRangeReader(ctx, key, offset, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, s.notFound(key)
	}
	if err != nil {
		return nil, wrap("reading", fmt.Sprintf("%s at %d", key, offset), err)
	}
	defer r.Close()
	if r.Size() < offset+length { // before allocating what a bad offset asks for
		return nil, fmt.Errorf("store: reading %d bytes of %s at %d: %w (it has %d)", length, key, offset, errShort, r.Size())
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errShort
		}
		return nil, fmt.Errorf("store: reading %d bytes of %s at %d: %w", length, key, offset, err)
	}
	return buf, nil
}

// list returns the keys of the objects under prefix, in key order.
func (s *Store) list(ctx context.Context, prefix string) ([]string, error) {
	objs, err := s.listObjects(ctx, prefix)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(objs))
	for i, obj := range objs {
		keys[i] = obj.Key
	}
	return keys, nil
}

// listObjects returns the objects under prefix (not the folders), with
// their sizes, in key order.
func (s *Store) listObjects(ctx context.Context, prefix string) ([]*blob.ListObject, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	var objs []*blob.ListObject
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return objs, nil
		}
		if err != nil {
			return nil, wrap("listing", prefix+" in "+s.url, err)
		}
		if !obj.IsDir {
			objs = append(objs, obj)
		}
	}
}
