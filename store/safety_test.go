package store_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/maptask/maptask/store"
)

// fillStore writes one of every kind of object into st.
func fillStore(t *testing.T, st *store.Store, id string) {
	t.Helper()
	ctx := context.Background()
	create(t, st, id, []byte(`{"k":1}`), `"a"`, `"b"`)
	if err := st.AppendRecords(ctx, id, "w1", []store.Record{{Index: 0, Status: store.StatusSucceeded, Output: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutLog(ctx, id, 0, 1, []byte("log")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutVerdict(ctx, id, store.Verdict{Outcome: "succeeded"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := st.CachePut(ctx, store.CacheKey("t", "v", nil, []byte("a")), []byte("1")); err != nil {
		t.Fatal(err)
	}
}

// walkStore calls f on everything below dir, dir included.
func walkStore(t *testing.T, dir string, f func(path string, info fs.FileInfo)) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			files++
		}
		f(path, info)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestFileStoreModes: a local store's root, directories and files are its
// owner's alone: 0700 and 0600, whatever the umask lets through.
func TestFileStoreModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "parent", "st")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fillStore(t, st, "modes")
	files := walkStore(t, dir, func(path string, info fs.FileInfo) {
		want := fs.FileMode(0o600)
		if info.IsDir() {
			want = fs.ModeDir | 0o700
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
	})
	if files < 8 {
		t.Errorf("only %d files written", files)
	}
	if info, err := os.Stat(filepath.Dir(dir)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the store's parent, created with it: %v, %v", info.Mode(), err)
	}
}

// TestFileStoreOwnership: a store written by root into a root directory that
// belongs to another user (the pods' uid of the Kubernetes backend) stays that
// user's: every directory and file is given to the root directory's owner.
func TestFileStoreOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 65532, 65533
	dir := filepath.Join(t.TempDir(), "st")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fillStore(t, st, "owned")
	files := walkStore(t, dir, func(path string, info fs.FileInfo) {
		sys := info.Sys().(*syscall.Stat_t)
		if sys.Uid != uid || sys.Gid != gid {
			t.Errorf("%s: owned by %d:%d, want %d:%d", path, sys.Uid, sys.Gid, uid, gid)
		}
		if want := map[bool]fs.FileMode{true: fs.ModeDir | 0o700, false: 0o600}[info.IsDir()]; info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
	})
	if files < 8 {
		t.Errorf("only %d files written", files)
	}

	// A store of root's own is left alone.
	mine := filepath.Join(t.TempDir(), "mine")
	st2, err := store.Open(context.Background(), mine)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	fillStore(t, st2, "mine")
	walkStore(t, mine, func(path string, info fs.FileInfo) {
		if sys := info.Sys().(*syscall.Stat_t); sys.Uid != 0 || sys.Gid != uint32(os.Getegid()) {
			t.Errorf("%s: owned by %d:%d, want root's", path, sys.Uid, sys.Gid)
		}
	})
}
