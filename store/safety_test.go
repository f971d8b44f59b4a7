package store_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// TestSymlinksRefused: a symbolic link planted below a local store's root is
// never followed: reads, writes and listings through it fail naming it, and
// what it points to is left alone. The root itself may be a link.
func TestSymlinksRefused(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "link-to-store")
	if err := os.Symlink(real, root); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fillStore(t, st, "ok") // through the root's link
	if _, err := os.Stat(filepath.Join(real, "executions", "ok", "spec.json")); err != nil {
		t.Fatal(err)
	}

	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("do not touch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plant := func(target, at string) string {
		t.Helper()
		p := filepath.Join(real, filepath.FromSlash(at))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		_ = os.RemoveAll(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	refused := func(what string, err error, link string) {
		t.Helper()
		if !errors.Is(err, store.ErrSymlink) || !strings.Contains(err.Error(), link) {
			t.Errorf("%s through the link %s: %v, want an error naming it", what, link, err)
		}
	}

	// A file of the store pointing outside: read and write refused.
	link := plant(secret, "executions/ok/verdict.json")
	_, err = st.LoadVerdict(ctx, "ok")
	refused("LoadVerdict", err, link)
	refused("PutVerdict", st.PutVerdict(ctx, "ok", store.Verdict{Outcome: "failed"}), link)
	link = plant(secret, "executions/ok/journal/w1/0000000000.jsonl")
	_, err = st.LoadRecords(ctx, "ok", 2)
	refused("LoadRecords", err, link)
	_, err = st.ReadJournal(ctx, "ok", "w1")
	refused("ReadJournal", err, link)
	link = plant(secret, "executions/ok/cancel")
	refused("ClearCancel", st.ClearCancel(ctx, "ok"), link)
	key := store.CacheKey("t", "v", nil, []byte("a"))
	link = plant(secret, "cache/"+key[:2]+"/"+key)
	_, err = st.CacheGet(ctx, key)
	refused("CacheGet", err, link)
	refused("CachePut", st.CachePut(ctx, key, []byte("forged")), link)

	// A directory of the store pointing outside: nothing below it is reached.
	if err := os.WriteFile(filepath.Join(outside, "0.log"), []byte("planted"), 0o644); err != nil {
		t.Fatal(err)
	}
	link = plant(outside, "executions/ok/logs/0")
	_, err = st.ReadLogs(ctx, "ok", 0)
	refused("ReadLogs", err, link)
	refused("PutLog", st.PutLog(ctx, "ok", 0, 2, []byte("x")), link)
	if _, err := os.Stat(filepath.Join(outside, "2.log")); !os.IsNotExist(err) {
		t.Errorf("PutLog wrote through the link: %v", err)
	}
	// A whole execution planted as a link to another directory.
	other := filepath.Join(base, "other-store")
	ost, err := store.Open(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, ost, "evil")
	ost.Close()
	link = plant(filepath.Join(other, "executions", "evil"), "executions/evil")
	_, err = st.LoadSpec(ctx, "evil")
	refused("LoadSpec", err, link)
	_, err = st.ReadInput(ctx, "evil", 0)
	refused("ReadInput", err, link)
	refused("AppendRecords", st.AppendRecords(ctx, "evil", "w9", []store.Record{{Index: 0, Status: store.StatusFailed}}), link)
	_, err = st.ListExecutions(ctx)
	refused("ListExecutions", err, link)

	if data, err := os.ReadFile(secret); err != nil || string(data) != "do not touch\n" {
		t.Errorf("the file outside is now %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(other, "executions", "evil", "journal", "w9")); !os.IsNotExist(err) {
		t.Errorf("AppendRecords wrote through the link: %v", err)
	}
}
