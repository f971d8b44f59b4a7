package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/maptask/maptask/store"
)

// tailAll reads what the tail delivers in one Read, merged by store.Wins into
// recs.
func tailRead(t *testing.T, tail *store.JournalTail, recs []store.Record) store.TailReport {
	t.Helper()
	rep, err := tail.Read(context.Background(), func(r *store.Record) {
		if store.Wins(r, &recs[r.Index]) {
			recs[r.Index] = *r
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestJournalTailReadsOnlyWhatIsNew(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const n = 10
		create(t, b.st, "tl", nil, inputsN(n)...)
		tail, err := b.st.TailJournal(ctx, "tl")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]store.Record, n)
		if rep := tailRead(t, tail, got); rep.Records != 0 || rep.Bytes != 0 {
			t.Fatalf("empty journal: %+v", rep)
		}
		jw, err := b.st.OpenJournal(ctx, "tl", "w")
		if err != nil {
			t.Fatal(err)
		}
		defer jw.Close()
		if err := jw.Append(ctx, []store.Record{{Index: 0, Status: store.StatusRunning, Attempts: 1, Time: 1}, {Index: 1, Status: store.StatusRunning, Attempts: 1, Time: 2}}); err != nil {
			t.Fatal(err)
		}
		rep := tailRead(t, tail, got)
		if rep.Records != 2 {
			t.Fatalf("first read: %+v", rep)
		}
		first := tail.BytesRead()
		code := 2
		if err := jw.Append(ctx, []store.Record{{Index: 0, Status: store.StatusSucceeded, Attempts: 1, Time: 3, DurationNS: 5e6}}); err != nil {
			t.Fatal(err)
		}
		if err := b.st.AppendRecords(ctx, "tl", "x", []store.Record{{Index: 1, Status: store.StatusFailed, Attempts: 1, Err: "boom", ExitCode: &code, Time: 4}}); err != nil {
			t.Fatal(err)
		}
		rep = tailRead(t, tail, got)
		if rep.Records != 2 {
			t.Fatalf("second read: %+v", rep)
		}
		if second := tail.BytesRead() - first; second >= tail.BytesRead() || second != rep.Bytes {
			t.Errorf("second read took %d bytes of %d in all (report: %d): want only the new ones", second, tail.BytesRead(), rep.Bytes)
		}
		if rep := tailRead(t, tail, got); rep.Records != 0 || rep.Bytes != 0 || rep.Read != 0 {
			t.Errorf("a read with nothing new read %+v", rep)
		}
		// Every record read back from its place.
		again, err := b.st.TailJournal(ctx, "tl")
		if err != nil {
			t.Fatal(err)
		}
		refs := 0
		if _, err := again.ReadRefs(ctx, func(r *store.Record, ref store.RecordRef) {
			refs++
			back, err := b.st.ReadRecordAt(ctx, "tl", ref)
			if err != nil || !reflect.DeepEqual(*back, *r) {
				t.Errorf("ReadRecordAt(%+v) = %+v, %v; want %+v", ref, back, err, *r)
			}
		}); err != nil || refs != 4 {
			t.Fatalf("ReadRefs: %d records, %v", refs, err)
		}
		if _, err := b.st.ReadRecordAt(ctx, "tl", store.RecordRef{Key: "executions/tl/spec.json", Length: 10}); err == nil {
			t.Error("ReadRecordAt read an object outside the journal")
		}
		want, err := b.st.LoadRecords(ctx, "tl", n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tail merged\n%+v\nLoadRecords\n%+v", got, want)
		}
	})
}

func TestJournalTailPartialCorruptAndVanished(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "tp", nil, inputsN(4)...)
		spec, err := b.st.LoadSpec(ctx, "tp")
		if err != nil {
			t.Fatal(err)
		}
		prefix := "executions/tp/" + spec.Inputs + "/journal/"
		if spec.Inputs == "" {
			prefix = "executions/tp/journal/"
		}
		key := prefix + "z/0000000000.jsonl"
		line0 := `{"i":0,"s":"succeeded","t":5}` + "\n"
		line1 := `{"i":1,"s":"failed","e":"x","t":6}` + "\n"
		if err := b.raw.WriteAll(ctx, key, []byte(line0+line1[:10]), nil); err != nil {
			t.Fatal(err)
		}
		tail, err := b.st.TailJournal(ctx, "tp")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]store.Record, 4)
		if rep := tailRead(t, tail, got); rep.Records != 1 || got[0].Status != store.StatusSucceeded {
			t.Fatalf("a line being written was read: %+v %+v", rep, got)
		}
		if err := b.raw.WriteAll(ctx, key, []byte(line0+line1), nil); err != nil { // the line finished
			t.Fatal(err)
		}
		if rep := tailRead(t, tail, got); rep.Records != 1 || got[1].Status != store.StatusFailed {
			t.Fatalf("the finished line: %+v %+v", rep, got)
		}
		bad := prefix + "z/0000000001.jsonl"
		if err := b.raw.WriteAll(ctx, bad, []byte("not json\n"), nil); err != nil {
			t.Fatal(err)
		}
		rep := tailRead(t, tail, got)
		if len(rep.Corrupt) != 1 || !errors.Is(rep.Corrupt[0], store.ErrCorrupt) {
			t.Fatalf("corrupt object: %+v", rep)
		}
		if ok, _ := b.raw.Exists(ctx, bad); !ok {
			t.Error("the tail moved a corrupt object: it must not write")
		}
		if rep := tailRead(t, tail, got); len(rep.Corrupt) != 0 || rep.Bytes != 0 {
			t.Errorf("a corrupt object was read again: %+v", rep)
		}
		if err := b.raw.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if rep := tailRead(t, tail, got); len(rep.Vanished) != 1 || rep.Vanished[0] != key {
			t.Errorf("vanished: %+v", rep)
		}
	})
}
