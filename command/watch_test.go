package command

import (
	"sync"
	"testing"
)

func TestSlotsAreTheLowestFree(t *testing.T) {
	var s slotTable
	a, b, c := s.take(), s.take(), s.take()
	if a != 1 || b != 2 || c != 3 {
		t.Fatalf("slots %d %d %d, want 1 2 3", a, b, c)
	}
	s.release(2)
	if got := s.take(); got != 2 {
		t.Fatalf("after releasing 2, took %d", got)
	}
	// Concurrent takers never share a slot.
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[int]bool{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := s.take()
			mu.Lock()
			if held[k] {
				t.Errorf("slot %d handed out twice", k)
			}
			held[k] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(held) != 50 {
		t.Fatalf("%d distinct slots, want 50", len(held))
	}
}
