package progress_test

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/maptask/maptask/internal/progress"
)

// longLabel is a 300-character label, with wide characters in it.
var longLabel = func() string {
	s := strings.Repeat("sh -c 'echo 漢字 {} && sleep 1' ", 20)
	r := []rune(s)
	return string(r[:300])
}()

// screen plays out on a terminal of unlimited width what the bar wrote: "\r"
// goes back to the start of the row, ESC [ K erases to its end, "\n" starts a
// new row. It returns the rows left on screen.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var rows []string
	var row []rune
	col := 0
	for rest := out; rest != ""; {
		if strings.HasPrefix(rest, "\x1b[K") {
			row = row[:col]
			rest = rest[len("\x1b[K"):]
			continue
		}
		if rest[0] == '\x1b' {
			t.Fatalf("an escape sequence other than ESC [ K in %q", out)
		}
		r, size := utf8.DecodeRuneInString(rest)
		rest = rest[size:]
		switch r {
		case '\r':
			col = 0
		case '\n':
			rows = append(rows, string(row))
			row, col = nil, 0
		default:
			if col < len(row) {
				row[col] = r
			} else {
				row = append(row, r)
			}
			col++
		}
	}
	if len(row) > 0 {
		rows = append(rows, string(row))
	}
	return rows
}

// drawnLines splits the output of a bar into every line it drew (each redraw,
// each line of output, the summary), escape sequences removed.
func drawnLines(out string) []string {
	var lines []string
	for _, l := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l = strings.ReplaceAll(l, "\x1b[K", ""); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// runBar runs a bar of the given width over a map of 40 elements that goes
// through a few states, with a clock that moves 2s between them, and returns
// what it wrote.
func runBar(t *testing.T, width int, label string) string {
	t.Helper()
	var out syncBuffer
	var elapsed atomic.Int64
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0.Add(time.Duration(elapsed.Load())) }
	m := &fakeMap{c: progress.Counts{Total: 40, Running: 4}}
	r := progress.Start(&out, progress.Always, label, m.snap, progress.Width(width), progress.Clock(clock))
	for i, c := range []progress.Counts{
		{Total: 40, Succeeded: 3, Cached: 3, Running: 4},
		{Total: 40, Succeeded: 12, Cached: 3, Failed: 1, Running: 4},
		{Total: 40, Succeeded: 29, Cached: 3, Failed: 3, Running: 4},
		{Total: 40, Succeeded: 36, Cached: 3, Failed: 4},
	} {
		m.set(c)
		elapsed.Store(int64(time.Duration(i+1) * 2 * time.Second))
		waitFor(t, &out, fmt.Sprintf("%d/40  ", c.Succeeded+c.Failed))
		r.Above(func() { fmt.Fprintf(&out, "output of step %d\n", i) })
	}
	r.Stop()
	return out.String()
}

func TestBarFitsTheWidth(t *testing.T) {
	for _, width := range []int{80, 200} {
		for _, label := range []string{longLabel, "echo hello {}"} {
			t.Run(fmt.Sprintf("%d/%d", width, len([]rune(label))), func(t *testing.T) {
				s := runBar(t, width, label)
				lines := drawnLines(s)
				for _, l := range lines {
					if w := uniseg.StringWidth(l); w > width-1 {
						t.Errorf("a line of %d columns on a terminal of %d: %q", w, width, l)
					}
				}
				// The bars drawn once the rate is known (the clock has moved).
				var bars []string
				for _, l := range lines {
					if strings.Contains(l, "]  ") && strings.Contains(l, "/s") || strings.Contains(l, "eta") {
						bars = append(bars, l)
					}
				}
				if len(bars) == 0 {
					t.Fatalf("no bar with a rate in %q", s)
				}
				for _, l := range bars {
					want := []string{"[", "] ", "/40", "failed", "cached"}
					if !strings.Contains(l, "40/40") { // no ETA once all are done
						want = append(want, "eta ")
					}
					if width == 200 {
						want = append(want, label[:5], "%", "succeeded, ", "running", "/s")
					}
					for _, w := range want {
						if !strings.Contains(l, w) {
							t.Errorf("at %d columns, no %q in %q", width, w, l)
						}
					}
				}
				if label == longLabel && !strings.Contains(s, "…") {
					t.Errorf("the long label is not cut with an ellipsis: %q", s)
				}
			})
		}
	}
}

// redraw is the output of a bar: redraws ("\r", a line, ESC [ K), erasures
// ("\r", ESC [ K) followed by lines printed above, and at the end a newline and
// the summary.
var redraw = regexp.MustCompile(`^(\r[^\r\n\x1b]+\x1b\[K|\r\x1b\[K(output of step \d\n)+)+\nmaptask: [^\r\n\x1b]+\n$`)

func TestEveryRedrawStartsWithCRAndErases(t *testing.T) {
	for _, width := range []int{80, 200} {
		if s := runBar(t, width, longLabel); !redraw.MatchString(s) {
			t.Errorf("at %d columns: not a sequence of redraws: %q", width, s)
		}
	}
}

func TestBarRedrawsInPlace(t *testing.T) {
	s := runBar(t, 80, "echo hello {}")
	rows := screen(t, s)
	// Left on screen: the four lines of output, the last bar, the summary.
	if len(rows) != 6 {
		t.Fatalf("%d rows on screen, want 6:\n%s", len(rows), strings.Join(rows, "\n"))
	}
	for i := range 4 {
		if want := fmt.Sprintf("output of step %d", i); rows[i] != want {
			t.Errorf("row %d: %q, want %q", i, rows[i], want)
		}
	}
	if !strings.HasPrefix(rows[4], "echo hello {}  [") || !strings.Contains(rows[4], "40/40") {
		t.Errorf("row 4: %q, want the last bar", rows[4])
	}
	if !strings.HasPrefix(rows[5], "maptask: echo hello {}: 40/40 done, 4 failed, 3 cached in 8") {
		t.Errorf("row 5: %q, want the summary", rows[5])
	}
}

func TestAboveNeverSharesALineWithTheBar(t *testing.T) {
	for _, mode := range []progress.Mode{progress.Always, progress.Auto} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			var out syncBuffer
			var done atomic.Int64
			snap := func() progress.Counts {
				n := int(done.Load())
				return progress.Counts{Total: 400, Succeeded: n, Running: min(8, 400-n)}
			}
			r := progress.Start(&out, mode, longLabel, snap, progress.Width(80), progress.Interval(time.Millisecond))
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 50 {
						r.Above(func() {
							// In pieces, as a command's output may come.
							fmt.Fprintf(&out, "out %d", g)
							time.Sleep(10 * time.Microsecond)
							fmt.Fprintf(&out, " %d", i)
							fmt.Fprintf(&out, "\n")
						})
						done.Add(1)
						if i%10 == 0 {
							time.Sleep(time.Millisecond) // let the goroutine redraw
						}
					}
				})
			}
			wg.Wait()
			r.Stop()
			r.Above(func() { fmt.Fprintf(&out, "after stop\n") })

			s := out.String()
			isOut := regexp.MustCompile(`^out \d \d+$`)
			var n int
			for _, l := range append(screen(t, s), drawnLines(s)...) {
				switch {
				case isOut.MatchString(l):
					n++
				case strings.Contains(l, "out "):
					t.Errorf("output shares a line: %q", l)
				}
			}
			if n != 2*400 { // once among the rows, once among the drawn lines
				t.Errorf("%d lines of output, want 800", n)
			}
			if !strings.HasSuffix(s, " cached in 0s\nafter stop\n") && !strings.HasSuffix(s, "\nafter stop\n") {
				t.Errorf("Above after Stop: %q", s[max(0, len(s)-200):])
			}
			if mode == progress.Always && !strings.Contains(s, "\r\x1b[Kout ") {
				t.Errorf("Above did not erase the bar: %q", s[:min(len(s), 400)])
			}
		})
	}
}

func TestAboveWithoutADisplay(t *testing.T) {
	var calls int
	write := func() { calls++ }
	var nilReporter *progress.Reporter
	nilReporter.Above(write)
	r := progress.Start(nil, progress.Always, "x", func() progress.Counts { return progress.Counts{} })
	r.Above(write)
	r.Stop()
	r = progress.Start(&syncBuffer{}, progress.Never, "x", func() progress.Counts { return progress.Counts{} })
	r.Above(write)
	r.Stop()
	if calls != 3 {
		t.Errorf("write called %d times, want 3", calls)
	}
}

func TestTitleWithControlCharactersStaysOnOneRow(t *testing.T) {
	var out syncBuffer
	r := progress.Start(&out, progress.Always, "sh -c 'echo a\necho b'\t{}\x1b[31m", func() progress.Counts {
		return progress.Counts{Total: 1, Succeeded: 1}
	}, progress.Width(120))
	r.Stop()
	s := out.String()
	if !redraw.MatchString(s) {
		t.Errorf("not a sequence of redraws: %q", s)
	}
	if !strings.Contains(s, "\rsh -c 'echo a echo b' {} [31m  [") {
		t.Errorf("control characters not replaced by spaces: %q", s)
	}
}

func TestAboveHoldsOffTheRedraws(t *testing.T) {
	// One slow writer: the Reporter's goroutine tries to redraw (the counts
	// change) while write is halfway through its line.
	var out syncBuffer
	var done atomic.Int64
	snap := func() progress.Counts { return progress.Counts{Total: 10, Succeeded: int(done.Load())} }
	r := progress.Start(&out, progress.Always, "slow", snap, progress.Width(80))
	for i := range 10 {
		r.Above(func() {
			fmt.Fprintf(&out, "out %d", i)
			done.Add(1)
			time.Sleep(30 * time.Millisecond)
			fmt.Fprintf(&out, "\n")
		})
	}
	r.Stop()
	s := out.String()
	rows := screen(t, s)
	if len(rows) != 12 {
		t.Fatalf("%d rows on screen, want 10 of output, the bar and the summary: %q", len(rows), rows)
	}
	for i, row := range rows[:10] {
		if want := fmt.Sprintf("out %d", i); row != want {
			t.Errorf("row %d: %q, want %q", i, row, want)
		}
	}
	if !strings.HasPrefix(rows[10], "slow  [") || !strings.HasPrefix(rows[11], "maptask: slow: 10/10 done") {
		t.Errorf("want the bar and the summary after the output: %q", rows[10:])
	}
}

func BenchmarkAbove(b *testing.B) {
	for _, mode := range []progress.Mode{progress.Always, progress.Never} {
		b.Run(fmt.Sprint(mode), func(b *testing.B) {
			var n atomic.Int64
			r := progress.Start(io.Discard, mode, longLabel, func() progress.Counts {
				return progress.Counts{Total: 1 << 30, Succeeded: int(n.Load())}
			}, progress.Width(200))
			defer r.Stop()
			for b.Loop() {
				r.Above(func() { n.Add(1) })
			}
		})
	}
}

func TestBarComesBackAfterABurstOfOutput(t *testing.T) {
	var out syncBuffer
	var n atomic.Int64
	snap := func() progress.Counts { return progress.Counts{Total: 1000, Succeeded: int(n.Load())} }
	r := progress.Start(&out, progress.Always, "burst", snap, progress.Width(80))
	defer r.Stop()
	for i := range 1000 {
		r.Above(func() { fmt.Fprintf(&out, "out %d\n", i) })
		n.Add(1)
	}
	s := out.String()
	if redraws := strings.Count(s, "\rburst  ["); redraws > 100 {
		t.Errorf("%d redraws for a burst of 1000 lines", redraws)
	}
	// Within a refresh, the bar is back below the output, up to date.
	waitFor(t, &out, "1000/1000")
	rows := screen(t, out.String())
	if last := rows[len(rows)-1]; !strings.HasPrefix(last, "burst  [") || !strings.Contains(last, "1000/1000") {
		t.Errorf("last row %q, want the bar", last)
	}
}
