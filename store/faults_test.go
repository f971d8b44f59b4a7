package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/maptask/maptask/store"
)

// TestCreateExecutionExclusive: of 200 creators racing for one id, exactly
// one succeeds; the others get ErrExists, and the winner's inputs are the
// ones stored.
func TestCreateExecutionExclusive(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		var won atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 200 {
			wg.Go(func() {
				spec, data, offsets := execution("many", fmt.Sprintf("input of creator %d", w))
				<-start
				switch err := b.st.CreateExecution(ctx, spec, data, offsets, nil); {
				case err == nil:
					won.Add(1)
					winner.Store(string(data))
				case !errors.Is(err, store.ErrExists):
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d creators won", won.Load())
		}
		in, err := store.New(b.raw, "again").ReadInput(ctx, "many", 0)
		if err != nil || string(in) != winner.Load() {
			t.Fatalf("stored input %q, %v; the winner wrote %q", in, err, winner.Load())
		}
		// The losers removed their inputs.
		if keys := listKeys(t, b.raw, "executions/many/"); len(keys) != 3 {
			t.Errorf("objects left: %v", keys)
		}
	})
}

// TestRecreatedExecution: an execution created again under the id of one
// whose spec was deleted sees nothing of the old one: no records, logs,
// verdict or cancel request, whether through the same Store or another.
func TestRecreatedExecution(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "re", nil, "a", "b")
		if err := b.st.AppendRecords(ctx, "re", "w", []store.Record{{Index: 0, Status: store.StatusSucceeded, Output: []byte("old")}}); err != nil {
			t.Fatal(err)
		}
		if err := b.st.PutLog(ctx, "re", 0, 1, []byte("old log")); err != nil {
			t.Fatal(err)
		}
		if err := b.st.PutVerdict(ctx, "re", store.Verdict{Outcome: "succeeded"}); err != nil {
			t.Fatal(err)
		}
		if err := b.st.SetCancel(ctx, "re"); err != nil {
			t.Fatal(err)
		}
		if err := b.raw.Delete(ctx, "executions/re/spec.json"); err != nil {
			t.Fatal(err)
		}
		create(t, b.st, "re", nil, "c", "d")
		for name, st := range map[string]*store.Store{"same store": b.st, "other store": store.New(b.raw, "other")} {
			recs, err := st.LoadRecords(ctx, "re", 2)
			if err != nil || recs[0].Status != "" {
				t.Errorf("%s: LoadRecords = %+v, %v: the old creation's record", name, recs, err)
			}
			if recs, err := st.ReadJournal(ctx, "re", "w"); err != nil || len(recs) != 0 {
				t.Errorf("%s: ReadJournal = %+v, %v", name, recs, err)
			}
			if logs, err := st.ReadLogs(ctx, "re", 0); err != nil || len(logs) != 0 {
				t.Errorf("%s: ReadLogs = %+v, %v", name, logs, err)
			}
			if v, err := st.LoadVerdict(ctx, "re"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: LoadVerdict = %+v, %v", name, v, err)
			}
			if yes, err := st.Cancelled(ctx, "re"); err != nil || yes {
				t.Errorf("%s: Cancelled = %v, %v", name, yes, err)
			}
		}
		// Appending to a store that does not have the execution fails.
		if err := b.st.AppendRecords(ctx, "none", "w", []store.Record{{Index: 0, Status: store.StatusFailed}}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendRecords to no execution = %v", err)
		}
	})
}

// TestVersion1Layout: an execution written in the layout of maptask before
// spec versions (written here literally: spec.json without "version",
// journal, logs, verdict and cancel beside it) loads, with its records, and
// a resumed run appends where it reads.
func TestVersion1Layout(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const inputs = "inputs-0123456789abcdef"
		data := []byte(`"a""b""c"`)
		index := make([]byte, 32)
		for i, o := range []uint64{0, 3, 6, 9} {
			binary.LittleEndian.PutUint64(index[8*i:], o)
		}
		objects := map[string]string{
			"executions/old/" + inputs + ".data":  string(data),
			"executions/old/" + inputs + ".index": string(index),
			"executions/old/spec.json": `{
  "id": "old",
  "task": "test.task",
  "cache_version": "",
  "codec": "json",
  "n": 3,
  "inputs_digest": "` + store.InputsDigest(data, []uint64{0, 3, 6, 9}) + `",
  "inputs": "` + inputs + `",
  "bound_digest": "",
  "created": "2025-01-02T03:04:05Z"
}`,
			"executions/old/journal/d1/0000000000.jsonl": `{"i":0,"s":"succeeded","a":1,"o":"Ingi","t":5}` + "\n" + `{"i":1,"s":"failed","a":3,"e":"boom","t":6}` + "\n",
			"executions/old/journal/d1/0000000001.jsonl": `{"i":2,"s":"skipped","t":7}` + "\n",
			"executions/old/logs/1/3.log":                "old log",
			"executions/old/verdict.json":                `{"outcome":"failed","required":3,"succeeded":1,"failed":1,"skipped":1,"time":"2025-01-02T03:05:00Z"}`,
			"executions/old/cancel":                      "cancel\n",
		}
		for k, v := range objects {
			if err := b.raw.WriteAll(ctx, k, []byte(v), nil); err != nil {
				t.Fatal(err)
			}
		}
		spec, err := b.st.LoadSpec(ctx, "old")
		if err != nil || spec.Version != 1 || spec.Inputs != inputs || spec.N != 3 {
			t.Fatalf("LoadSpec = %+v, %v", spec, err)
		}
		recs, err := b.st.LoadRecords(ctx, "old", 3)
		if err != nil || recs[0].Status != store.StatusSucceeded || string(recs[0].Output) != `"x"` || recs[1].Err != "boom" || recs[2].Status != store.StatusSkipped {
			t.Fatalf("LoadRecords = %+v, %v", recs, err)
		}
		if logs, err := b.st.ReadLogs(ctx, "old", 1); err != nil || len(logs) != 1 || string(logs[0].Data) != "old log" {
			t.Errorf("ReadLogs = %+v, %v", logs, err)
		}
		if v, err := b.st.LoadVerdict(ctx, "old"); err != nil || v.Outcome != "failed" {
			t.Errorf("LoadVerdict = %+v, %v", v, err)
		}
		if yes, err := b.st.Cancelled(ctx, "old"); err != nil || !yes {
			t.Errorf("Cancelled = %v, %v", yes, err)
		}
		if in, err := b.st.ReadInput(ctx, "old", 1); err != nil || string(in) != `"b"` {
			t.Errorf("ReadInput = %q, %v", in, err)
		}
		// A resumed run writes in the same layout.
		if err := b.st.ClearCancel(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		w, err := b.st.OpenJournal(ctx, "old", "d2")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(ctx, []store.Record{{Index: 1, Status: store.StatusSucceeded, Time: 8}}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if err := b.st.AppendRecords(ctx, "old", "d3", []store.Record{{Index: 2, Status: store.StatusSucceeded, Time: 9}}); err != nil {
			t.Fatal(err)
		}
		if err := b.st.PutVerdict(ctx, "old", store.Verdict{Outcome: "succeeded"}); err != nil {
			t.Fatal(err)
		}
		recs, err = store.New(b.raw, "again").LoadRecords(ctx, "old", 3)
		if err != nil || recs[1].Status != store.StatusSucceeded || recs[2].Status != store.StatusSucceeded {
			t.Fatalf("LoadRecords after resuming = %+v, %v", recs, err)
		}
		for _, k := range []string{"executions/old/journal/d2/0000000000.jsonl", "executions/old/journal/d3/0000000000.jsonl", "executions/old/verdict.json"} {
			if ok, err := b.raw.Exists(ctx, k); !ok || err != nil {
				t.Errorf("%s: %v, %v", k, ok, err)
			}
		}
		if ok, _ := b.raw.Exists(ctx, "executions/old/cancel"); ok {
			t.Error("ClearCancel left the cancel request")
		}
		// A newer version is refused, saying so.
		if err := b.raw.WriteAll(ctx, "executions/old/spec.json", []byte(strings.Replace(objects["executions/old/spec.json"], `"id"`, `"version": 3, "id"`, 1)), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := store.New(b.raw, "again").LoadSpec(ctx, "old"); err == nil || !strings.Contains(err.Error(), "upgrade maptask") {
			t.Errorf("LoadSpec of version 3 = %v", err)
		}
	})
}

// TestJournalWriter: Append writes records a reader sees at once; on a local
// directory, into a single segment file per writer, elsewhere an object per
// call.
func TestJournalWriter(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const n = 50
		create(t, b.st, "jw", nil, inputsN(n)...)
		w, err := b.st.OpenJournal(ctx, "jw", "d1")
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := w.Append(ctx, []store.Record{{Index: i, Status: store.StatusSucceeded, Output: []byte(fmt.Sprint(i)), Time: int64(i)}}); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				recs, moved, err := b.st.LoadRecordsReport(ctx, "jw", n)
				if err != nil || len(moved) != 0 || recs[i].Status != store.StatusSucceeded {
					t.Fatalf("after append %d: %+v, %v", i, moved, err)
				}
			}
		}
		if err := w.Append(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []store.Record{{Index: n, Status: store.StatusFailed}, {Index: -1, Status: store.StatusFailed}, {Index: 0, Status: "done"}} {
			if err := w.Append(ctx, []store.Record{{Index: 1, Status: store.StatusFailed}, bad}); err == nil {
				t.Errorf("Append of %+v succeeded", bad)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Append(ctx, []store.Record{{Index: 0, Status: store.StatusFailed}}); err == nil {
			t.Error("Append after Close succeeded")
		}
		journal := runOf(t, b.st, "jw") + "journal/"
		keys := listKeys(t, b.raw, journal)
		wantKeys := n
		if b.dir != "" {
			wantKeys = 1
		}
		if len(keys) != wantKeys || keys[0] != journal+"d1/0000000000.jsonl" {
			t.Errorf("%d journal objects, want %d: %v", len(keys), wantKeys, keys)
		}
		// A new writer of the same name (a restarted worker) starts a new
		// segment; ReadJournal returns its records after the first's.
		w2, err := b.st.OpenJournal(ctx, "jw", "d1")
		if err != nil {
			t.Fatal(err)
		}
		w2.SetSync(true)
		if err := w2.Append(ctx, []store.Record{{Index: 0, Status: store.StatusFailed, Time: 100}, {Index: 1, Status: store.StatusFailed, Time: 101}}); err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		recs, err := b.st.ReadJournal(ctx, "jw", "d1")
		if err != nil || len(recs) != n+2 || recs[n].Time != 100 || recs[n+1].Time != 101 {
			t.Fatalf("ReadJournal = %d records, %v", len(recs), err)
		}
		for i := range n {
			if recs[i].Index != i || string(recs[i].Output) != fmt.Sprint(i) {
				t.Fatalf("record %d: %+v", i, recs[i])
			}
		}
		if _, err := b.st.OpenJournal(ctx, "none", "d1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OpenJournal of no execution = %v", err)
		}
		if _, err := b.st.OpenJournal(ctx, "jw", "../d1"); err == nil {
			t.Error("OpenJournal with a bad writer name succeeded")
		}
	})
}

// TestJournalWriterConcurrent: writers appending while readers read: every
// read sees whole records only, and in the end every record is there.
func TestJournalWriterConcurrent(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const n, writers = 400, 4
		create(t, b.st, "cc", nil, inputsN(n)...)
		var wg sync.WaitGroup
		done := make(chan struct{})
		for k := range writers {
			wg.Go(func() {
				w, err := b.st.OpenJournal(ctx, "cc", fmt.Sprintf("w%d", k))
				if err != nil {
					t.Error(err)
					return
				}
				defer w.Close()
				for i := k; i < n; i += writers * 4 {
					var recs []store.Record
					for j := i; j < min(i+writers*4, n); j += writers {
						recs = append(recs, store.Record{Index: j, Status: store.StatusSucceeded, Output: bytes.Repeat([]byte("x"), 3000)})
					}
					if err := w.Append(ctx, recs); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		var readers sync.WaitGroup
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				_, moved, err := b.st.LoadRecordsReport(ctx, "cc", n)
				if err != nil || len(moved) != 0 {
					t.Errorf("reading while writing: %+v, %v", moved, err)
					return
				}
			}
		})
		wg.Wait()
		close(done)
		readers.Wait()
		recs, err := b.st.LoadRecords(ctx, "cc", n)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.Status != store.StatusSucceeded {
				t.Fatalf("element %d: %+v", i, r)
			}
		}
	})
}

// TestJournalTornSegment: a segment whose writer was killed in the middle of
// a write ends in part of a line: readers ignore that part and keep the rest;
// the next writer starts a new segment.
func TestJournalTornSegment(t *testing.T) {
	ctx := context.Background()
	b := kinds[0].open(t)
	defer b.st.Close()
	create(t, b.st, "torn", nil, inputsN(3)...)
	w, err := b.st.OpenJournal(ctx, "torn", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, []store.Record{{Index: 0, Status: store.StatusSucceeded}}); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(b.dir, filepath.FromSlash(runOf(t, b.st, "torn")), "journal", "d1", "0000000000.jsonl")
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"i":1,"s":"succeeded","o":"ab`) // what a killed writer leaves
	f.Close()
	w.Close()
	recs, moved, err := b.st.LoadRecordsReport(ctx, "torn", 3)
	if err != nil || len(moved) != 0 || recs[0].Status != store.StatusSucceeded || recs[1].Status != "" {
		t.Fatalf("LoadRecordsReport = %+v, %+v, %v", recs, moved, err)
	}
	w, err = b.st.OpenJournal(ctx, "torn", "d1")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(ctx, []store.Record{{Index: 2, Status: store.StatusSucceeded}}); err != nil {
		t.Fatal(err)
	}
	recs, moved, err = b.st.LoadRecordsReport(ctx, "torn", 3)
	if err != nil || len(moved) != 0 || recs[0].Status != store.StatusSucceeded || recs[2].Status != store.StatusSucceeded {
		t.Fatalf("after a new writer: %+v, %+v, %v", recs, moved, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(seg), "0000000001.jsonl")); err != nil {
		t.Errorf("the new writer did not start a new segment: %v", err)
	}
}

// tmpfs mounts a tmpfs of size bytes, for the test, or skips it when it
// cannot (not root, no mount permission).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// checkWhole checks that every file below dir is an object written whole
// (its content is written[key]) and that no temporary file is left.
func checkWhole(t *testing.T, dir string, written map[string][]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		want, ok := written[rel]
		switch {
		case strings.HasSuffix(rel, ".tmp"):
			t.Errorf("temporary file left: %s", rel)
		case ok && !bytes.Equal(got, want):
			t.Errorf("%s: %d bytes, want the %d written: a partial object", rel, len(got), len(want))
		case !ok && !strings.HasSuffix(rel, "spec.json") && !strings.Contains(rel, "/inputs-"):
			t.Errorf("%s: %d bytes: an object whose write failed", rel, len(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoSpaceLeft: on a full file system (a 1 MiB tmpfs), writes fail with
// an error naming the object and wrapping ENOSPC, leave no temporary file
// and publish no partial object; once space is freed, writes work again.
func TestNoSpaceLeft(t *testing.T) {
	dir := tmpfs(t, "1m")
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	written := map[string][]byte{}
	cacheKey := func(i int) (string, string) {
		k := store.CacheKey("t", "v", nil, []byte(fmt.Sprint(i)))
		return k, "cache/" + k[:2] + "/" + k
	}
	var errs []error
	// Large objects (written as the blob layer streams them), then small
	// ones (written by Close), until both fail.
	for _, size := range []int{100_000, 300} {
		for i := 0; ; i++ {
			k, obj := cacheKey(size*1000 + i)
			data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
			err := st.CachePut(ctx, k, data)
			if err == nil {
				written[obj] = data
				continue
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), obj) {
				t.Fatalf("a write on a full file system: %v; want ENOSPC naming %s", err, obj)
			}
			errs = append(errs, err)
			break
		}
	}
	checkWhole(t, dir, written)
	// Free space: writes work again, and the objects are whole.
	for obj := range written {
		if err := os.Remove(filepath.Join(dir, obj)); err != nil {
			t.Fatal(err)
		}
		delete(written, obj)
		if len(written) < 3 {
			break
		}
	}
	for i := range 3 {
		k, obj := cacheKey(i)
		data := bytes.Repeat([]byte("z"), 50_000)
		if err := st.CachePut(ctx, k, data); err != nil {
			t.Fatalf("after freeing space: %v", err)
		}
		written[obj] = data
	}
	checkWhole(t, dir, written)
	if err := st.CheckWritable(ctx); err != nil {
		t.Errorf("CheckWritable with space: %v", err)
	}
}

// TestJournalNoSpaceLeft: an Append that fails for want of space leaves the
// segment as it was (no partial line), names it, wraps ENOSPC, and the next
// Append once space is freed succeeds; the journal then holds exactly the
// records of the Appends that succeeded.
func TestJournalNoSpaceLeft(t *testing.T) {
	dir := tmpfs(t, "1m")
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 400
	create(t, st, "full", nil, inputsN(n)...)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := st.OpenJournal(ctx, "full", "d1")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seg := filepath.Join(dir, filepath.FromSlash(runOf(t, st, "full")), "journal", "d1", "0000000000.jsonl")
	var ok []int
	failed := 0
	for i := 0; i < n && failed == 0; i++ {
		before, _ := os.Stat(seg)
		rec := store.Record{Index: i, Status: store.StatusSucceeded, Output: bytes.Repeat([]byte{byte(i)}, 20_000+i)}
		err := w.Append(ctx, []store.Record{rec})
		if err == nil {
			ok = append(ok, i)
			continue
		}
		failed++
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "journal/d1/0000000000.jsonl") {
			t.Fatalf("Append on a full file system: %v; want ENOSPC naming the segment", err)
		}
		after, _ := os.Stat(seg)
		if before != nil && after.Size() != before.Size() {
			t.Fatalf("the failed Append left %d bytes", after.Size()-before.Size())
		}
	}
	if failed == 0 {
		t.Fatal("the file system never filled")
	}
	if data, _ := os.ReadFile(seg); len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatal("the segment ends in part of a line")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	last := ok[len(ok)-1] + 1
	if err := w.Append(ctx, []store.Record{{Index: last, Status: store.StatusSucceeded}}); err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
	ok = append(ok, last)
	recs, moved, err := st.LoadRecordsReport(ctx, "full", n)
	if err != nil || len(moved) != 0 {
		t.Fatalf("LoadRecordsReport = %+v, %v", moved, err)
	}
	var got []int
	for i, r := range recs {
		if r.Status != "" {
			got = append(got, i)
		}
	}
	if !reflect.DeepEqual(got, ok) {
		t.Fatalf("recorded elements %v, want %v", got, ok)
	}
}

// TestCheckWritable: the probe succeeds on a writable store, leaving nothing,
// and fails on a read-only one, naming it.
func TestCheckWritable(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		if err := b.st.CheckWritable(context.Background()); err != nil {
			t.Fatal(err)
		}
		if keys := listKeys(t, b.raw, "probe/"); len(keys) != 0 {
			t.Errorf("the probe left %v", keys)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		dir := tmpfs(t, "1m")
		ctx := context.Background()
		st, err := store.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		create(t, st, "ro", nil, "a")
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("remounting read-only: %v", err)
		}
		err = st.CheckWritable(ctx)
		if err == nil || !strings.Contains(err.Error(), st.URL()+" is not writable") || !errors.Is(err, syscall.EROFS) {
			t.Fatalf("CheckWritable on a read-only file system = %v; want an error naming %s, wrapping EROFS", err, st.URL())
		}
		// Reading still works.
		if _, err := st.LoadSpec(ctx, "ro"); err != nil {
			t.Error(err)
		}
	})
}

// BenchmarkJournalAppend: one record per call on a local store, through a
// JournalWriter (an append to one file) and through AppendRecords (an
// object, that is a file created and renamed, per call).
func BenchmarkJournalAppend(b *testing.B) {
	ctx := context.Background()
	rec := store.Record{Index: 0, Status: store.StatusSucceeded, Attempts: 1, DurationNS: 123456, Output: []byte(`{"value":12345}`), Time: 1700000000000000000}
	open := func(b *testing.B) *store.Store {
		st, err := store.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		spec, data, offsets := execution("bench", "1")
		if err := st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
			b.Fatal(err)
		}
		return st
	}
	b.Run("JournalWriter", func(b *testing.B) {
		w, err := open(b).OpenJournal(ctx, "bench", "d1")
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		for b.Loop() {
			if err := w.Append(ctx, []store.Record{rec}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("JournalWriterSync", func(b *testing.B) {
		w, err := open(b).OpenJournal(ctx, "bench", "d1")
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		w.SetSync(true)
		for b.Loop() {
			if err := w.Append(ctx, []store.Record{rec}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendRecords", func(b *testing.B) {
		st := open(b)
		for b.Loop() {
			if err := st.AppendRecords(ctx, "bench", "d1", []store.Record{rec}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
