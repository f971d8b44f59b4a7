package store

import (
	"context"
	"testing"
)

// A journal object larger than a chunk is read whole by one Read, a chunk at
// a time.
func TestJournalTailReadsLargeObjectsInChunks(t *testing.T) {
	defer func(c int64) { tailChunk = c }(tailChunk)
	tailChunk = 64
	ctx := context.Background()
	st, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 50
	data := make([]byte, 0, n)
	offsets := []uint64{0}
	for range n {
		data = append(data, 'x')
		offsets = append(offsets, uint64(len(data)))
	}
	spec := Spec{ID: "big", Task: "t", Codec: "json", N: n, InputsDigest: InputsDigest(data, offsets)}
	if err := st.CreateExecution(ctx, spec, data, offsets, nil); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Index: i, Status: StatusSucceeded, Err: "a message long enough to need more than one chunk per few lines", Time: int64(i + 1)}
	}
	if err := st.AppendRecords(ctx, "big", "w", recs); err != nil {
		t.Fatal(err)
	}
	tail, err := st.TailJournal(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	rep, err := tail.Read(ctx, func(r *Record) {
		if r.Index != seen {
			t.Errorf("record %d is of element %d", seen, r.Index)
		}
		seen++
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n || rep.Records != n || len(rep.Corrupt) != 0 {
		t.Errorf("read %d records (%+v), want %d", seen, rep, n)
	}
}
