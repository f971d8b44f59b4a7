package store

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

// sectionsOf returns the elements and outputs sections of st's checkpoint.
func sectionsOf(st *State) (elems, outs []byte) {
	st.encodeElements(func(b []byte) { elems = append(elems, b...) })
	if st.outs != nil { // a State read without outputs is never written (writeCheckpoint)
		st.encodeOutputs(func(b []byte) { outs = append(outs, b...) })
	}
	return elems, outs
}

// FuzzCheckpointSections: the decoder of a checkpoint's sections never
// panics, whatever the bytes, and what it accepts encodes back to sections
// that decode to the same records.
func FuzzCheckpointSections(f *testing.F) {
	st := newState(4, true)
	code := -3
	for _, r := range []Record{
		{Index: 0, Status: StatusSucceeded, Attempts: 1, DurationNS: 5, Output: []byte("42"), Time: 100, Outcome: OutcomeSucceeded},
		{Index: 1, Status: StatusFailed, Attempts: 1 << 40, Err: "boom", Permanent: true, ExitCode: &code, Time: 90, Outcome: "new word"},
		{Index: 3, Status: StatusSucceeded, Cached: true, Output: []byte{}, Time: 101},
	} {
		st.merge(&r)
	}
	elems, outs := sectionsOf(st)
	f.Add(elems, outs, 4)
	f.Add([]byte{0, 0, 0}, []byte{}, 3)
	f.Add(elems[:len(elems)-1], outs, 4)
	f.Fuzz(func(t *testing.T, elems, outs []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		st, err := decodeElements(elems, n)
		if err != nil {
			return
		}
		withOutputs := st.indexOutputs(outs) == nil
		if !withOutputs {
			st.outs, st.blocks = nil, nil
		}
		e2, o2 := sectionsOf(st)
		back, err := decodeElements(e2, n)
		if err != nil {
			t.Fatalf("re-encoded elements do not decode: %v", err)
		}
		if withOutputs {
			if err := back.indexOutputs(o2); err != nil {
				t.Fatalf("re-encoded outputs do not decode: %v", err)
			}
		}
		for i := range n {
			a, b := st.Record(i), back.Record(i)
			if !bytes.Equal(a.Output, b.Output) || !reflect.DeepEqual(a.ExitCode, b.ExitCode) {
				t.Fatalf("element %d: %+v, then %+v", i, a, b)
			}
			a.Output, b.Output, a.ExitCode, b.ExitCode = nil, nil, nil, nil
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("element %d: %+v, then %+v", i, a, b)
			}
		}
	})
}

// A tracking writer's checkpoint holds every byte it wrote, so that
// LoadState reads none of it again: on a local store (one growing segment)
// and a blob store (an object per Append).
func TestTrackedCheckpointCoversWhatItWrote(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{filepath.Join(t.TempDir(), "st"), "mem://"} {
		s, err := Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		spec := Spec{ID: "e", Task: "t", Codec: "json", N: 3}
		if err := s.CreateExecution(ctx, spec, []byte("123"), []uint64{0, 1, 2, 3}, nil); err != nil {
			t.Fatal(err)
		}
		w, err := s.OpenJournal(ctx, "e", "d")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Track(nil); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := w.Append(ctx, []Record{{Index: i, Status: StatusSucceeded, Output: []byte("1"), Time: int64(i + 1)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if n := s.merged.Load(); n != 0 {
			t.Errorf("%s: the checkpoint read back %d bytes the writer wrote", u, n)
		}
		sp, _ := s.specOf(ctx, "e")
		objs, err := s.journalObjects(ctx, journalPrefix(runPrefix(sp)), nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.readCheckpoint(ctx, sp, true)
		if err != nil || st == nil {
			t.Fatalf("%s: checkpoint %v, %v", u, st, err)
		}
		if len(objs) == 0 || len(st.cover) != len(objs) {
			t.Fatalf("%s: %d objects, the checkpoint holds %v", u, len(objs), st.cover)
		}
		for _, o := range objs {
			if st.cover[o.rel] != o.size {
				t.Errorf("%s: %s has %d bytes, the checkpoint holds %d", u, o.rel, o.size, st.cover[o.rel])
			}
		}
		w.Close()
	}
}
