package maptask

import "testing"

// A chunk is dropped once each of its elements is done, not before.
func TestChunkedDone(t *testing.T) {
	c := newChunkedN[int](2<<chunkBits + 1)
	list := *c.chunks.Load()
	if len(list) != 3 {
		t.Fatalf("%d chunks", len(list))
	}
	for i := range 1<<chunkBits - 1 {
		c.done(i)
	}
	if list[0].data == nil {
		t.Fatal("chunk 0 dropped with an element not done")
	}
	c.set(1<<chunkBits-1, 7)
	if c.get(1<<chunkBits-1) != 7 {
		t.Fatal("set lost")
	}
	c.done(1<<chunkBits - 1)
	if list[0].data != nil || list[1].data == nil {
		t.Fatal("chunk 0 not dropped, or chunk 1 dropped")
	}
}
