package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestKeepsHeadAndTailAndCountsTheGap(t *testing.T) {
	for _, chunk := range []int{1, 7, 100, 5000} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			b := New(1000) // 250 head, 750 tail
			var all bytes.Buffer
			for i := 0; all.Len() < 10_000; i++ {
				fmt.Fprintf(&all, "line %d\n", i)
			}
			all.WriteString("error: the real reason\n")
			data := all.Bytes()
			for len(data) > 0 {
				k := min(chunk, len(data))
				b.Write(data[:k])
				data = data[k:]
			}
			got := string(b.Bytes())
			whole := all.String()
			if !strings.HasPrefix(got, whole[:250]) {
				t.Fatalf("head lost: %q", got[:80])
			}
			if !strings.HasSuffix(got, whole[len(whole)-750:]) {
				t.Fatalf("tail lost: %q", got[len(got)-80:])
			}
			dropped := len(whole) - 1000
			if !strings.Contains(got, fmt.Sprintf("[maptask: %d bytes of output dropped here]", dropped)) {
				t.Fatalf("no honest count of %d dropped bytes in %q", dropped, got)
			}
			if b.Len() != len(whole) || b.Dropped() != int64(dropped) {
				t.Fatalf("Len %d Dropped %d, want %d and %d", b.Len(), b.Dropped(), len(whole), dropped)
			}
			if LastLine(b.Bytes()) != "error: the real reason" {
				t.Fatalf("last line %q", LastLine(b.Bytes()))
			}
		})
	}
}

func TestSmallOutputKeptWhole(t *testing.T) {
	var b Buffer
	b.Write([]byte("hello\n"))
	b.Write([]byte("world"))
	if got := string(b.Bytes()); got != "hello\nworld" {
		t.Fatalf("got %q", got)
	}
	if b.Dropped() != 0 {
		t.Fatal("nothing was dropped")
	}
}

func TestLastLines(t *testing.T) {
	got := LastLines([]byte("a\n\nb\n  c  \n\n"), 2)
	if strings.Join(got, "|") != "b|c" {
		t.Fatalf("got %q", got)
	}
	if got := LastLines([]byte("only"), 5); len(got) != 1 || got[0] != "only" {
		t.Fatalf("got %q", got)
	}
}
