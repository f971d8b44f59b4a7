package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"

	"github.com/maptask/maptask/store"
)

func TestJournalMerge(t *testing.T) {
	const (
		ok      = store.StatusSucceeded
		failed  = store.StatusFailed
		skipped = store.StatusSkipped
	)
	type write struct {
		writer string
		recs   []store.Record
	}
	rec := func(s store.Status, time int64, err string) store.Record {
		return store.Record{Status: s, Time: time, Err: err}
	}
	tests := []struct {
		name   string
		writes []write
		want   store.Record // of element 0
	}{
		{"none", nil, store.Record{}},
		{"one", []write{{"a", []store.Record{rec(failed, 1, "x")}}}, rec(failed, 1, "x")},
		{"later time wins", []write{{"a", []store.Record{rec(failed, 5, "new"), rec(skipped, 2, "old")}}}, rec(failed, 5, "new")},
		{"later time wins across writers", []write{{"b", []store.Record{rec(failed, 1, "b")}}, {"a", []store.Record{rec(skipped, 2, "a")}}}, rec(skipped, 2, "a")},
		{"success beats a later failure", []write{{"a", []store.Record{rec(ok, 1, "")}}, {"a", []store.Record{rec(failed, 9, "late")}}}, rec(ok, 1, "")},
		{"success beats an earlier failure", []write{{"a", []store.Record{rec(failed, 9, "early")}}, {"b", []store.Record{rec(ok, 1, "")}}}, rec(ok, 1, "")},
		{"later success wins", []write{{"a", []store.Record{rec(ok, 3, "second"), rec(ok, 2, "first")}}}, rec(ok, 3, "second")},
		{"tie: later line", []write{{"a", []store.Record{rec(failed, 4, "1st"), rec(failed, 4, "2nd")}}}, rec(failed, 4, "2nd")},
		{"tie: later object", []write{{"a", []store.Record{rec(failed, 4, "1st")}}, {"a", []store.Record{rec(failed, 4, "2nd")}}}, rec(failed, 4, "2nd")},
		{"tie: later writer in key order", []write{{"b", []store.Record{rec(failed, 4, "b")}}, {"a", []store.Record{rec(failed, 4, "a")}}}, rec(failed, 4, "b")},
		{"no time", []write{{"a", []store.Record{rec(failed, 0, "x")}}}, rec(failed, 0, "x")},
		{"negative time", []write{{"a", []store.Record{rec(failed, -7, "x")}}}, rec(failed, -7, "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := kinds[1].open(t)
			ctx := context.Background()
			create(t, b.st, "j", nil, "a", "b")
			for _, w := range tt.writes {
				if err := b.st.AppendRecords(ctx, "j", w.writer, w.recs); err != nil {
					t.Fatal(err)
				}
			}
			recs, err := b.st.LoadRecords(ctx, "j", 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || !reflect.DeepEqual(recs[0], tt.want) || recs[1].Status != "" {
				t.Errorf("LoadRecords = %+v, want [%+v {}]", recs, tt.want)
			}
		})
	}
}

func TestJournalRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "rt", nil, inputsN(4)...)
		code := 3
		recs := []store.Record{
			{Index: 0, Status: store.StatusSucceeded, Attempts: 2, DurationNS: 1500, Output: []byte(`{"html":"<b>&</b>"}`), Time: 10, Outcome: "succeeded", Cached: true},
			{Index: 2, Status: store.StatusFailed, Attempts: 3, Err: "exit status 3\nsecond line", Permanent: true, ExitCode: &code, Time: 11, Outcome: "failed"},
			{Index: 3, Status: store.StatusSkipped, Time: 12},
		}
		if err := b.st.AppendRecords(ctx, "rt", "driver", recs); err != nil {
			t.Fatal(err)
		}
		if err := b.st.AppendRecords(ctx, "rt", "driver", nil); err != nil {
			t.Fatal(err)
		}
		got, err := b.st.LoadRecords(ctx, "rt", 4)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Record{recs[0], {}, recs[1], recs[2]}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LoadRecords = %+v\nwant %+v", got, want)
		}
		// One object; the empty append wrote none.
		journal := runOf(t, b.st, "rt") + "journal/"
		keys := listKeys(t, b.raw, journal)
		if !reflect.DeepEqual(keys, []string{journal + "driver/0000000000.jsonl"}) {
			t.Errorf("journal objects: %v", keys)
		}
		if got, err := b.st.LoadRecords(ctx, "rt", 3); err == nil {
			t.Errorf("LoadRecords with n other than the spec's = %v", got)
		}
	})
}

func TestAppendRecordsTwoWriters(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		const n, per = 40, 5
		create(t, b.st, "two", nil, inputsN(n)...)
		var wg sync.WaitGroup
		errs := make(chan error, 2*n/per)
		for _, writer := range []string{"w1", "w2"} {
			for lo := 0; lo < n; lo += per {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var recs []store.Record
					for i := lo; i < lo+per; i++ {
						s := store.StatusFailed
						if writer == "w2" && i%2 == 0 {
							s = store.StatusSucceeded
						}
						recs = append(recs, store.Record{Index: i, Status: s, Err: writer, Time: int64(i)})
					}
					errs <- b.st.AppendRecords(ctx, "two", writer, recs)
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		keys := listKeys(t, b.raw, runOf(t, b.st, "two")+"journal/")
		if len(keys) != 2*n/per {
			t.Fatalf("%d journal objects, want %d: %v", len(keys), 2*n/per, keys)
		}
		recs, err := b.st.LoadRecords(ctx, "two", n)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			wantStatus, wantWriter := store.StatusFailed, "w2" // w2 is later in key order on equal times
			if i%2 == 0 {
				wantStatus = store.StatusSucceeded
			}
			if r.Index != i || r.Status != wantStatus || r.Err != wantWriter {
				t.Errorf("element %d: %+v", i, r)
			}
		}
		for _, w := range []string{"w1", "w2"} {
			got, err := b.st.ReadJournal(ctx, "two", w)
			if err != nil || len(got) != n {
				t.Fatalf("ReadJournal(%s): %d records, %v", w, len(got), err)
			}
			for _, r := range got {
				if r.Err != w {
					t.Errorf("ReadJournal(%s) returned %+v", w, r)
				}
			}
		}
	})
}

// TestAppendRecordsContinues: a writer name reused through another Store (a
// restarted process) continues after the objects already there.
func TestAppendRecordsContinues(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for run := range 3 {
		st, err := store.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			create(t, st, "c", nil, "a")
		}
		for k := range 11 {
			if err := st.AppendRecords(ctx, "c", "w", []store.Record{{Index: 0, Status: store.StatusFailed, Time: int64(run*100 + k)}}); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ReadJournal(ctx, "c", "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 33 {
		t.Fatalf("%d records, want 33", len(recs))
	}
	for i, r := range recs { // in order, 10 after 9
		if want := int64(i/11*100 + i%11); r.Time != want {
			t.Fatalf("record %d has time %d, want %d", i, r.Time, want)
		}
	}
}

// TestCorruptJournal: a corrupt journal object is put in quarantine, whole,
// and reported; the execution stays usable, with the records of the other
// objects; a later load finds it gone. A last line cut short is no
// corruption: it alone is ignored.
func TestCorruptJournal(t *testing.T) {
	tests := []struct {
		name, content, want string       // want: the line named, "" when not corrupt
		kept                store.Status // what remains of element 1
	}{
		{"bad json", `{"i":1,"s":"failed"}` + "\n\n" + `{"i":1,"s":` + "\n" + `{"i":2,"s":"failed"}` + "\n", "line 3", ""},
		{"garbage", "garbage\n" + `{"i":1,"s":"failed"}` + "\n", "line 1", ""},
		{"index too large", `{"i":1,"s":"failed"}` + "\n" + `{"i":4,"s":"failed"}`, "line 2", ""},
		{"negative index", `{"i":-1,"s":"failed"}` + "\n", "line 1", ""},
		{"unknown status", `{"i":0,"s":"exploded"}` + "\n", "line 1", ""},
		{"no status", `{"i":0}`, "line 1", ""},
		{"not an object", `[1,2]`, "line 1", ""},
		{"cut short", `{"i":1,"s":"failed"}` + "\n" + `{"i":2,"s":"succ`, "", store.StatusFailed},
		{"cut short after a blank line", `{"i":1,"s":"failed"}` + "\n\n" + `{"i":2`, "", store.StatusFailed},
		{"no final newline", `{"i":1,"s":"failed"}`, "", store.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, b bundle) {
				ctx := context.Background()
				create(t, b.st, "cj", nil, inputsN(4)...)
				if err := b.st.AppendRecords(ctx, "cj", "good", []store.Record{{Index: 3, Status: store.StatusSucceeded}}); err != nil {
					t.Fatal(err)
				}
				run := runOf(t, b.st, "cj")
				key := run + "journal/bad/0000000000.jsonl"
				if err := b.raw.WriteAll(ctx, key, []byte(tt.content), nil); err != nil {
					t.Fatal(err)
				}
				recs, moved, err := b.st.LoadRecordsReport(ctx, "cj", 4)
				if err != nil {
					t.Fatalf("LoadRecordsReport: %v", err)
				}
				if recs[3].Status != store.StatusSucceeded || recs[1].Status != tt.kept || recs[2].Status != "" {
					t.Errorf("records: %+v", recs)
				}
				if tt.want == "" {
					if len(moved) != 0 {
						t.Errorf("quarantined %+v", moved)
					}
					if got, err := b.raw.ReadAll(ctx, key); err != nil || string(got) != tt.content {
						t.Errorf("the object was touched: %q, %v", got, err)
					}
					return
				}
				to := "executions/cj/quarantine/" + strings.TrimPrefix(key, "executions/cj/")
				if len(moved) != 1 || moved[0].Key != key || moved[0].To != to || moved[0].MoveErr != nil ||
					!errors.Is(moved[0].Err, store.ErrCorrupt) || !strings.Contains(moved[0].Err.Error(), key+" "+tt.want) {
					t.Fatalf("quarantined %+v, want %s moved to %s for %s", moved, key, to, tt.want)
				}
				if msg := moved[0].String(); !strings.Contains(msg, key) || !strings.Contains(msg, to) || !strings.Contains(msg, "will run again") {
					t.Errorf("message %q", msg)
				}
				if ok, _ := b.raw.Exists(ctx, key); ok {
					t.Error("the corrupt object is still in the journal")
				}
				if got, err := b.raw.ReadAll(ctx, to); err != nil || string(got) != tt.content {
					t.Errorf("quarantined copy: %q, %v", got, err)
				}
				again, moved, err := b.st.LoadRecordsReport(ctx, "cj", 4)
				if err != nil || len(moved) != 0 || !reflect.DeepEqual(again, recs) {
					t.Errorf("second load: %+v, %+v, %v", again, moved, err)
				}
				// ReadJournal puts a corrupt object in quarantine too.
				key2 := run + "journal/bad2/0000000000.jsonl"
				if err := b.raw.WriteAll(ctx, key2, []byte(tt.content), nil); err != nil {
					t.Fatal(err)
				}
				if got, err := b.st.ReadJournal(ctx, "cj", "bad2"); err != nil || len(got) != 0 {
					t.Errorf("ReadJournal = %+v, %v", got, err)
				}
				if ok, _ := b.raw.Exists(ctx, key2); ok {
					t.Error("ReadJournal left the corrupt object in the journal")
				}
			})
		})
	}
}

func listKeys(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(context.Background())
		if err != nil {
			return keys
		}
		keys = append(keys, obj.Key)
	}
}

func FuzzLoadRecords(f *testing.F) {
	f.Add([]byte(`{"i":0,"s":"succeeded","o":"IjEi","t":5}`+"\n"+`{"i":1,"s":"failed","e":"x"}`), 2)
	f.Add([]byte(`{"i":2,"s":"skipped"}`), 3)
	f.Add([]byte("\n\n\r\n"), 1)
	f.Add([]byte(`{"i":1e99,"s":"failed"}`), 1)
	f.Add([]byte(`{"i":0,"s":"failed","x":null,"o":"!!"}`), 1)
	f.Add([]byte(`null`), 0)
	b, err := blob.OpenBucket(context.Background(), "mem://")
	if err != nil {
		f.Fatal(err)
	}
	st := store.New(b, "mem://")
	defer st.Close()
	journals := map[int]string{} // the journal of the execution of n elements
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		n &= 0x3ff
		ctx := context.Background()
		id := fmt.Sprintf("f%d", n)
		if journals[n] == "" {
			create(t, st, id, nil, inputsN(n)...)
			journals[n] = runOf(t, st, id) + "journal/"
		}
		key := journals[n] + "w/0000000000.jsonl"
		if err := b.WriteAll(ctx, key, data, nil); err != nil {
			t.Fatal(err)
		}
		defer b.Delete(ctx, key)
		recs, moved, err := st.LoadRecordsReport(ctx, id, n)
		if err != nil {
			t.Fatalf("LoadRecordsReport: %v", err)
		}
		for _, q := range moved {
			if q.Key != key || q.To == "" || !errors.Is(q.Err, store.ErrCorrupt) || !strings.Contains(q.Err.Error(), key+" line ") {
				t.Fatalf("quarantined %+v: want %s moved, with ErrCorrupt naming it and the line", q, key)
			}
			for _, r := range recs {
				if r.Status != "" {
					t.Fatalf("a record of a quarantined object was used: %+v", r)
				}
			}
		}
		if len(recs) != n {
			t.Fatalf("LoadRecords returned %d records, want %d", len(recs), n)
		}
		for i, r := range recs {
			if r.Status != "" && r.Index != i {
				t.Fatalf("record %d has index %d", i, r.Index)
			}
		}
	})
}

// BenchmarkLoadRecords merges a journal of 100,000 records written in batches
// of 1,000, as a driver flushes them, with outputs and a failure in ten.
func BenchmarkLoadRecords(b *testing.B) {
	const n, batch = 100_000, 1_000
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	spec, data, offsets := execution("bench", inputsN(n)...)
	if err := st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < n; lo += batch {
		recs := make([]store.Record, batch)
		for k := range recs {
			i := lo + k
			recs[k] = store.Record{Index: i, Status: store.StatusSucceeded, Attempts: 1, DurationNS: 123456, Output: []byte(fmt.Sprintf(`{"value":%d}`, i*i)), Time: 1700000000000000000 + int64(i)}
			if i%10 == 0 {
				recs[k] = store.Record{Index: i, Status: store.StatusFailed, Attempts: 3, Err: "exit status 1", Time: 1700000000000000000 + int64(i)}
			}
		}
		if err := st.AppendRecords(ctx, "bench", fmt.Sprintf("w%d", lo%7), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := st.LoadRecords(ctx, "bench", n)
		if err != nil || len(recs) != n {
			b.Fatal(len(recs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
}

func TestReadJournalsByPrefix(t *testing.T) {
	eachStore(t, func(t *testing.T, b bundle) {
		ctx := context.Background()
		create(t, b.st, "j", nil, inputsN(6)...)
		write := func(writer string, idx int) {
			t.Helper()
			rec := store.Record{Index: idx, Status: store.StatusFailed, Err: writer, Time: 1}
			if err := b.st.AppendRecords(ctx, "j", writer, []store.Record{rec}); err != nil {
				t.Fatal(err)
			}
		}
		write("k8s-job-1-podb", 1)
		write("k8s-job-1-poda", 2)
		write("k8s-job-1-poda", 3)
		write("k8s-job-12-podc", 4) // another index: "k8s-job-1-" is not its prefix
		write("k8s-job-2-podd", 5)
		recs, err := b.st.ReadJournals(ctx, "j", "k8s-job-1-")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d:%s", r.Index, r.Err))
		}
		want := []string{"2:k8s-job-1-poda", "3:k8s-job-1-poda", "1:k8s-job-1-podb"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ReadJournals = %v, want %v", got, want)
		}
		if recs, err := b.st.ReadJournals(ctx, "j", "k8s-none-"); err != nil || len(recs) != 0 {
			t.Fatalf("unknown prefix: %v, %v", recs, err)
		}
		if _, err := b.st.ReadJournals(ctx, "j", "../x"); err == nil {
			t.Fatal("a prefix with a path separator was accepted")
		}
	})
}
