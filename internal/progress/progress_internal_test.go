package progress

import (
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"
)

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		name    string
		c, base Counts
		elapsed time.Duration
		want    string
	}{
		{
			name:    "running",
			c:       Counts{Total: 10000, Succeeded: 1197, Cached: 1, Failed: 3, Running: 8},
			elapsed: 5 * time.Second,
			want:    "square: 1200/10000 done (3 failed, 8 running, 1 cached), 240.0/s, eta 37s",
		},
		{
			name:    "resumed: only what finished since Start counts towards the rate",
			c:       Counts{Total: 1000, Succeeded: 600},
			base:    Counts{Total: 1000, Succeeded: 500},
			elapsed: 20 * time.Second,
			want:    "square: 600/1000 done (0 failed, 0 running, 0 cached), 5.0/s, eta 1m20s",
		},
		{
			name:    "unknown total: no ETA",
			c:       Counts{Total: -1, Succeeded: 50, Cached: 30, Running: 2},
			elapsed: 25 * time.Second,
			want:    "square: 50/? done (0 failed, 2 running, 30 cached), 2.0/s",
		},
		{
			name:    "first second: no rate, no ETA",
			c:       Counts{Total: 10, Succeeded: 2, Running: 8},
			elapsed: 999 * time.Millisecond,
			want:    "square: 2/10 done (0 failed, 8 running, 0 cached)",
		},
		{
			name:    "nothing finished yet",
			c:       Counts{Total: 10, Running: 10},
			elapsed: time.Minute,
			want:    "square: 0/10 done (0 failed, 10 running, 0 cached), 0.0/s",
		},
		{
			name:    "all done: no ETA",
			c:       Counts{Total: 4, Succeeded: 3, Failed: 1},
			elapsed: 2 * time.Second,
			want:    "square: 4/4 done (1 failed, 0 running, 0 cached), 2.0/s",
		},
		{
			name:    "under a second left",
			c:       Counts{Total: 100, Succeeded: 99},
			elapsed: 10 * time.Second,
			want:    "square: 99/100 done (0 failed, 0 running, 0 cached), 9.9/s, eta 1s",
		},
		{
			name:    "slow",
			c:       Counts{Total: 100, Succeeded: 1},
			elapsed: time.Minute,
			want:    "square: 1/100 done (0 failed, 0 running, 0 cached), 0.0/s, eta 1h39m0s",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := status("square", tt.c, tt.base, tt.elapsed); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	for _, tt := range []struct {
		c       Counts
		elapsed time.Duration
		want    string
	}{
		{Counts{Total: 10000, Succeeded: 9997, Cached: 12, Failed: 3}, 41234 * time.Millisecond,
			"maptask: square: 10000/10000 done, 3 failed, 12 cached in 41.2s"},
		{Counts{Total: 10, Succeeded: 2, Running: 3}, 312345 * time.Microsecond,
			"maptask: square: 2/10 done, 0 failed, 0 cached in 312ms"},
		{Counts{Total: -1, Succeeded: 2}, 192600 * time.Millisecond,
			"maptask: square: 2/? done, 0 failed, 0 cached in 3m13s"},
	} {
		if got := summary("square", tt.c, tt.elapsed); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		s     string
		width int
		want  string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"abcd", 1, "…"},
		{"abcd", 0, ""},
		{"漢字漢字", 8, "漢字漢字"},
		{"漢字漢字", 5, "漢字…"},
		{"漢字漢字", 4, "漢…"},                        // the second 漢 would straddle the limit
		{"e\u0301e\u0301e\u0301", 2, "e\u0301…"}, // grapheme clusters stay whole
	} {
		got := cut(tt.s, tt.width)
		if got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.s, tt.width, got, tt.want)
		}
		if w := uniseg.StringWidth(got); w > max(tt.width, 0) {
			t.Errorf("cut(%q, %d) is %d wide", tt.s, tt.width, w)
		}
	}
}

func TestLayoutNeverExceedsTheWidth(t *testing.T) {
	labels := []string{"", "x", "echo hello {}", strings.Repeat("漢字 and ascii ", 30)}
	counts := []Counts{
		{Total: 40, Succeeded: 16, Failed: 2, Running: 4},
		{Total: 0},
		{Total: -1, Succeeded: 123456, Cached: 100000, Failed: 99999, Running: 512},
		{Total: 10000000, Succeeded: 9999999, Failed: 1},
	}
	for avail := 0; avail < 260; avail++ {
		for _, l := range labels {
			for _, c := range counts {
				for frame := range 3 {
					s := layout(newLabel(l), c, "123.4/s", "eta 1h39m0s", frame, avail)
					if w := uniseg.StringWidth(s); w > avail {
						t.Fatalf("layout(%q, %+v) at %d columns: %d wide: %q", l, c, avail, w, s)
					}
				}
			}
		}
	}
}

func TestLayoutAt80And200(t *testing.T) {
	label := strings.Repeat("sh -c 'sleep 1; echo {}' ", 12)
	c := Counts{Total: 40, Succeeded: 16, Cached: 1, Failed: 2, Running: 4}
	at80 := layout(newLabel(label), c, "3.6/s", "eta 7s", 0, 79)
	for _, want := range []string{"sh -c", "…", "  [", "]  18/40  16 ok, 2 failed, 4 run, 1 cached  eta 7s"} {
		if !strings.Contains(at80, want) {
			t.Errorf("no %q in %q", want, at80)
		}
	}
	at200 := layout(newLabel(label), c, "3.6/s", "eta 7s", 0, 199)
	for _, want := range []string{"sh -c", "…", "  [", "]   45%  18/40  16 succeeded, 2 failed, 4 running, 1 cached  3.6/s  eta 7s"} {
		if !strings.Contains(at200, want) {
			t.Errorf("no %q in %q", want, at200)
		}
	}
	if w := uniseg.StringWidth(at80); w != 79 {
		t.Errorf("at 80 columns the line is %d wide, want 79 (the bar fills the row): %q", w, at80)
	}
	if w := uniseg.StringWidth(at200); w != 199 {
		t.Errorf("at 200 columns the line is %d wide, want 199: %q", w, at200)
	}
}

func TestDrawBar(t *testing.T) {
	for _, tt := range []struct {
		done, total, width, frame int
		want                      string
	}{
		{0, 10, 10, 0, "          "},
		{1, 10, 10, 0, ">         "},
		{5, 10, 10, 0, "====>     "},
		{10, 10, 10, 0, "=========="},
		{0, 0, 4, 0, "===="},
		{3, -1, 6, 0, "<=>   "},
		{3, -1, 6, 3, "   <=>"},
		{3, -1, 6, 4, "  <=> "},
	} {
		if got := drawBar(tt.done, tt.total, tt.width, tt.frame); got != tt.want {
			t.Errorf("drawBar(%d, %d, %d, %d) = %q, want %q", tt.done, tt.total, tt.width, tt.frame, got, tt.want)
		}
	}
}
