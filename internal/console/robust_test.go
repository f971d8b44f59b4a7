package console_test

// Robustness and resource tests, from a review: each failed on the code it
// was written against (a crash on an execution created again, a histogram
// panic on long attempts, whole logs read for their tails, bad log indexes,
// a failures table that hid an unread journal).

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask/store"
)

// createExec makes execution id of n inputs ("0", "1", ...) in st.
func createExec(t *testing.T, st *store.Store, id string, n int) {
	t.Helper()
	var data []byte
	offsets := []uint64{0}
	for i := range n {
		data = append(data, strconv.Itoa(i)...)
		offsets = append(offsets, uint64(len(data)))
	}
	spec := store.Spec{ID: id, Task: "review", Codec: "json", N: n, Created: time.Now()}
	if err := st.CreateExecution(context.Background(), spec, data, offsets, nil); err != nil {
		t.Fatal(err)
	}
}

// An element whose attempt took 50 days (or whose record says a negative
// duration) is a legitimate journal record; the execution's page must still
// be served. The histogram's bin width is float64(MaxMS+1)/bins with MaxMS a
// uint32 capped at MaxUint32: MaxMS+1 overflows to 0, the width is 0, and
// int(+Inf or NaN) indexes the counts out of range.
func TestLongAttemptKeepsExecutionPage(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
	}{
		{"50 days", 50 * 24 * time.Hour},
		{"negative (a damaged record)", -time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, 50*time.Millisecond)
			ctx := context.Background()
			createExec(t, s.st, "long", 2)
			now := time.Now().UnixNano()
			if err := s.st.AppendRecords(ctx, "long", "driver", []store.Record{
				{Index: 0, Status: store.StatusSucceeded, Attempts: 1, DurationNS: int64(tc.d), Time: now},
				{Index: 1, Status: store.StatusSucceeded, Attempts: 1, DurationNS: int64(time.Second), Time: now},
			}); err != nil {
				t.Fatal(err)
			}
			code, body := getJSON(t, s.base+"/api/executions/long", nil, "GET")
			if code != 200 {
				t.Errorf("GET /api/executions/long with an attempt of %s: %d %v, want 200", tc.d, code, body)
			}
		})
	}
}

// An execution deleted (maptask rm) and created again under the same id with
// more inputs while the console has it in memory: the console keeps the old
// spec (and per-element arrays of the old length) and applies the new
// journal's records to them, indexing past their end. In a request this is a
// 500 "internal error: runtime error: index out of range"; in the refresh
// loop (an execution page open) it is an unrecovered panic that kills
// maptask ui (see TestRecreatedExecutionKeepsServer).
func TestRecreatedExecutionWithMoreInputs(t *testing.T) {
	s := serve(t, 50*time.Millisecond)
	ctx := context.Background()
	createExec(t, s.st, "again", 2)
	if err := s.st.AppendRecords(ctx, "again", "driver", []store.Record{{Index: 0, Status: store.StatusSucceeded, Attempts: 1, Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	if code, body := getJSON(t, s.base+"/api/executions/again", nil, "GET"); code != 200 {
		t.Fatalf("first look: %d %v", code, body)
	}
	// Another process removes it and creates it again with 10 inputs.
	other, err := store.Open(ctx, s.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.DeleteExecution(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	createExec(t, other, "again", 10)
	if err := other.AppendRecords(ctx, "again", "driver", []store.Record{{Index: 9, Status: store.StatusSucceeded, Attempts: 1, Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	var code int
	var body map[string]any
	for range 4 {
		time.Sleep(60 * time.Millisecond) // past Interval: the page's read refreshes it
		code, body = getJSON(t, s.base+"/api/executions/again", nil, "GET")
		if code != 200 {
			break
		}
	}
	if code != 200 || body["n"] != 10.0 {
		t.Errorf("GET /api/executions/again after it was created again with 10 inputs: %d n=%v error=%v, want 200 and n=10", code, body["n"], body["error"])
	}
}

// The same, with the execution's page open (its event stream): the refresh
// loop applies the new journal to the old arrays outside any recover, and the
// whole maptask ui process dies. Run in a child process, as it kills the
// test binary.
func TestRecreatedExecutionKeepsServer(t *testing.T) {
	if os.Getenv("MAPTASK_REVIEW_CHILD") == "1" {
		recreatedWhileWatched(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecreatedExecutionKeepsServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAPTASK_REVIEW_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// The panic and the console's frames of its goroutine.
		var lines []string
		in := false
		for _, l := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(l, "panic:"):
				in = true
				lines = append(lines, l)
			case in && l == "" && len(lines) > 2:
				in = false
			case in && strings.Contains(l, "internal/console."):
				lines = append(lines, "\t"+strings.TrimSpace(l))
			}
		}
		t.Errorf("the console's process died while an open page watched an execution deleted and created again with more inputs: %v\n%s", err, strings.Join(lines, "\n"))
	}
}

func recreatedWhileWatched(t *testing.T) {
	s := serve(t, 50*time.Millisecond)
	ctx := context.Background()
	createExec(t, s.st, "again", 2)
	if err := s.st.AppendRecords(ctx, "again", "driver", []store.Record{{Index: 0, Status: store.StatusRunning, Attempts: 1, Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs := events(ctx, t, s.base+"/api/executions/again/events", nil)
	for ev := range evs {
		if ev.name == "grid" {
			break
		}
	}
	go func() { // drain
		for range evs {
		}
	}()
	other, err := store.Open(context.Background(), s.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.DeleteExecution(context.Background(), "again"); err != nil {
		t.Fatal(err)
	}
	createExec(t, other, "again", 10)
	if err := other.AppendRecords(context.Background(), "again", "driver", []store.Record{{Index: 9, Status: store.StatusRunning, Attempts: 1, Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // 20 refresh rounds
	if code, _ := getJSON(t, s.base+"/api/stats", nil, "GET"); code != 200 {
		t.Errorf("stats: %d", code)
	}
}

// The element log endpoint takes any index and attempt: a negative one is a
// 500 (the store's own refusal), and an element the execution does not have
// is a 200 with an empty body, where the element endpoint says 400 and names
// the range.
func TestLogEndpointBadIndex(t *testing.T) {
	s := serve(t, 50*time.Millisecond)
	createExec(t, s.st, "logs", 2)
	for _, path := range []string{
		"/api/executions/logs/elements/-1/logs/1/stdout",
		"/api/executions/logs/elements/0/logs/-1/stdout",
		"/api/executions/logs/elements/7/logs/1/stdout",
	} {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("GET %s: %d %q, want 400 or 404 naming the bad index", path, resp.StatusCode, body)
		}
	}
}

// The element page shows the last 16 KiB of each log and the failures table
// the last 3 lines of each failed element's error output, but both read every
// kept log whole into memory first (store.ReadLogs, store.ReadAttemptLog: up
// to MaxLogSize, 64 MiB, per stream and attempt; the failures table does it
// for up to 1,000 elements per request, the element page again every 2
// seconds while the element runs). A request should allocate about what it
// shows.
func TestLogTailsReadOnlyTails(t *testing.T) {
	s := serve(t, 50*time.Millisecond)
	ctx := context.Background()
	createExec(t, s.st, "biglog", 1)
	if err := s.st.AppendRecords(ctx, "biglog", "driver", []store.Record{{Index: 0, Status: store.StatusFailed, Attempts: 3, Err: "exit status 1", Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("a line of output, one of many\n", 16<<20/30)) // 16 MiB
	for a := 1; a <= 3; a++ {
		if err := s.st.PutLog(ctx, "biglog", 0, a, big); err != nil {
			t.Fatal(err)
		}
		if err := s.st.PutErrorLog(ctx, "biglog", 0, a, big); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/api/executions/biglog/elements/0", "/api/executions/biglog/failed"} {
		getJSON(t, s.base+path, nil, "GET") // the execution's state loaded
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		code, _ := getJSON(t, s.base+path, nil, "GET")
		runtime.ReadMemStats(&after)
		if code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("GET %s allocated %d MiB to show the tails of 16 MiB logs, want at most 8 MiB", path, alloc>>20)
		}
	}
}

// When the journal cannot be read (a corrupt verdict.json stops every refresh
// before it; an unreachable store), the element endpoint says so (503), but
// the failures table answers 200 {"total": 0, "failed": []}: the page says
// "None." under "Failed elements" for an execution it knows nothing about.
func TestFailedTableSaysJournalUnread(t *testing.T) {
	s := serve(t, 50*time.Millisecond)
	ctx := context.Background()
	createExec(t, s.st, "unread", 3)
	if err := s.st.AppendRecords(ctx, "unread", "driver", []store.Record{{Index: 1, Status: store.StatusFailed, Attempts: 1, Err: "boom", Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	spec, err := s.st.LoadSpec(ctx, "unread")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "executions", "unread", spec.Inputs, "verdict.json"), []byte("{damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := getJSON(t, s.base+"/api/executions/unread/elements/1", nil, "GET"); code != 503 {
		t.Errorf("element: %d %v, want 503 (the journal cannot be read)", code, body)
	}
	if code, body := getJSON(t, s.base+"/api/executions/unread/failed", nil, "GET"); code == 200 && body["error"] == nil {
		t.Errorf("failed elements of an execution whose journal was never read: %d %v, want an error saying why", code, body)
	}
}
