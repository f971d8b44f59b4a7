package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/maptask/maptask/internal/testenv"
	"github.com/maptask/maptask/store"
)

// bundle is what a store test needs: the store, and the same bucket opened
// separately to plant or inspect objects behind the store's back.
type bundle struct {
	st  *store.Store
	raw *blob.Bucket
	dir string // the local directory, for file stores
}

// kinds are the stores every round trip runs against.
var kinds = []struct {
	name string
	open func(t *testing.T) bundle
}{
	{"file", func(t *testing.T) bundle {
		dir := filepath.Join(t.TempDir(), "st") // Open creates it
		st, err := store.Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			t.Fatal(err)
		}
		return bundle{st: st, raw: raw, dir: dir}
	}},
	{"mem", func(t *testing.T) bundle {
		raw, err := blob.OpenBucket(context.Background(), "mem://")
		if err != nil {
			t.Fatal(err)
		}
		return bundle{st: store.New(raw, "mem://"), raw: raw}
	}},
	{"s3", func(t *testing.T) bundle {
		u := testenv.S3URL(t)
		st, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := blob.OpenBucket(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		return bundle{st: st, raw: raw}
	}},
}

// eachStore runs f against a fresh store of every kind.
func eachStore(t *testing.T, f func(t *testing.T, b bundle)) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b := k.open(t)
			t.Cleanup(func() {
				b.st.Close()
				b.raw.Close() // a mem store's second Close reports an error we ignore
			})
			f(t, b)
		})
	}
}

// execution builds a spec with its stored inputs.
func execution(id string, inputs ...string) (store.Spec, []byte, []uint64) {
	var data []byte
	offsets := []uint64{0}
	for _, in := range inputs {
		data = append(data, in...)
		offsets = append(offsets, uint64(len(data)))
	}
	return store.Spec{
		ID: id, Task: "test.task", Codec: "json", N: len(inputs),
		InputsDigest: store.InputsDigest(data, offsets),
		Created:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Labels:       map[string]string{"backend": "inprocess"},
	}, data, offsets
}

// runOf returns the prefix of the objects of execution id's creation
// ("executions/<id>/<inputs>/"), where its journal, logs, verdict and cancel
// request are.
func runOf(t *testing.T, st *store.Store, id string) string {
	t.Helper()
	spec, err := st.LoadSpec(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return "executions/" + id + "/" + spec.Inputs + "/"
}

// inputsN returns n inputs.
func inputsN(n int) []string {
	in := make([]string, n)
	for i := range in {
		in[i] = fmt.Sprint(i)
	}
	return in
}

func create(t *testing.T, st *store.Store, id string, bound []byte, inputs ...string) store.Spec {
	t.Helper()
	spec, data, offsets := execution(id, inputs...)
	if err := st.CreateExecution(context.Background(), spec, data, offsets, bound); err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestExecutionRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		spec := create(t, b.st, "ex-1", []byte(`{"k":1}`), `"a"`, `"bb"`, ``, `"dddd"`)
		got, err := b.st.LoadSpec(ctx, "ex-1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Inputs, "inputs-") {
			t.Errorf("Inputs %q: CreateExecution names the input objects", got.Inputs)
		}
		spec.Inputs = got.Inputs
		spec.Version = store.SpecVersion
		if !reflect.DeepEqual(*got, spec) {
			t.Errorf("LoadSpec = %+v, want %+v", *got, spec)
		}
		bound, err := b.st.ReadBound(ctx, "ex-1")
		if err != nil || string(bound) != `{"k":1}` {
			t.Errorf("ReadBound = %q, %v", bound, err)
		}
		all, err := b.st.ReadInputs(ctx, "ex-1", 0, 4)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{`"a"`, `"bb"`, ``, `"dddd"`}
		for i, in := range all {
			if string(in) != want[i] {
				t.Errorf("ReadInputs[%d] = %q, want %q", i, in, want[i])
			}
		}
		// Appending to one returned input never overwrites the next.
		_ = append(all[0], 'X')
		if string(all[1]) != `"bb"` {
			t.Errorf("inputs share capacity: %q", all[1])
		}
	})
}

func TestReadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		inputs := []string{"first", "", "middle", "", "last!"}
		create(t, b.st, "in", nil, inputs...)
		for i, want := range inputs {
			got, err := b.st.ReadInput(ctx, "in", i)
			if err != nil {
				t.Fatalf("ReadInput(%d): %v", i, err)
			}
			if string(got) != want {
				t.Errorf("ReadInput(%d) = %q, want %q", i, got, want)
			}
		}
		for _, r := range [][2]int{{0, 5}, {1, 4}, {4, 5}, {2, 2}, {5, 5}} {
			got, err := b.st.ReadInputs(ctx, "in", r[0], r[1])
			if err != nil {
				t.Fatalf("ReadInputs(%d, %d): %v", r[0], r[1], err)
			}
			if len(got) != r[1]-r[0] {
				t.Fatalf("ReadInputs(%d, %d) returned %d inputs", r[0], r[1], len(got))
			}
			for k, in := range got {
				if string(in) != inputs[r[0]+k] {
					t.Errorf("ReadInputs(%d, %d)[%d] = %q, want %q", r[0], r[1], k, in, inputs[r[0]+k])
				}
			}
		}
		for _, i := range []int{-1, 5, 1 << 62} {
			_, err := b.st.ReadInput(ctx, "in", i)
			if err == nil || !strings.Contains(err.Error(), "has 5 inputs") {
				t.Errorf("ReadInput(%d) = %v, want an out of range error naming N", i, err)
			}
		}
		for _, r := range [][2]int{{-1, 2}, {3, 2}, {4, 6}, {0, 1 << 62}} {
			if _, err := b.st.ReadInputs(ctx, "in", r[0], r[1]); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("ReadInputs(%d, %d) = %v, want out of range", r[0], r[1], err)
			}
		}
		_, err := b.st.ReadInput(ctx, "nosuch", 0)
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), `execution "nosuch" not found`) {
			t.Errorf("ReadInput of a missing execution = %v", err)
		}
	})
}

// TestReadInputIsRanged shows that reading one input never reads the whole
// data or index: both files are grown, sparse, to 64 GiB past what they hold,
// after the store has read (and checked against the index) the spec it keeps.
func TestReadInputIsRanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	create(t, st, "big", nil, "a", "bc", "", "def")
	spec, err := st.LoadSpec(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadInput(ctx, "big", 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{spec.Inputs + ".data", spec.Inputs + ".index"} {
		if err := os.Truncate(filepath.Join(dir, "executions", "big", name), 1<<36); err != nil {
			t.Skipf("no sparse files here: %v", err)
		}
	}
	for i, want := range []string{"a", "bc", "", "def"} {
		got, err := st.ReadInput(ctx, "big", i)
		if err != nil || string(got) != want {
			t.Errorf("ReadInput(%d) = %q, %v; want %q", i, got, err, want)
		}
	}
	got, err := st.ReadInputs(ctx, "big", 1, 4)
	if err != nil || len(got) != 3 || string(got[2]) != "def" {
		t.Errorf("ReadInputs(1, 4) = %q, %v", got, err)
	}
}

func TestCorruptIndex(t *testing.T) {
	ctx := context.Background()
	b := kinds[1].open(t)
	create(t, b.st, "c", nil, "aa", "bb")
	spec, err := b.st.LoadSpec(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "executions/c/" + spec.Inputs
	// Offsets 0, 10, 4: decreasing; and 0, 10 past the end of the data.
	index := make([]byte, 24)
	index[8] = 10
	index[16] = 4
	if err := b.raw.WriteAll(ctx, prefix+".index", index, nil); err != nil {
		t.Fatal(err)
	}
	_, err = b.st.ReadInputs(ctx, "c", 0, 2)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), prefix+".index") {
		t.Errorf("decreasing offsets: %v", err)
	}
	_, err = b.st.ReadInput(ctx, "c", 0)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), prefix+".data") {
		t.Errorf("offsets past the data: %v", err)
	}
}

func TestCreateExecutionRefusesExisting(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "dup", nil, "x")
		spec, data, offsets := execution("dup", "other", "inputs")
		err := b.st.CreateExecution(ctx, spec, data, offsets, []byte("bound"))
		if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), `"dup"`) {
			t.Fatalf("CreateExecution of an existing id = %v, want ErrExists", err)
		}
		// Nothing was written.
		if in, err := b.st.ReadInputs(ctx, "dup", 0, 1); err != nil || string(in[0]) != "x" {
			t.Errorf("inputs after a refused create: %q, %v", in, err)
		}
		if ok, _ := b.raw.Exists(ctx, "executions/dup/bound"); ok {
			t.Error("a refused create wrote the bound value")
		}
	})
}

func TestCreateExecutionChecksLayout(t *testing.T) {
	b := kinds[1].open(t)
	ctx := context.Background()
	spec, data, _ := execution("lay", "ab", "cd")
	for _, offsets := range [][]uint64{nil, {0, 2}, {0, 2, 4, 4}, {1, 2, 4}, {0, 3, 2, 4}, {0, 2, 5}} {
		if err := b.st.CreateExecution(ctx, spec, data, offsets, nil); err == nil {
			t.Errorf("offsets %v accepted", offsets)
		}
	}
	spec.N = -1
	if err := b.st.CreateExecution(ctx, spec, nil, nil, nil); err == nil {
		t.Error("N -1 accepted")
	}
	if _, err := b.st.LoadSpec(ctx, "lay"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused create left a spec: %v", err)
	}
	// Zero inputs is a valid execution.
	spec, data, offsets := execution("empty")
	if err := b.st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
		t.Errorf("zero inputs: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		_, err := b.st.LoadSpec(ctx, "ghost")
		want := `maptask: execution "ghost" not found in store ` + b.st.URL()
		if !errors.Is(err, store.ErrNotFound) || err.Error() != want {
			t.Errorf("LoadSpec = %v, want %q", err, want)
		}
		if _, err := b.st.ReadBound(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadBound of a missing execution = %v", err)
		}
		if _, err := b.st.LoadVerdict(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LoadVerdict = %v", err)
		}
		if _, err := b.st.CacheGet(ctx, store.CacheKey("t", "v", nil, nil)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CacheGet = %v", err)
		}
		create(t, b.st, "nobound", nil, "x")
		if bound, err := b.st.ReadBound(ctx, "nobound"); bound != nil || err != nil {
			t.Errorf("ReadBound without a bound value = %q, %v; want nil, nil", bound, err)
		}
		if recs, err := b.st.LoadRecords(ctx, "nobound", 1); err != nil || len(recs) != 1 || recs[0].Status != "" {
			t.Errorf("LoadRecords without a journal = %+v, %v", recs, err)
		}
	})
}

func TestCorruptSpec(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const key = "executions/bad/spec.json"
		for _, content := range []string{`{"id": "bad", "n": `, `{"id": "other", "n": 1}`, `{"id": "bad", "n": -2}`} {
			if err := b.raw.WriteAll(ctx, key, []byte(content), nil); err != nil {
				t.Fatal(err)
			}
			_, err := b.st.LoadSpec(ctx, "bad")
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), key) {
				t.Errorf("LoadSpec of %q = %v, want ErrCorrupt naming %s", content, err, key)
			}
			if _, err := b.st.ListExecutions(ctx); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("ListExecutions with a corrupt spec = %v", err)
			}
			if got, err := b.raw.ReadAll(ctx, key); err != nil || string(got) != content {
				t.Errorf("the corrupt spec was touched: %q, %v", got, err)
			}
		}
	})
}

func TestListExecutions(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		if specs, err := b.st.ListExecutions(ctx); err != nil || len(specs) != 0 {
			t.Fatalf("empty store: %v, %v", specs, err)
		}
		t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		for _, e := range []struct {
			id string
			at time.Time
		}{{"zeta", t0}, {"alpha", t0.Add(time.Hour)}, {"beta", t0}, {"gamma", t0.Add(-time.Hour)}} {
			spec, data, offsets := execution(e.id, "x")
			spec.Created = e.at
			if err := b.st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
				t.Fatal(err)
			}
		}
		// An execution being created (no spec yet) and a stray object are skipped.
		if err := b.raw.WriteAll(ctx, "executions/half/inputs.data", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		if err := b.raw.WriteAll(ctx, "executions/stray", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		specs, err := b.st.ListExecutions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range specs {
			ids = append(ids, s.ID)
		}
		if want := []string{"gamma", "beta", "zeta", "alpha"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("ListExecutions = %v, want %v", ids, want)
		}
	})
}

func TestVerdictCancelLogsCache(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "v", nil, "a", "b")

		v1 := store.Verdict{Outcome: "failed", Required: 2, Succeeded: 1, Failed: 1, Error: "boom", Time: time.Unix(1, 0).UTC()}
		v2 := store.Verdict{Outcome: "succeeded", Required: 2, Succeeded: 2, Time: time.Unix(2, 0).UTC()}
		for _, v := range []store.Verdict{v1, v2} {
			if err := b.st.PutVerdict(ctx, "v", v); err != nil {
				t.Fatal(err)
			}
			got, err := b.st.LoadVerdict(ctx, "v")
			if err != nil || !reflect.DeepEqual(*got, v) {
				t.Errorf("LoadVerdict = %+v, %v; want %+v", got, err, v)
			}
		}

		for range 2 { // clearing twice is fine
			if err := b.st.ClearVerdict(ctx, "v"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.st.LoadVerdict(ctx, "v"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LoadVerdict after ClearVerdict = %v, want ErrNotFound", err)
		}

		if yes, err := b.st.Cancelled(ctx, "v"); yes || err != nil {
			t.Errorf("Cancelled before SetCancel = %v, %v", yes, err)
		}
		if err := b.st.SetCancel(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		if yes, err := b.st.Cancelled(ctx, "v"); !yes || err != nil {
			t.Errorf("Cancelled after SetCancel = %v, %v", yes, err)
		}
		for range 2 { // clearing twice is fine
			if err := b.st.ClearCancel(ctx, "v"); err != nil {
				t.Fatal(err)
			}
		}
		if yes, err := b.st.Cancelled(ctx, "v"); yes || err != nil {
			t.Errorf("Cancelled after ClearCancel = %v, %v", yes, err)
		}

		if logs, err := b.st.ReadLogs(ctx, "v", 1); err != nil || logs == nil || len(logs) != 0 {
			t.Errorf("ReadLogs with none = %#v, %v; want an empty slice", logs, err)
		}
		for _, a := range []int{10, 2, 1} {
			if err := b.st.PutLog(ctx, "v", 1, a, []byte("attempt "+string(rune('0'+a%10)))); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.st.PutLog(ctx, "v", 11, 1, []byte("other element")); err != nil {
			t.Fatal(err)
		}
		logs, err := b.st.ReadLogs(ctx, "v", 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.AttemptLog{{1, []byte("attempt 1"), nil}, {2, []byte("attempt 2"), nil}, {10, []byte("attempt 0"), nil}}
		if !reflect.DeepEqual(logs, want) {
			t.Errorf("ReadLogs = %+v, want %+v", logs, want)
		}
		// Standard error is kept apart, also for an attempt without stdout.
		if err := b.st.PutErrorLog(ctx, "v", 1, 2, []byte("oops")); err != nil {
			t.Fatal(err)
		}
		if err := b.st.PutErrorLog(ctx, "v", 1, 3, []byte("only stderr")); err != nil {
			t.Fatal(err)
		}
		logs, err = b.st.ReadLogs(ctx, "v", 1)
		if err != nil {
			t.Fatal(err)
		}
		want = []store.AttemptLog{{1, []byte("attempt 1"), nil}, {2, []byte("attempt 2"), []byte("oops")}, {3, nil, []byte("only stderr")}, {10, []byte("attempt 0"), nil}}
		if !reflect.DeepEqual(logs, want) {
			t.Errorf("ReadLogs with stderr = %+v, want %+v", logs, want)
		}
		if l, err := b.st.ReadAttemptLog(ctx, "v", 1, 2); err != nil || string(l.Data) != "attempt 2" || string(l.Stderr) != "oops" {
			t.Errorf("ReadAttemptLog = %+v, %v", l, err)
		}
		if l, err := b.st.ReadAttemptLog(ctx, "v", 5, 1); err != nil || l.Data != nil || l.Stderr != nil {
			t.Errorf("ReadAttemptLog of an element with none = %+v, %v; want empty and no error", l, err)
		}
		if got, err := b.st.LoggedElements(ctx, "v"); err != nil || !reflect.DeepEqual(got, []int{1, 11}) {
			t.Errorf("LoggedElements = %v, %v; want [1 11]", got, err)
		}
		if err := b.st.PutLog(ctx, "v", -1, 1, nil); err == nil {
			t.Error("PutLog accepted element -1")
		}

		key := store.CacheKey("task", "v1", nil, []byte(`3`))
		if err := b.st.CachePut(ctx, key, []byte(`9`)); err != nil {
			t.Fatal(err)
		}
		if out, err := b.st.CacheGet(ctx, key); err != nil || string(out) != `9` {
			t.Errorf("CacheGet = %q, %v", out, err)
		}
		if ok, _ := b.raw.Exists(ctx, "cache/"+key[:2]+"/"+key); !ok {
			t.Errorf("cache entry not at cache/%s/%s", key[:2], key)
		}
		for _, bad := range []string{"", "abc", strings.ToUpper(key), key[:63] + "g", "../" + key[3:], key + "0"} {
			if _, err := b.st.CacheGet(ctx, bad); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("CacheGet(%q) = %v, want an invalid key error", bad, err)
			}
			if err := b.st.CachePut(ctx, bad, nil); err == nil {
				t.Errorf("CachePut(%q) accepted", bad)
			}
		}
	})
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "A-1_b.c", "0", "_x", strings.Repeat("x", 128), "a..b", "run.2025-01-01"} {
		if err := store.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "../x", "a/b", ".hidden", "..", ".", "-flag", strings.Repeat("x", 129), "a b", "a\\b", "a\x00", "é", "a\n"} {
		err := store.ValidateID(id)
		if err == nil {
			t.Errorf("ValidateID(%q) accepted", id)
			continue
		}
		if !strings.HasPrefix(err.Error(), "maptask: execution id ") || !strings.Contains(err.Error(), "must be 1-128 characters") {
			t.Errorf("ValidateID(%q) = %q", id, err)
		}
	}
}

// TestIDsAreChecked: every method taking an id refuses one that would escape.
func TestIDsAreChecked(t *testing.T) {
	b := kinds[1].open(t)
	ctx := context.Background()
	const bad = "../x"
	spec, data, offsets := execution(bad, "a")
	calls := map[string]func() error{
		"CreateExecution": func() error { return b.st.CreateExecution(ctx, spec, data, offsets, nil) },
		"LoadSpec":        func() error { _, err := b.st.LoadSpec(ctx, bad); return err },
		"ReadInput":       func() error { _, err := b.st.ReadInput(ctx, bad, 0); return err },
		"ReadInputs":      func() error { _, err := b.st.ReadInputs(ctx, bad, 0, 1); return err },
		"ReadBound":       func() error { _, err := b.st.ReadBound(ctx, bad); return err },
		"AppendRecords":   func() error { return b.st.AppendRecords(ctx, bad, "w", []store.Record{{Status: "failed"}}) },
		"AppendRecords writer": func() error {
			return b.st.AppendRecords(ctx, "ok", "../w", []store.Record{{Status: "failed"}})
		},
		"LoadRecords":        func() error { _, err := b.st.LoadRecords(ctx, bad, 1); return err },
		"ReadJournal":        func() error { _, err := b.st.ReadJournal(ctx, bad, "w"); return err },
		"ReadJournal writer": func() error { _, err := b.st.ReadJournal(ctx, "ok", "a/b"); return err },
		"PutLog":             func() error { return b.st.PutLog(ctx, bad, 0, 1, nil) },
		"ReadLogs":           func() error { _, err := b.st.ReadLogs(ctx, bad, 0); return err },
		"PutVerdict":         func() error { return b.st.PutVerdict(ctx, bad, store.Verdict{}) },
		"LoadVerdict":        func() error { _, err := b.st.LoadVerdict(ctx, bad); return err },
		"SetCancel":          func() error { return b.st.SetCancel(ctx, bad) },
		"ClearCancel":        func() error { return b.st.ClearCancel(ctx, bad) },
		"ClearVerdict":       func() error { return b.st.ClearVerdict(ctx, bad) },
		"Cancelled":          func() error { _, err := b.st.Cancelled(ctx, bad); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil || !strings.Contains(err.Error(), "must be 1-128 characters") {
			t.Errorf("%s: %v, want an id error", name, err)
		}
	}
	it := b.raw.List(nil)
	if obj, err := it.Next(ctx); err == nil {
		t.Errorf("something was written: %s", obj.Key)
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"a", "../x", "a/b", ".hidden", "-x", "x.y", "..", "a..", strings.Repeat("z", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if store.ValidateID(id) != nil {
			return
		}
		if len(id) == 0 || len(id) > 128 || strings.ContainsAny(id, "/\\\x00") || strings.HasPrefix(id, ".") || strings.HasPrefix(id, "-") {
			t.Fatalf("ValidateID accepted %q", id)
		}
		if filepath.Clean(id) != id || filepath.Base(id) != id {
			t.Fatalf("ValidateID accepted %q, not one clean path element", id)
		}
	})
}

func TestCacheKey(t *testing.T) {
	k := store.CacheKey("task", "v1", []byte("b"), []byte("in"))
	if len(k) != 64 || strings.Trim(k, "0123456789abcdef") != "" {
		t.Fatalf("CacheKey = %q, want 64 lowercase hex digits", k)
	}
	if k != store.CacheKey("task", "v1", []byte("b"), []byte("in")) {
		t.Error("CacheKey is not deterministic")
	}
	// Moving bytes from one field to the next gives another key.
	keys := map[string][4]string{}
	for _, f := range [][4]string{
		{"ab", "c", "", ""}, {"a", "bc", "", ""}, {"abc", "", "", ""},
		{"", "ab", "c", ""}, {"", "a", "bc", ""}, {"", "", "ab", "c"}, {"", "", "a", "bc"},
		{"", "", "", "abc"}, {"", "", "", ""},
	} {
		k := store.CacheKey(f[0], f[1], []byte(f[2]), []byte(f[3]))
		if other, ok := keys[k]; ok {
			t.Errorf("CacheKey%q == CacheKey%q", f, other)
		}
		keys[k] = f
	}
	if store.CacheKey("t", "v", nil, nil) != store.CacheKey("t", "v", []byte{}, []byte{}) {
		t.Error("a nil bound and an empty one differ")
	}
}

func TestInputsDigest(t *testing.T) {
	a := store.InputsDigest([]byte("abc"), []uint64{0, 1, 3})
	if a == store.InputsDigest([]byte("abc"), []uint64{0, 2, 3}) {
		t.Error("moving an element boundary keeps the digest")
	}
	if a == store.InputsDigest([]byte("abd"), []uint64{0, 1, 3}) {
		t.Error("changing data keeps the digest")
	}
	if a != store.InputsDigest([]byte("abc"), []uint64{0, 1, 3}) || len(a) != 64 {
		t.Errorf("InputsDigest = %q", a)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	t.Chdir(base)
	cases := []struct{ url, dir string }{
		{filepath.Join(base, "abs", "nested"), filepath.Join(base, "abs", "nested")},
		{"rel/dir", filepath.Join(base, "rel", "dir")},
		{"file://" + filepath.Join(base, "fileurl"), filepath.Join(base, "fileurl")},
		{"file://" + filepath.Join(base, "withquery") + "?no_tmp_dir=1", filepath.Join(base, "withquery")},
	}
	for _, c := range cases {
		st, err := store.Open(ctx, c.url)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.url, err)
		}
		if fi, err := os.Stat(c.dir); err != nil || !fi.IsDir() {
			t.Errorf("Open(%q) did not create %s: %v", c.url, c.dir, err)
		}
		create(t, st, "e", nil, "x")
		if _, err := os.Stat(filepath.Join(c.dir, "executions", "e", "spec.json")); err != nil {
			t.Errorf("Open(%q): the spec is not in %s: %v", c.url, c.dir, err)
		}
		if !strings.Contains(c.url, "?") && st.URL() != "file://"+c.dir {
			t.Errorf("Open(%q).URL() = %q, want file://%s", c.url, st.URL(), c.dir)
		}
		// The URL it reports opens the same store.
		again, err := store.Open(ctx, st.URL())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := again.LoadSpec(ctx, "e"); err != nil {
			t.Errorf("reopening %s: %v", st.URL(), err)
		}
		again.Close()
		st.Close()
	}

	mem, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	if mem.URL() != "mem://" {
		t.Errorf("URL() = %q", mem.URL())
	}
	mem.Close()

	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "nosuchscheme://x", file + "/sub", "file://host/dir"} {
		_, err := store.Open(ctx, bad)
		if err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		} else if bad != "" && !strings.Contains(err.Error(), bad) {
			t.Errorf("Open(%q) = %v, want the URL named", bad, err)
		}
	}
}

func TestDefaultURL(t *testing.T) {
	t.Setenv("MAPTASK_STORE", "s3://bucket?region=x")
	if got, err := store.DefaultURL(); got != "s3://bucket?region=x" || err != nil {
		t.Errorf("DefaultURL with $MAPTASK_STORE = %q, %v", got, err)
	}
	t.Setenv("MAPTASK_STORE", "")
	got, err := store.DefaultURL()
	if !strings.HasPrefix(got, "file://") || filepath.Base(got) != "maptask" || err != nil {
		t.Errorf("DefaultURL = %q, %v", got, err)
	}
	// No home: an error saying what to set, not a store in the shared /tmp.
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	got, err = store.DefaultURL()
	if err == nil || got != "" || !strings.Contains(err.Error(), "set MAPTASK_STORE") || !strings.Contains(err.Error(), "HOME") {
		t.Errorf("DefaultURL without a home = %q, %v; want an error naming MAPTASK_STORE and HOME", got, err)
	}
}

// TestIgnoresWritesInProgress: a local directory shows a write in progress as
// a temporary file beside its object; readers take no notice of it.
func TestIgnoresWritesInProgress(t *testing.T) {
	ctx := context.Background()
	b := kinds[0].open(t)
	create(t, b.st, "tmp", nil, "a")
	if err := b.st.AppendRecords(ctx, "tmp", "w", []store.Record{{Index: 0, Status: store.StatusFailed}}); err != nil {
		t.Fatal(err)
	}
	if err := b.st.PutLog(ctx, "tmp", 0, 1, []byte("log")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"journal/w/0000000001.jsonl.18a2b3c4d5e6f.tmp", "logs/0/2.log.18a2b3c4d5e6f.tmp"} {
		if err := os.WriteFile(filepath.Join(b.dir, runOf(t, b.st, "tmp"), p), []byte(`{"i":0,"s":"succ`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := b.st.LoadRecords(ctx, "tmp", 1)
	if err != nil || recs[0].Status != store.StatusFailed {
		t.Errorf("LoadRecords = %+v, %v", recs, err)
	}
	logs, err := b.st.ReadLogs(ctx, "tmp", 0)
	if err != nil || len(logs) != 1 || !bytes.Equal(logs[0].Data, []byte("log")) {
		t.Errorf("ReadLogs = %+v, %v", logs, err)
	}
}

func TestDeleteExecution(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "gone", nil, "x", "y")
		create(t, b.st, "kept", nil, "z")
		if err := b.st.PutLog(ctx, "gone", 0, 1, []byte("out")); err != nil {
			t.Fatal(err)
		}
		if err := b.st.AppendRecords(ctx, "gone", "w", []store.Record{{Index: 0, Status: store.StatusSucceeded, Attempts: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := b.st.DeleteExecution(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.st.LoadSpec(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LoadSpec after delete = %v, want ErrNotFound", err)
		}
		it := b.raw.List(&blob.ListOptions{Prefix: "executions/gone/"})
		if obj, err := it.Next(ctx); err != io.EOF {
			t.Errorf("an object is left after delete: %+v, %v", obj, err)
		}
		specs, err := b.st.ListExecutions(ctx)
		if err != nil || len(specs) != 1 || specs[0].ID != "kept" {
			t.Errorf("ListExecutions after delete = %+v, %v; want only kept", specs, err)
		}
		// Deleting again, or an execution never created, is no error; the
		// same id can be created anew.
		if err := b.st.DeleteExecution(ctx, "gone"); err != nil {
			t.Errorf("second delete: %v", err)
		}
		create(t, b.st, "gone", nil, "new")
		if in, err := b.st.ReadInputs(ctx, "gone", 0, 1); err != nil || string(in[0]) != "new" {
			t.Errorf("inputs of the recreated execution: %q, %v", in, err)
		}
		if err := b.st.DeleteExecution(ctx, "../x"); err == nil {
			t.Error("DeleteExecution accepted an id escaping the store")
		}
	})
}
