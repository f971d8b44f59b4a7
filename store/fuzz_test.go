package store_test

// These add to store_test.go and journal_test.go what those leave out: fuzzing
// the journal as the file store reads it, the file store's directory staying
// untouched by bad ids, range errors naming the range, and two known bugs.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/maptask/maptask/store"
)

// TestBadIDsWriteNothing: with a file store, a call with an escaping id leaves
// both the store directory and its parent as they were.
func TestBadIDsWriteNothing(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dir := filepath.Join(parent, "st")
	st, err := store.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const bad = "../escape"
	spec, data, offsets := execution(bad, "a")
	rec := []store.Record{{Index: 0, Status: store.StatusFailed}}
	calls := map[string]func() error{
		"CreateExecution": func() error { return st.CreateExecution(ctx, spec, data, offsets, []byte("b")) },
		"AppendRecords":   func() error { return st.AppendRecords(ctx, bad, "w", rec) },
		"AppendRecords/w": func() error { return st.AppendRecords(ctx, "ok", "../w", rec) },
		"PutLog":          func() error { return st.PutLog(ctx, bad, 0, 1, []byte("log")) },
		"PutVerdict":      func() error { return st.PutVerdict(ctx, bad, store.Verdict{Outcome: "failed"}) },
		"SetCancel":       func() error { return st.SetCancel(ctx, bad) },
		"ClearCancel":     func() error { return st.ClearCancel(ctx, bad) },
		"LoadSpec":        func() error { _, err := st.LoadSpec(ctx, bad); return err },
		"ReadInputs":      func() error { _, err := st.ReadInputs(ctx, bad, 0, 1); return err },
		"ReadLogs":        func() error { _, err := st.ReadLogs(ctx, bad, 0); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil || !strings.Contains(err.Error(), "must be 1-128 characters") {
			t.Errorf("%s: %v, want an id error", name, err)
		}
	}
	for _, d := range []string{parent, dir} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := map[string][]string{parent: {"st"}, dir: nil}[d]; !slices.Equal(names, want) {
			t.Errorf("%s holds %v, want %v", d, names, want)
		}
	}
}

// TestRangeErrorNamesRange: an out-of-range read names the range asked for.
func TestRangeErrorNamesRange(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "r", nil, "a", "b", "c")
		_, err := b.st.ReadInputs(ctx, "r", 2, 5)
		if err == nil || !strings.Contains(err.Error(), "[2, 5)") || !strings.Contains(err.Error(), "has 3 inputs") {
			t.Errorf("ReadInputs(2, 5) = %v, want an error naming [2, 5) and N", err)
		}
		_, err = b.st.ReadInput(ctx, "r", 3)
		if err == nil || !strings.Contains(err.Error(), "input 3 out of range") {
			t.Errorf("ReadInput(3) = %v, want an error naming input 3", err)
		}
	})
}

// TestCreateExecutionRace: of two creators racing on one id, the loser must
// write nothing, so the stored inputs match the spec that won.
func TestCreateExecutionRace(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for round := range 200 {
			id := fmt.Sprintf("race-%d", round)
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					spec, data, offsets := execution(id, fmt.Sprintf("input of creator %d", w))
					if err := b.st.CreateExecution(ctx, spec, data, offsets, nil); err != nil && !errors.Is(err, store.ErrExists) {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			spec, err := b.st.LoadSpec(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			in, err := b.st.ReadInputs(ctx, id, 0, spec.N)
			if err != nil {
				t.Fatal(err)
			}
			if got := store.InputsDigest(in[0], []uint64{0, uint64(len(in[0]))}); got != spec.InputsDigest {
				t.Fatalf("round %d: stored input %q does not match the winning spec", round, in[0])
			}
		}
	})
}

// TestAppendRecordsRefusesUnreadable: AppendRecords must not write a record
// LoadRecords will reject, since a corrupt object is never removed.
func TestAppendRecordsRefusesUnreadable(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "u", nil, "a")
		for _, r := range []store.Record{{Index: 0}, {Index: -1, Status: store.StatusFailed}, {Index: 1, Status: store.StatusFailed}, {Index: 0, Status: "done"}} {
			if err := b.st.AppendRecords(ctx, "u", "w", []store.Record{r}); err == nil {
				t.Errorf("AppendRecords(%+v) accepted", r)
			}
		}
		if _, err := b.st.LoadRecords(ctx, "u", 1); err != nil {
			t.Errorf("LoadRecords after refused appends: %v", err)
		}
	})
}

// TestReadAllInputs: the inputs come back in the layout CreateExecution took,
// their digest the spec's, on every store; an empty execution too.
func TestReadAllInputs(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		for id, in := range map[string][]string{"all-4": {`"a"`, `"bb"`, ``, `"dddd"`}, "all-0": nil} {
			spec, data, offsets := execution(id, in...)
			if err := b.st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
				t.Fatal(err)
			}
			gotData, gotOffsets, err := b.st.ReadAllInputs(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if string(gotData) != string(data) || !slices.Equal(gotOffsets, offsets) {
				t.Errorf("%s: ReadAllInputs = %q %v, want %q %v", id, gotData, gotOffsets, data, offsets)
			}
			if d := store.InputsDigest(gotData, gotOffsets); d != spec.InputsDigest {
				t.Errorf("%s: digest %s, the spec says %s", id, d, spec.InputsDigest)
			}
		}
		if _, _, err := b.st.ReadAllInputs(ctx, "none"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadAllInputs of a missing execution: %v, want ErrNotFound", err)
		}
	})
}
