package progress

import (
	"testing"
	"time"
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
