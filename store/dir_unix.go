//go:build unix

package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
	"golang.org/x/sys/unix"
)

// dirBucket is the blob driver of a local directory store. It walks every key
// from a descriptor of the root directory, one path element at a time, with
// O_NOFOLLOW: a symbolic link below the root is refused, never followed (see
// the package doc). Directories are made 0700 and files 0600, and, when the
// process runs as root and the root directory belongs to someone else, both
// are given to the root directory's owner.
type dirBucket struct {
	dir   string // the root directory, symbolic links resolved
	root  int    // a descriptor of dir
	chown bool   // give what is created to uid:gid
	uid   int
	gid   int
}

// openDirBucket opens the directory dir (absolute), creating it 0700 when
// missing. dir itself may be or pass through a symbolic link: it is resolved
// here, once.
func openDirBucket(dir string) (*blob.Bucket, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, "", err
	}
	fd, err := unix.Open(resolved, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &os.PathError{Op: "open", Path: resolved, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, "", &os.PathError{Op: "stat", Path: resolved, Err: err}
	}
	b := &dirBucket{dir: resolved, root: fd, uid: int(st.Uid), gid: int(st.Gid)}
	b.chown = os.Geteuid() == 0 && (b.uid != os.Geteuid() || b.gid != os.Getegid())
	return blob.NewBucket(b), resolved, nil
}

// errNotExist is what a missing object is to the blob layer.
var errNotExist = fs.ErrNotExist

// errExists reports a write refused because the object exists (IfNotExist).
var errExists = errors.New("object exists")

// symlinkError is a symbolic link met below the store's root.
type symlinkError struct{ path string }

func (e *symlinkError) Error() string {
	return fmt.Sprintf("store: %s is a symbolic link inside the store: refusing to follow it", e.path)
}

func (e *symlinkError) Unwrap() error { return ErrSymlink }
func (e *symlinkError) own()          {}

// notRegularError is an object that is neither a file nor a directory (a FIFO,
// a device, a socket).
type notRegularError struct{ path string }

func (e *notRegularError) Error() string {
	return fmt.Sprintf("store: %s is not a regular file: refusing to read it", e.path)
}

func (e *notRegularError) Unwrap() error { return ErrCorrupt }
func (e *notRegularError) own()          {}

// splitKey splits a key into its path elements. A key with an empty, "." or
// ".." element, or a NUL byte, names no object of this store.
func splitKey(key string) ([]string, error) {
	parts := strings.Split(key, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.IndexByte(p, 0) >= 0 {
			return nil, fmt.Errorf("store: key %q: not a key of this store: %w", key, errInvalidKey)
		}
	}
	return parts, nil
}

var errInvalidKey = errors.New("invalid key")

func (b *dirBucket) path(elems []string) string {
	return filepath.Join(append([]string{b.dir}, elems...)...)
}

// classify turns the failure of opening elems[len(elems)-1] (at) into a
// symlinkError, errNotExist, or the error itself.
func (b *dirBucket) classify(at int, name string, elems []string, err error) error {
	var st unix.Stat_t
	if serr := unix.Fstatat(at, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &symlinkError{b.path(elems)}
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return errNotExist
	}
	return &os.PathError{Op: "open", Path: b.path(elems), Err: err}
}

// openDirs opens the directory elems names below the root, creating missing
// ones when create is set. The caller closes the descriptor, unless it is
// b.root (elems empty).
func (b *dirBucket) openDirs(elems []string, create bool) (int, error) {
	at := b.root
	for i, name := range elems {
		fd, err := unix.Openat(at, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			err = unix.Mkdirat(at, name, 0o700)
			if err == nil || errors.Is(err, unix.EEXIST) {
				fd, err = unix.Openat(at, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err == nil && b.chown {
					// A directory made by a racing writer is given away too: harmless.
					if cerr := unix.Fchown(fd, b.uid, b.gid); cerr != nil {
						err = cerr
						unix.Close(fd)
					}
				}
			}
		}
		if err != nil {
			err = b.classify(at, name, elems[:i+1], err)
			if at != b.root {
				unix.Close(at)
			}
			return -1, err
		}
		if at != b.root {
			unix.Close(at)
		}
		at = fd
	}
	return at, nil
}

func (b *dirBucket) closeDir(fd int) {
	if fd != b.root {
		unix.Close(fd)
	}
}

// openFile opens the regular file key names, for reading.
func (b *dirBucket) openFile(key string) (*os.File, os.FileInfo, error) {
	elems, err := splitKey(key)
	if err != nil {
		return nil, nil, err
	}
	dir, err := b.openDirs(elems[:len(elems)-1], false)
	if err != nil {
		return nil, nil, err
	}
	defer b.closeDir(dir)
	name := elems[len(elems)-1]
	// O_NONBLOCK: opening a FIFO planted in the store must not hang.
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, b.classify(dir, name, elems, err)
	}
	f := os.NewFile(uintptr(fd), b.path(elems))
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	switch {
	case info.IsDir():
		f.Close()
		return nil, nil, errNotExist
	case !info.Mode().IsRegular():
		f.Close()
		return nil, nil, &notRegularError{b.path(elems)}
	}
	return f, info, nil
}

// ErrorCode implements driver.Bucket.
func (b *dirBucket) ErrorCode(err error) gcerrors.ErrorCode {
	var se *symlinkError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return gcerrors.NotFound
	case errors.Is(err, errExists):
		return gcerrors.FailedPrecondition
	case errors.As(err, &se), errors.Is(err, fs.ErrPermission):
		return gcerrors.PermissionDenied
	case errors.Is(err, errInvalidKey):
		return gcerrors.InvalidArgument
	}
	return gcerrors.Unknown
}

// As implements driver.Bucket: a **dirBucket gets the driver itself (see
// localOf).
func (b *dirBucket) As(i any) bool {
	p, ok := i.(**dirBucket)
	if ok {
		*p = b
	}
	return ok
}

// localOf returns the local directory driver behind b, nil when b is another
// kind of bucket.
func localOf(b *blob.Bucket) localDir {
	var d *dirBucket
	if b.As(&d) {
		return d
	}
	return nil
}

// createAppend creates the file key names (0600, exclusively: errExists when
// something is there), for appending.
func (b *dirBucket) createAppend(key string) (appender, error) {
	elems, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	dir, err := b.openDirs(elems[:len(elems)-1], true)
	if err != nil {
		return nil, err
	}
	defer b.closeDir(dir)
	name := elems[len(elems)-1]
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) {
		return nil, errExists
	}
	if err == nil && b.chown {
		if err = unix.Fchown(fd, b.uid, b.gid); err != nil {
			unix.Close(fd)
			_ = unix.Unlinkat(dir, name, 0)
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: b.path(elems), Err: err}
	}
	return &appendFile{f: os.NewFile(uintptr(fd), b.path(elems))}, nil
}

// appendFile is a segment file a JournalWriter appends to.
type appendFile struct {
	f      *os.File
	size   int64 // what it holds: every Append whole
	broken bool  // a failed Append could not be truncated away
}

// Append writes data at the end of the file with one write(2) (O_APPEND; the
// kernel splits only writes of a gigabyte or more). When that fails or comes
// short (ENOSPC), the file is truncated back to its size before the call, so
// no part of data stays; if even that fails, the file is broken.
func (a *appendFile) Append(data []byte) error {
	n, err := a.f.Write(data)
	if err == nil && n == len(data) {
		a.size += int64(n)
		return nil
	}
	if err == nil {
		err = io.ErrShortWrite
	}
	if n > 0 {
		if terr := a.f.Truncate(a.size); terr != nil {
			a.broken = true
			return fmt.Errorf("%w (and truncating the %d bytes written: %v)", err, n, terr)
		}
	}
	return err
}

func (a *appendFile) Broken() bool { return a.broken }
func (a *appendFile) Sync() error  { return unix.Fdatasync(int(a.f.Fd())) }
func (a *appendFile) Close() error { return a.f.Close() }

// ErrorAs implements driver.Bucket.
func (b *dirBucket) ErrorAs(err error, i any) bool { return errors.As(err, i) }

// readSmall implements localDir: one open, one fstat and the reads, without
// the blob layer's reader.
func (b *dirBucket) readSmall(key string, limit int64) ([]byte, int64, error) {
	f, info, err := b.openFile(key)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	size := info.Size()
	if size > limit {
		return nil, size, nil
	}
	// One byte more than its size: a file that grew since is seen to.
	data := make([]byte, 0, size+1)
	for int64(len(data)) <= limit {
		if len(data) == cap(data) {
			data = slices.Grow(data, 512)
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, int64(len(data)), nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return nil, int64(len(data)), nil
}

// size implements localDir: what Attributes says of the size, with an
// fstatat of the file rather than opening it.
func (b *dirBucket) size(key string) (int64, error) {
	elems, err := splitKey(key)
	if err != nil {
		return 0, err
	}
	dir, err := b.openDirs(elems[:len(elems)-1], false)
	if err != nil {
		return 0, err
	}
	defer b.closeDir(dir)
	name := elems[len(elems)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, b.classify(dir, name, elems, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return st.Size, nil
	case unix.S_IFLNK:
		return 0, &symlinkError{b.path(elems)}
	case unix.S_IFDIR:
		return 0, errNotExist
	}
	return 0, &notRegularError{b.path(elems)}
}

// Attributes implements driver.Bucket.
func (b *dirBucket) Attributes(_ context.Context, key string) (*driver.Attributes, error) {
	f, info, err := b.openFile(key)
	if err != nil {
		return nil, err
	}
	f.Close()
	return &driver.Attributes{
		ContentType: "application/octet-stream",
		ModTime:     info.ModTime(),
		Size:        info.Size(),
		ETag:        fmt.Sprintf("\"%x-%x\"", info.ModTime().UnixNano(), info.Size()),
	}, nil
}

// asFile is the As function of gocloud's BeforeRead and BeforeWrite hooks:
// it gives the hook the open file.
func asFile(f *os.File) func(any) bool {
	return func(i any) bool {
		p, ok := i.(**os.File)
		if ok {
			*p = f
		}
		return ok
	}
}

// NewRangeReader implements driver.Bucket.
func (b *dirBucket) NewRangeReader(_ context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	f, info, err := b.openFile(key)
	if err != nil {
		return nil, err
	}
	if opts.BeforeRead != nil {
		if err := opts.BeforeRead(asFile(f)); err != nil {
			f.Close()
			return nil, err
		}
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	r := io.Reader(f)
	if length >= 0 {
		r = io.LimitReader(r, length)
	}
	return &dirReader{r: r, f: f, attrs: driver.ReaderAttributes{
		ContentType: "application/octet-stream", ModTime: info.ModTime(), Size: info.Size(),
	}}, nil
}

type dirReader struct {
	r     io.Reader
	f     *os.File
	attrs driver.ReaderAttributes
}

func (r *dirReader) Read(p []byte) (int, error)           { return r.r.Read(p) }
func (r *dirReader) Close() error                         { return r.f.Close() }
func (r *dirReader) Attributes() *driver.ReaderAttributes { return &r.attrs }
func (r *dirReader) As(any) bool                          { return false }

// NewTypedWriter implements driver.Bucket: the object is written to a
// temporary file beside it ("<name>.<random>.tmp", 0600), renamed into place
// by Close.
func (b *dirBucket) NewTypedWriter(ctx context.Context, key, _ string, opts *driver.WriterOptions) (driver.Writer, error) {
	elems, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	dir, err := b.openDirs(elems[:len(elems)-1], true)
	if err != nil {
		return nil, err
	}
	name := elems[len(elems)-1]
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := name + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil && b.chown {
		if err = unix.Fchown(fd, b.uid, b.gid); err != nil {
			unix.Close(fd)
			_ = unix.Unlinkat(dir, tmp, 0)
		}
	}
	if err != nil {
		b.closeDir(dir)
		return nil, &os.PathError{Op: "create", Path: b.path(append(elems[:len(elems)-1:len(elems)-1], tmp)), Err: err}
	}
	w := &dirWriter{File: os.NewFile(uintptr(fd), tmp), ctx: ctx, b: b, dir: dir, elems: elems, tmp: tmp, ifNotExist: opts.IfNotExist}
	if opts.BeforeWrite != nil {
		if err := opts.BeforeWrite(asFile(w.File)); err != nil {
			w.abort()
			return nil, err
		}
	}
	return w, nil
}

type dirWriter struct {
	*os.File
	ctx        context.Context
	b          *dirBucket
	dir        int
	elems      []string
	tmp        string
	ifNotExist bool
	failed     error // the write that failed: the object is never published
}

func (w *dirWriter) abort() {
	w.File.Close()
	_ = unix.Unlinkat(w.dir, w.tmp, 0)
	w.b.closeDir(w.dir)
}

// Write writes to the temporary file. When a write fails (no space left, an
// I/O error), the writer gives up at once: the temporary file is removed, and
// this and every later Write and Close return the error, naming the object.
// The blob layer may call Close after a failed Write (Store.writeAll does), or not
// at all (a failed first write of a small object): either way nothing is
// published and nothing is left behind.
func (w *dirWriter) Write(p []byte) (int, error) {
	if w.failed != nil {
		return 0, w.failed
	}
	n, err := w.File.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		w.failed = &os.PathError{Op: "write", Path: w.b.path(w.elems), Err: err}
		w.abort()
		return n, w.failed
	}
	return n, nil
}

// Close publishes the object: a rename over what was there, or, for
// IfNotExist, a hard link that fails when the object exists. After a failed
// Write, it publishes nothing and returns that failure.
func (w *dirWriter) Close() error {
	if w.failed != nil {
		return w.failed
	}
	defer w.b.closeDir(w.dir)
	defer func() { _ = unix.Unlinkat(w.dir, w.tmp, 0) }() // gone already after a rename
	if err := w.File.Close(); err != nil {
		return &os.PathError{Op: "close", Path: w.b.path(w.elems), Err: err}
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	name := w.elems[len(w.elems)-1]
	var st unix.Stat_t
	err := unix.Fstatat(w.dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return &symlinkError{w.b.path(w.elems)}
	case err == nil && w.ifNotExist:
		return errExists
	case err != nil && !errors.Is(err, unix.ENOENT):
		return &os.PathError{Op: "stat", Path: w.b.path(w.elems), Err: err}
	}
	if w.ifNotExist {
		err := unix.Linkat(w.dir, w.tmp, w.dir, name, 0)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST):
			return errExists
		}
		// No hard links on this file system: a rename that refuses to
		// replace, where there is one; else the check above has to do.
		switch err := renameNoReplace(w.dir, w.tmp, name); {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST):
			return errExists
		case !errors.Is(err, errors.ErrUnsupported):
			return &os.PathError{Op: "rename", Path: w.b.path(w.elems), Err: err}
		}
	}
	if err := unix.Renameat(w.dir, w.tmp, w.dir, name); err != nil {
		return &os.PathError{Op: "rename", Path: w.b.path(w.elems), Err: err}
	}
	return nil
}

// Copy implements driver.Bucket.
func (b *dirBucket) Copy(ctx context.Context, dstKey, srcKey string, _ *driver.CopyOptions) error {
	f, _, err := b.openFile(srcKey)
	if err != nil {
		return err
	}
	defer f.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewTypedWriter(wctx, dstKey, "", &driver.WriterOptions{})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		cancel()
		w.Close()
		return err
	}
	return w.Close()
}

// Delete implements driver.Bucket.
func (b *dirBucket) Delete(_ context.Context, key string, _ *driver.DeleteOptions) error {
	elems, err := splitKey(key)
	if err != nil {
		return err
	}
	dir, err := b.openDirs(elems[:len(elems)-1], false)
	if err != nil {
		return err
	}
	defer b.closeDir(dir)
	name := elems[len(elems)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return b.classify(dir, name, elems, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return &symlinkError{b.path(elems)}
	case unix.S_IFDIR:
		return errNotExist
	}
	if err := unix.Unlinkat(dir, name, 0); err != nil {
		return b.classify(dir, name, elems, err)
	}
	return nil
}

// SignedURL implements driver.Bucket: there are none.
func (b *dirBucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errors.New("store: a local directory has no signed URLs")
}

// Close implements driver.Bucket.
func (b *dirBucket) Close() error { return unix.Close(b.root) }

// ListPaged implements driver.Bucket. It walks the directory holding the
// prefix, in key order, without following links: a symbolic link among what
// is listed is an error naming it, except where a "/" delimiter collapses it
// into a "directory" (ListExecutions sees it, and reading below it fails).
// With a "/" delimiter, every directory is listed, even an empty one.
func (b *dirBucket) ListPaged(_ context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	if opts.BeforeList != nil {
		if err := opts.BeforeList(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	var base string // the directory part of the prefix, "" or ending in "/"
	var elems []string
	if i := strings.LastIndexByte(opts.Prefix, '/'); i >= 0 {
		base = opts.Prefix[:i+1]
		var err error
		if elems, err = splitKey(opts.Prefix[:i]); err != nil {
			return nil, err
		}
	}
	dir, err := b.openDirs(elems, false)
	if errors.Is(err, fs.ErrNotExist) {
		return &driver.ListPage{}, nil
	}
	if err != nil {
		return nil, err
	}
	l := &lister{b: b, prefix: opts.Prefix, collapse: opts.Delimiter == "/"}
	if err := l.walk(dir, base, elems); err != nil {
		return nil, err
	}
	objs := l.objs
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		objs = collapse(objs, opts.Prefix, opts.Delimiter)
	}
	slices.SortFunc(objs, func(a, b *driver.ListObject) int { return strings.Compare(a.Key, b.Key) })
	if tok := string(opts.PageToken); tok != "" {
		i, _ := slices.BinarySearchFunc(objs, tok, func(o *driver.ListObject, t string) int {
			if o.Key <= t {
				return -1
			}
			return 1
		})
		objs = objs[i:]
	}
	page := &driver.ListPage{Objects: objs}
	if opts.PageSize > 0 && len(objs) > opts.PageSize {
		page.Objects = objs[:opts.PageSize]
		page.NextPageToken = []byte(page.Objects[opts.PageSize-1].Key)
	}
	return page, nil
}

type lister struct {
	b        *dirBucket
	prefix   string
	collapse bool // "/" delimiter: list directories below the prefix's as such
	objs     []*driver.ListObject
}

// walk lists the directory dir (which it closes), whose keys start with base
// and which elems names.
func (l *lister) walk(dir int, base string, elems []string) error {
	// A descriptor of its own: reading a directory moves a shared offset.
	fd, err := unix.Openat(dir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	l.b.closeDir(dir)
	if err != nil {
		return &os.PathError{Op: "open", Path: l.b.path(elems), Err: err}
	}
	f := os.NewFile(uintptr(fd), l.b.path(elems))
	entries, err := f.ReadDir(-1)
	if err != nil {
		f.Close()
		return err
	}
	defer f.Close()
	for _, e := range entries {
		key := base + e.Name()
		sub := append(elems[:len(elems):len(elems)], e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			k := key + "/"
			if !strings.HasPrefix(k, l.prefix) && !strings.HasPrefix(l.prefix, k) {
				continue // nothing below can match
			}
			if l.collapse && strings.HasPrefix(k, l.prefix) {
				l.objs = append(l.objs, &driver.ListObject{Key: k, IsDir: true})
				continue
			}
			child, err := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				err = l.b.classify(fd, e.Name(), sub, err)
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed since
				}
				return err
			}
			if err := l.walk(child, k, sub); err != nil {
				return err
			}
		case t&fs.ModeSymlink != 0:
			if !strings.HasPrefix(key, l.prefix) && !strings.HasPrefix(l.prefix, key+"/") {
				continue
			}
			if l.collapse && strings.HasPrefix(key, l.prefix) {
				l.objs = append(l.objs, &driver.ListObject{Key: key + "/", IsDir: true})
				continue
			}
			return &symlinkError{l.b.path(sub)}
		case t.IsRegular():
			if !strings.HasPrefix(key, l.prefix) {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			l.objs = append(l.objs, &driver.ListObject{Key: key, ModTime: info.ModTime(), Size: info.Size()})
		}
	}
	return nil
}

// collapse folds the objects below prefix that hold delim after it into one
// "directory" each, as driver.ListOptions.Delimiter says.
func collapse(objs []*driver.ListObject, prefix, delim string) []*driver.ListObject {
	out := objs[:0]
	seen := map[string]bool{}
	for _, o := range objs {
		rest := o.Key[len(prefix):]
		if i := strings.Index(rest, delim); i >= 0 {
			k := prefix + rest[:i+len(delim)]
			if !seen[k] {
				seen[k] = true
				out = append(out, &driver.ListObject{Key: k, IsDir: true})
			}
			continue
		}
		out = append(out, o)
	}
	return out
}

var _ driver.Bucket = (*dirBucket)(nil)
