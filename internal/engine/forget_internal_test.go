package engine

import (
	"testing"
	"time"

	"github.com/maptask/maptask/backend"
)

// Forget frees the records of a chunk once all its elements are final; the
// last, partial chunk stays.
func TestForgetDropsFinishedChunks(t *testing.T) {
	const n = 2*chunkSize + 10
	e, err := New(Config{N: n, Concurrency: 1, Forget: true})
	if err != nil {
		t.Fatal(err)
	}
	var batch []backend.Attempt
	var took []time.Duration
	held := false
	for {
		var ok bool
		batch, ok = e.Exchange(batch, took, nil, held, batch, 1000)
		if !ok {
			break
		}
		held = true
		took = make([]time.Duration, len(batch))
	}
	if e.recs.chunks[0] != nil || e.recs.chunks[1] != nil || e.recs.chunks[2] == nil {
		t.Fatalf("chunks kept: %v %v %v", e.recs.chunks[0] != nil, e.recs.chunks[1] != nil, e.recs.chunks[2] != nil)
	}
	if e.succeeded != n || e.inflight != 0 || e.slots != 0 {
		t.Fatalf("succeeded %d inflight %d slots %d", e.succeeded, e.inflight, e.slots)
	}
	if el := e.Element(5); el.State != Succeeded {
		t.Fatalf("element 5: %+v", el)
	}
}
