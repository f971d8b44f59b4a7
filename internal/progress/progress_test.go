package progress_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/maptask/maptask/internal/progress"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer that the reporter's goroutine and the test can
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeMap is a map whose counts the test changes while a Reporter reads them.
type fakeMap struct {
	mu sync.Mutex
	c  progress.Counts
}

func (f *fakeMap) snap() progress.Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.c
}

func (f *fakeMap) set(c progress.Counts) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.c = c
}

// waitFor waits until out contains want, failing the test after a few seconds.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if strings.Contains(out.String(), want) {
			return
		}
	}
	t.Fatalf("no %q in %q", want, out.String())
}

func TestLogLines(t *testing.T) {
	var out syncBuffer
	m := &fakeMap{c: progress.Counts{Total: 10, Running: 3}}
	r := progress.Start(&out, progress.Auto, "square", m.snap, progress.Interval(5*time.Millisecond))
	waitFor(t, &out, "maptask: square: 0/10 done (0 failed, 3 running, 0 cached)")
	m.set(progress.Counts{Total: 10, Succeeded: 4, Cached: 1, Failed: 1, Running: 2})
	waitFor(t, &out, "maptask: square: 5/10 done (1 failed, 2 running, 1 cached)")
	m.set(progress.Counts{Total: 10, Succeeded: 8, Cached: 1, Failed: 2})
	r.Stop()

	s := out.String()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "maptask: square: 10/10 done, 2 failed, 1 cached in ") {
		t.Errorf("last line %q, want the summary", last)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "maptask: square: ") {
			t.Errorf("line %q", l)
		}
	}
	if strings.ContainsAny(s, "\r|%") {
		t.Errorf("log mode drew a bar: %q", s)
	}
}

func TestStreamingLogLinesHaveNoETA(t *testing.T) {
	var out syncBuffer
	var ticks atomic.Int64
	clock := func() time.Time { return time.Unix(ticks.Add(1), 0) } // a second per call
	m := &fakeMap{c: progress.Counts{Total: -1}}
	r := progress.Start(&out, progress.Auto, "fetch", m.snap, progress.Interval(time.Millisecond), progress.Clock(clock))
	m.set(progress.Counts{Total: -1, Succeeded: 7, Running: 1})
	waitFor(t, &out, "maptask: fetch: 7/? done (0 failed, 1 running, 0 cached), ")
	r.Stop()
	s := out.String()
	if !strings.Contains(s, "/s\n") || strings.Contains(s, "eta") {
		t.Errorf("want a rate and no ETA for a stream of unknown length: %q", s)
	}
}

func TestStopIsIdempotentAndLeavesNoGoroutine(t *testing.T) {
	for _, mode := range []progress.Mode{progress.Auto, progress.Always} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			var out syncBuffer
			var calls atomic.Int64
			r := progress.Start(&out, mode, "x", func() progress.Counts {
				calls.Add(1)
				return progress.Counts{Total: 2, Succeeded: 2}
			}, progress.Interval(time.Millisecond))
			time.Sleep(20 * time.Millisecond)

			var wg sync.WaitGroup
			for range 4 {
				wg.Go(r.Stop)
			}
			wg.Wait()
			r.Stop()
			goleak.VerifyNone(t) // Stop has waited for the goroutine

			s, n := out.String(), calls.Load()
			if got := strings.Count(s, " cached in "); got != 1 {
				t.Errorf("%d summaries in %q", got, s)
			}
			time.Sleep(20 * time.Millisecond)
			if out.String() != s || calls.Load() != n {
				t.Errorf("the reporter went on after Stop")
			}
		})
	}
}

func TestAlwaysDrawsABar(t *testing.T) {
	var out syncBuffer
	m := &fakeMap{c: progress.Counts{Total: 4, Succeeded: 1, Running: 2}}
	r := progress.Start(&out, progress.Always, "square", m.snap, progress.Width(200))
	waitFor(t, &out, "1/4  1 succeeded, 0 failed, 2 running, 0 cached")
	m.set(progress.Counts{Total: 4, Succeeded: 2, Failed: 1, Running: 1})
	waitFor(t, &out, "3/4  2 succeeded, 1 failed, 1 running, 0 cached")
	r.Stop()

	s := out.String()
	for _, want := range []string{"\rsquare  [", "25%", "75%", "[=====", "maptask: square: 3/4 done, 1 failed, 0 cached in "} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in %q", want, s)
		}
	}
	if !strings.HasSuffix(s, "\n") {
		t.Errorf("no final newline in %q", s)
	}
}

func TestBarOfUnknownTotalBecomesABar(t *testing.T) {
	var out syncBuffer
	m := &fakeMap{c: progress.Counts{Total: -1, Succeeded: 3}}
	r := progress.Start(&out, progress.Always, "fetch", m.snap)
	waitFor(t, &out, "<=>")
	waitFor(t, &out, "3/?  3 succeeded, 0 failed, 0 running, 0 cached")
	if s := out.String(); strings.Contains(s, "%") {
		t.Errorf("a percentage for an unknown total: %q", s)
	}
	m.set(progress.Counts{Total: 10, Succeeded: 5})
	waitFor(t, &out, "50%")
	r.Stop()
	waitFor(t, &out, "5/10  5 succeeded, 0 failed, 0 running, 0 cached")
}

func TestBarOfEmptyMap(t *testing.T) {
	var out syncBuffer
	r := progress.Start(&out, progress.Always, "none", func() progress.Counts { return progress.Counts{} })
	r.Stop()
	if s := out.String(); !strings.Contains(s, "100%  0/0") || !strings.Contains(s, "maptask: none: 0/0 done, 0 failed, 0 cached in ") {
		t.Errorf("got %q", s)
	}
}

func TestNeverAndNilWriter(t *testing.T) {
	var out syncBuffer
	snap := func() progress.Counts { t.Error("snap called"); return progress.Counts{} }
	r := progress.Start(&out, progress.Never, "x", snap, progress.Interval(time.Millisecond))
	time.Sleep(5 * time.Millisecond)
	r.Stop()
	r.Stop()
	progress.Start(nil, progress.Always, "x", snap).Stop()
	if out.String() != "" {
		t.Errorf("wrote %q", out.String())
	}
	var nilReporter *progress.Reporter
	nilReporter.Stop()
}

func TestClockDrivesRateAndSummary(t *testing.T) {
	var out syncBuffer
	var elapsed atomic.Int64 // nanoseconds since t0
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0.Add(time.Duration(elapsed.Load())) }
	m := &fakeMap{c: progress.Counts{Total: 300, Succeeded: 40}} // 40 done before Start (a resume)
	r := progress.Start(&out, progress.Auto, "t", m.snap, progress.Clock(clock), progress.Interval(time.Millisecond))
	m.set(progress.Counts{Total: 300, Succeeded: 130, Failed: 10, Running: 4})
	elapsed.Store(int64(10 * time.Second))
	waitFor(t, &out, "maptask: t: 140/300 done (10 failed, 4 running, 0 cached), 10.0/s, eta 16s\n")
	elapsed.Store(int64(41234 * time.Millisecond))
	r.Stop()
	if s := out.String(); !strings.HasSuffix(s, "maptask: t: 140/300 done, 10 failed, 0 cached in 41.2s\n") {
		t.Errorf("no summary at the end of %q", s)
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want progress.Mode
	}{
		{"auto", progress.Auto},
		{"always", progress.Always},
		{"never", progress.Never},
	} {
		if m, err := progress.ParseMode(tt.in); err != nil || m != tt.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tt.in, m, err, tt.want)
		}
	}
	for _, in := range []string{"", "sometimes", "Auto", " never", "true"} {
		if _, err := progress.ParseMode(in); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("ParseMode(%q): error %v, want one naming the value", in, err)
		}
	}
}

func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"auto", "always", "never", "", "ALWAYS", "nevermore"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := progress.ParseMode(s)
		valid := s == "auto" || s == "always" || s == "never"
		if valid != (err == nil) {
			t.Fatalf("ParseMode(%q) = %v, %v", s, m, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Fatalf("ParseMode(%q): error %q does not name the value", s, err)
		}
	})
}
