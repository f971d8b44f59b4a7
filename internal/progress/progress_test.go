package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the reporter's goroutine and the test.
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

func TestLogLinesAndSummary(t *testing.T) {
	var out syncBuffer
	c := Counts{Total: 10, Succeeded: 4, Cached: 1, Failed: 1, Running: 2}
	r := Start(&out, Auto, "square", func() Counts { return c }, Interval(5*time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "5/10 done") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.Stop()
	r.Stop() // idempotent
	s := out.String()
	if !strings.Contains(s, "maptask: square: 5/10 done (1 failed, 2 running, 1 cached)") {
		t.Fatalf("no progress line in %q", s)
	}
	if !strings.HasSuffix(s, "\n") || !strings.Contains(s, "maptask: square: 5/10 done, 1 failed, 1 cached in ") {
		t.Fatalf("no summary in %q", s)
	}
}

func TestRateAndETA(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &Reporter{title: "t", opts: options{now: func() time.Time { return now }}, start: now.Add(-10 * time.Second)}
	got := r.line(Counts{Total: 300, Succeeded: 100})
	if want := "maptask: t: 100/300 done (0 failed, 0 running, 0 cached), 10.0/s, eta 20s"; got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// A stream of unknown length has no ETA; cached elements do not inflate the rate.
	got = r.line(Counts{Total: -1, Succeeded: 50, Cached: 30})
	if want := "maptask: t: 50/? done (0 failed, 0 running, 30 cached), 2.0/s"; got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestAlwaysDrawsABar(t *testing.T) {
	var out syncBuffer
	r := Start(&out, Always, "bar", func() Counts { return Counts{Total: 4, Succeeded: 2} })
	time.Sleep(250 * time.Millisecond)
	r.Stop()
	if s := out.String(); !strings.Contains(s, "bar") || !strings.Contains(s, "2/4") && !strings.Contains(s, "4/4") && !strings.Contains(s, "50%") {
		t.Fatalf("no bar in %q", s)
	}
}

func TestNeverAndNil(t *testing.T) {
	var out syncBuffer
	Start(&out, Never, "x", func() Counts { return Counts{} }).Stop()
	Start(nil, Auto, "x", func() Counts { return Counts{} }).Stop()
	if out.String() != "" {
		t.Fatalf("wrote %q", out.String())
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"auto": Auto, "always": Always, "never": Never} {
		if m, err := ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("sometimes"); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("ParseMode(sometimes): %v", err)
	}
}
