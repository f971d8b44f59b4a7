package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/maptask/maptask/store"
)

func TestPreRecreatedSeesNoOldRecords(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "re", nil, "a", "b")
		if err := b.st.AppendRecords(ctx, "re", "w", []store.Record{{Index: 0, Status: store.StatusSucceeded, Output: []byte("old")}}); err != nil {
			t.Fatal(err)
		}
		if err := b.raw.Delete(ctx, "executions/re/spec.json"); err != nil {
			t.Fatal(err)
		}
		create(t, b.st, "re", nil, "c", "d")
		recs, err := b.st.LoadRecords(ctx, "re", 2)
		if err != nil {
			t.Fatal(err)
		}
		if recs[0].Status != "" {
			t.Fatalf("the re-created execution sees the old creation's record %+v", recs[0])
		}
	})
}

func TestPreCorruptSegment(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "q", nil, "a", "b")
		if err := b.st.AppendRecords(ctx, "q", "good", []store.Record{{Index: 0, Status: store.StatusSucceeded}}); err != nil {
			t.Fatal(err)
		}
		if err := b.raw.WriteAll(ctx, "executions/q/journal/bad/0000000000.jsonl", []byte("garbage\n"), nil); err != nil {
			t.Fatal(err)
		}
		recs, err := b.st.LoadRecords(ctx, "q", 2)
		if err != nil || recs[0].Status != store.StatusSucceeded {
			t.Fatalf("LoadRecords = %+v, %v", recs, err)
		}
	})
}

func TestPreENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	written := map[string][]byte{}
	var failed error
	for i := 0; i < 100 && failed == nil; i++ {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, 100_000)
		key := store.CacheKey("t", "v", nil, []byte(fmt.Sprint(i)))
		if err := st.CachePut(ctx, key, data); err != nil {
			failed = err
			break
		}
		written[key] = data
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("filling: %v", failed)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() {
			if strings.HasSuffix(p, ".tmp") {
				t.Errorf("temporary file left: %s", p)
			}
			got, _ := os.ReadFile(p)
			if want, ok := written[filepath.Base(p)]; !ok || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes, a partial or unexpected object (error was %v)", p, len(got), failed)
			}
		}
		return nil
	})
}
