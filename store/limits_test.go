package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maptask/maptask/store"
)

// corrupt checks that err wraps ErrCorrupt and names what.
func corrupt(t *testing.T, op string, err error, what ...string) {
	t.Helper()
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("%s = %v, want ErrCorrupt", op, err)
		return
	}
	for _, w := range what {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s = %v, want it to name %q", op, err, w)
		}
	}
}

// TestCraftedInputCount: a spec whose N the input index contradicts (2^50
// elements, from a 14-byte edit) is refused by LoadSpec before anyone
// allocates by it, and by every reader that starts from the spec.
func TestCraftedInputCount(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "big-n", nil, "a", "b")
		key := "executions/big-n/spec.json"
		js, err := b.raw.ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1125899906842624", "3", "1", "-1"} {
			crafted := strings.Replace(string(js), `"n": 2,`, `"n": `+n+`,`, 1)
			if err := b.raw.WriteAll(ctx, key, []byte(crafted), nil); err != nil {
				t.Fatal(err)
			}
			fresh := store.New(b.raw, "raw") // no spec read yet
			_, err = fresh.LoadSpec(ctx, "big-n")
			corrupt(t, "LoadSpec with n "+n, err, key)
			_, err = fresh.ReadInput(ctx, "big-n", 0)
			corrupt(t, "ReadInput with n "+n, err, key)
		}
		// The index itself gone: corrupt too, not a missing execution (which
		// a driver would then try to create).
		if err := b.raw.WriteAll(ctx, key, js, nil); err != nil {
			t.Fatal(err)
		}
		spec, err := b.st.LoadSpec(ctx, "big-n")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.raw.Delete(ctx, "executions/big-n/"+spec.Inputs+".index"); err != nil {
			t.Fatal(err)
		}
		_, err = b.st.LoadSpec(ctx, "big-n")
		corrupt(t, "LoadSpec without an index", err, spec.Inputs+".index")
		if !errors.Is(err, store.ErrInputsMissing) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("LoadSpec without an index = %v, want ErrInputsMissing, not ErrNotFound", err)
		}
	})
}

// TestCraftedInputsName: a spec naming its inputs outside the execution is
// refused.
func TestCraftedInputsName(t *testing.T) {
	ctx := context.Background()
	b := kinds[1].open(t)
	create(t, b.st, "in", nil, "a")
	key := "executions/in/spec.json"
	js, _ := b.raw.ReadAll(ctx, key)
	spec, _ := b.st.LoadSpec(ctx, "in")
	crafted := strings.Replace(string(js), spec.Inputs, "../other/"+spec.Inputs, 1)
	if err := b.raw.WriteAll(ctx, key, []byte(crafted), nil); err != nil {
		t.Fatal(err)
	}
	_, err := store.New(b.raw, "raw").LoadSpec(ctx, "in")
	corrupt(t, "LoadSpec", err, key, "../other")
}

// TestOversizedObjects: every object read whole is refused, before it is
// read, when it is larger than its kind's limit; files are grown sparse, so
// nothing that large is ever written or read.
func TestOversizedObjects(t *testing.T) {
	ctx := context.Background()
	b := kinds[0].open(t)
	defer b.st.Close()
	fillStore(t, b.st, "x")
	spec, err := b.st.LoadSpec(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	key := store.CacheKey("t", "v", nil, []byte("a"))
	grow := func(rel string, size int64) string {
		t.Helper()
		if err := os.Truncate(filepath.Join(b.dir, filepath.FromSlash(rel)), size); err != nil {
			t.Fatal(err)
		}
		return rel
	}
	fresh := func() *store.Store { // one that has no spec in memory
		st, err := store.Open(ctx, b.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}

	obj := grow("executions/x/"+spec.Inputs+".bound", store.MaxBoundSize+1<<10)
	_, err = fresh().ReadBound(ctx, "x")
	corrupt(t, "ReadBound", err, obj, fmt.Sprint(store.MaxBoundSize))
	obj = grow("cache/"+key[:2]+"/"+key, store.MaxOutputSize+1<<10)
	_, err = b.st.CacheGet(ctx, key)
	corrupt(t, "CacheGet", err, obj, fmt.Sprint(store.MaxOutputSize))
	obj = grow("executions/x/logs/0/1.log", store.MaxLogSize+1)
	_, err = b.st.ReadLogs(ctx, "x", 0)
	corrupt(t, "ReadLogs", err, obj)
	obj = grow("executions/x/verdict.json", store.MaxVerdictSize+1)
	_, err = b.st.LoadVerdict(ctx, "x")
	corrupt(t, "LoadVerdict", err, obj, fmt.Sprint(store.MaxVerdictSize))
	obj = grow("executions/x/spec.json", 100<<20)
	_, err = fresh().LoadSpec(ctx, "x")
	corrupt(t, "LoadSpec", err, obj, fmt.Sprint(store.MaxSpecSize))

	// Writers refuse what readers would.
	big := make([]byte, store.MaxOutputSize+1)
	if err := b.st.CachePut(ctx, key, big); err == nil {
		t.Error("CachePut of an oversized output succeeded")
	}
	if err := b.st.AppendRecords(ctx, "x", "w", []store.Record{{Index: 0, Status: store.StatusSucceeded, Output: big}}); err == nil {
		t.Error("AppendRecords of an oversized output succeeded")
	}
	if err := b.st.PutLog(ctx, "x", 0, 3, make([]byte, store.MaxLogSize+1)); err == nil {
		t.Error("PutLog of an oversized log succeeded")
	}
	s2, data, offsets := execution("y", "a")
	if err := b.st.CreateExecution(ctx, s2, data, offsets, make([]byte, store.MaxBoundSize+1)); err == nil {
		t.Error("CreateExecution with an oversized bound value succeeded")
	}
	s2.Command = []string{strings.Repeat("x", store.MaxSpecSize)}
	if err := b.st.CreateExecution(ctx, s2, data, offsets, nil); err == nil {
		t.Error("CreateExecution with an oversized spec succeeded")
	}
	// A verdict's error is cut to fit.
	if err := b.st.PutVerdict(ctx, "x", store.Verdict{Outcome: "failed", Error: strings.Repeat("\x01", store.MaxVerdictSize)}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.st.LoadVerdict(ctx, "x"); err != nil || !strings.Contains(v.Error, "cut") {
		t.Errorf("LoadVerdict after a long error: %v", err)
	}
}

// TestJournalReadByLine: a journal line longer than the limit is refused
// naming its object and line, after the lines before it were read as a
// stream; lines below the limit are read whatever the object's size.
func TestJournalReadByLine(t *testing.T) {
	defer store.SetRecordLimit(1 << 10)()
	ctx := context.Background()
	b := kinds[1].open(t)
	const key = "executions/j/journal/w/0000000000.jsonl"
	var journal strings.Builder
	for i := range 1000 { // 40 KB in all, every line short
		fmt.Fprintf(&journal, `{"i":%d,"s":"failed","t":%d}`+"\n", i%3, i)
	}
	if err := b.raw.WriteAll(ctx, key, []byte(journal.String()), nil); err != nil {
		t.Fatal(err)
	}
	recs, err := b.st.LoadRecords(ctx, "j", 3)
	if err != nil || recs[2].Time != 998 || recs[0].Time != 999 {
		t.Fatalf("LoadRecords = %+v, %v", recs, err)
	}
	journal.WriteString(`{"i":0,"s":"failed","e":"` + strings.Repeat("x", 2<<10) + `"}` + "\n")
	if err := b.raw.WriteAll(ctx, key, []byte(journal.String()), nil); err != nil {
		t.Fatal(err)
	}
	_, err = b.st.LoadRecords(ctx, "j", 3)
	corrupt(t, "LoadRecords", err, key+" line 1001")
	_, err = b.st.ReadJournal(ctx, "j", "w")
	corrupt(t, "ReadJournal", err, key+" line 1001")
}

// TestScanExecutions: one execution whose spec cannot be read does not hide
// the others from ScanExecutions; ListExecutions reports it.
func TestScanExecutions(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "good", nil, "a")
		create(t, b.st, "worse", nil, "a")
		if err := b.raw.WriteAll(ctx, "executions/worse/spec.json", []byte(`{"id":"worse","n":1125899906842624}`), nil); err != nil {
			t.Fatal(err)
		}
		fresh := store.New(b.raw, "raw")
		specs, bad, err := fresh.ScanExecutions(ctx)
		if err != nil || len(specs) != 1 || specs[0].ID != "good" || len(bad) != 1 || bad[0].ID != "worse" || !errors.Is(bad[0].Err, store.ErrCorrupt) {
			t.Fatalf("ScanExecutions = %v, %v, %v", specs, bad, err)
		}
		if _, err := fresh.ListExecutions(ctx); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("ListExecutions = %v, want ErrCorrupt", err)
		}
	})
}
