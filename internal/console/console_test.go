package console_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/internal/console"
	"github.com/maptask/maptask/store"
)

// served is a console over a fresh store, without a browser.
type served struct {
	dir  string
	st   *store.Store
	srv  *console.Server
	base string
}

func serve(t *testing.T, interval time.Duration) *served {
	t.Helper()
	return serveURL(t, filepath.Join(t.TempDir(), "store"), interval)
}

// serveURL is serve over the store at dir (a directory or a URL).
func serveURL(t *testing.T, dir string, interval time.Duration) *served {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := console.New(st, console.Options{Interval: interval, ScanInterval: interval})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return &served{dir: dir, st: st, srv: srv, base: hs.URL}
}

func (s *served) runMap(t *testing.T, task *maptask.Task[int, int], id string, n int, opts ...maptask.MapOption) func() error {
	done := make(chan error, 1)
	go func() {
		_, err := maptask.Map(context.Background(), task, ints(n), append([]maptask.MapOption{maptask.Execution(id), maptask.StoreURL(s.dir)}, opts...)...)
		done <- err
	}()
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(3 * time.Minute):
			t.Fatal("the map did not end")
			return nil
		}
	}
}

func getJSON(t *testing.T, url string, header map[string]string, method string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil {
		out = map[string]any{"raw": string(body)}
	}
	return resp.StatusCode, out
}

func TestAPI(t *testing.T) {
	s := serve(t, 100*time.Millisecond)
	if err := s.runMap(t, sleepTask, "api", 20, maptask.MinSuccessRatio(0.5), maptask.Concurrency(8))(); err != nil {
		t.Fatal(err)
	}
	code, list := getJSON(t, s.base+"/api/executions", nil, "GET")
	if code != 200 {
		t.Fatalf("list: %d %v", code, list)
	}
	execs := list["executions"].([]any)
	if len(execs) != 1 {
		t.Fatalf("list: %v", list)
	}
	e := execs[0].(map[string]any)
	// Elements 3, 10 and 17 fail (3 modulo 7).
	if e["id"] != "api" || e["succeeded"] != 17.0 || e["failed"] != 3.0 || e["outcome"] != "succeeded" || e["required"] != 10.0 {
		t.Errorf("summary %v", e)
	}
	// A console that has not read the execution yet lists it from its
	// verdict alone, without reading its journal.
	other := console.New(s.st, console.Options{})
	defer other.Close()
	ohs := httptest.NewServer(other.Handler())
	defer ohs.Close()
	code, list = getJSON(t, ohs.URL+"/api/executions", nil, "GET")
	if e := list["executions"].([]any)[0].(map[string]any); code != 200 || e["succeeded"] != 17.0 || e["failed"] != 3.0 || e["outcome"] != "succeeded" {
		t.Errorf("listed from the verdict: %d %v", code, e)
	}
	if st := other.Stats(); st.JournalBytes != 0 || st.Listings != 0 {
		t.Errorf("listing an ended execution read its journal: %+v", st)
	}
	code, el := getJSON(t, s.base+"/api/executions/api/elements/10", nil, "GET")
	if code != 200 || el["state"] != "failed" || el["input"] != "10" || el["error"] != "boom" {
		t.Errorf("element: %d %v", code, el)
	}
	if recs := el["records"].([]any); len(recs) != 2 {
		t.Errorf("records %v", recs)
	}
	logs := el["logs"].([]any)
	if len(logs) != 1 || logs[0].(map[string]any)["stderr"] != "element 10 went wrong\n" {
		t.Errorf("logs %v", logs)
	}
	code, failed := getJSON(t, s.base+"/api/executions/api/failed", nil, "GET")
	if code != 200 || failed["total"] != 3.0 {
		t.Errorf("failed: %d %v", code, failed)
	}
	resp, err := http.Get(s.base + "/api/executions/api/elements/10/logs/1/stderr")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "element 10 went wrong\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("whole log: %q %s", body, resp.Header.Get("Content-Type"))
	}
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		want               int
	}{
		{"unknown execution", "GET", "/api/executions/nope", nil, 404},
		{"bad id", "GET", "/api/executions/..%2F..", nil, 400},
		{"element out of range", "GET", "/api/executions/api/elements/20", nil, 400},
		{"cancel without the header", "POST", "/api/executions/api/cancel", nil, 403},
		{"cancel of an ended run", "POST", "/api/executions/api/cancel", map[string]string{"X-Maptask-Console": "cancel"}, 409},
		{"another host", "GET", "/api/executions", map[string]string{"Host": "attacker.example:80"}, 403},
		{"cancel by GET", "GET", "/api/executions/api/cancel", nil, 405},
	} {
		if code, body := getJSON(t, s.base+tc.path, tc.header, tc.method); code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.want)
		}
	}
	if yes, _ := s.st.Cancelled(context.Background(), "api"); yes {
		t.Error("a refused cancel wrote a cancel request")
	}
}

// event is one server-sent event.
type event struct {
	name string
	data []byte
}

// events reads the event stream at url until ctx ends; n counts the bytes.
func events(ctx context.Context, t *testing.T, url string, n *int64) <-chan event {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	ch := make(chan event, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<24)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			if n != nil {
				*n += int64(len(line) + 1)
			}
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = []byte(line[6:])
			case line == "":
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
				ev = event{}
			}
		}
	}()
	return ch
}

type gridMsg struct {
	N     int    `json:"n"`
	Full  string `json:"full"`
	Delta string `json:"delta"`
}

// apply updates grid with one grid event, and says whether it was a delta.
func (g gridMsg) apply(t *testing.T, grid []byte) ([]byte, bool) {
	if g.Full != "" {
		b, err := base64.StdEncoding.DecodeString(g.Full)
		if err != nil {
			t.Fatal(err)
		}
		return b, false
	}
	d, err := base64.StdEncoding.DecodeString(g.Delta)
	if err != nil || len(d)%5 != 0 {
		t.Fatalf("delta %q: %v", g.Delta, err)
	}
	for k := 0; k < len(d); k += 5 {
		grid[binary.LittleEndian.Uint32(d[k:])] = d[k+4]
	}
	return grid, true
}

func TestEventsCarryGridDeltas(t *testing.T) {
	s := serve(t, 100*time.Millisecond)
	const n = 300
	wait := s.runMap(t, sleepTask, "ev", n, maptask.MinSuccessRatio(0.5), maptask.Concurrency(16))
	for { // the execution exists once its spec is written
		if _, err := s.st.LoadSpec(context.Background(), "ev"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := events(ctx, t, s.base+"/api/executions/ev/events", nil)
	var grid []byte
	deltas, summaries := 0, 0
	ended := false
loop:
	for ev := range ch {
		switch ev.name {
		case "grid":
			var g gridMsg
			if err := json.Unmarshal(ev.data, &g); err != nil {
				t.Fatal(err)
			}
			var delta bool
			grid, delta = g.apply(t, grid)
			if delta {
				deltas++
			}
			if ended { // the grid of the summary that said the run ended
				break loop
			}
		case "summary":
			summaries++
			var sum struct {
				Live bool `json:"live"`
			}
			json.Unmarshal(ev.data, &sum)
			ended = !sum.Live
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !ended {
		t.Fatal("the stream ended before the run")
	}
	// The grid the page built equals the journal's final states.
	recs, err := s.st.LoadRecords(context.Background(), "ev", n)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		want := map[store.Status]byte{store.StatusSucceeded: 2, store.StatusFailed: 4}[r.Status]
		if grid[i] != want {
			t.Fatalf("element %d: grid %d, journal %s", i, grid[i], r.Status)
		}
	}
	t.Logf("%d summaries, %d grid deltas", summaries, deltas)
	if deltas == 0 {
		t.Error("every grid event was the whole grid: want deltas while the map runs")
	}
}

// TestLiveUpdateCost measures what the live updates of a 100,000-element map
// read from the store, while it runs. It takes half a minute: it runs with
// MAPTASK_UI_MEASURE=1, on a local store, or on the store at
// $MAPTASK_UI_MEASURE_STORE (an s3:// URL: run it with -tags s3 to link the
// driver), with the number of elements in $MAPTASK_UI_MEASURE_N.
func TestLiveUpdateCost(t *testing.T) {
	if os.Getenv("MAPTASK_UI_MEASURE") == "" {
		t.Skip("a measurement: set MAPTASK_UI_MEASURE=1")
	}
	s := serve(t, time.Second)
	if u := os.Getenv("MAPTASK_UI_MEASURE_STORE"); u != "" {
		s = serveURL(t, u, time.Second)
		s.dir = u
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("MAPTASK_UI_MEASURE_N")); err == nil && v > 0 {
		n = v
	}
	start := time.Now()
	id := fmt.Sprintf("cost-%d", time.Now().UnixNano())
	wait := s.runMap(t, pauseTask, id, n, maptask.Concurrency(32))
	for {
		if _, err := s.st.LoadSpec(context.Background(), id); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent int64
	ch := events(ctx, t, s.base+"/api/executions/"+id+"/events", &sent)
	type sample struct {
		at      time.Duration
		journal int64
	}
	var samples []sample
	naive := int64(0) // what re-reading the whole journal every tick would read
	for ev := range ch {
		if ev.name != "summary" {
			continue
		}
		var sum struct {
			Live  bool          `json:"live"`
			Stats console.Stats `json:"stats"`
		}
		json.Unmarshal(ev.data, &sum)
		samples = append(samples, sample{time.Since(start), sum.Stats.JournalBytes})
		naive += sum.Stats.JournalBytes
		if !sum.Live {
			break
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	st := s.srv.Stats()
	for _, s := range samples {
		t.Logf("t=%5.1fs journal read so far %8d bytes", s.at.Seconds(), s.journal)
	}
	t.Logf("MEASURE live updates of a %d-element map over %.1fs: %d journal bytes read (%.0f bytes/s), %d listings returning %d objects, %d small reads; re-reading the whole journal every tick would have read %d bytes (%.1fx); %d bytes of events sent to the page (%.0f bytes/s)",
		n, elapsed.Seconds(), st.JournalBytes, float64(st.JournalBytes)/elapsed.Seconds(), st.Listings, st.Listed, st.SmallReads, naive, float64(naive)/float64(st.JournalBytes), sent, float64(sent)/elapsed.Seconds())
}

// pauseTask takes a few milliseconds.
var pauseTask = maptask.NewTask("console-test-pause", func(ctx context.Context, x int) (int, error) {
	time.Sleep(4 * time.Millisecond)
	return x, nil
})

// The element page says who wrote each record: the writer is the journal
// object's folder (store.DescribeWriter has the forms).
func TestRanOnNamesTheWorker(t *testing.T) {
	for key, want := range map[string]string{
		"executions/x/i1/journal/d1764556800123/0000000001.jsonl": "driver d1764556800123",
		"executions/x/i1/journal/slurm-812-3/0000000001.jsonl":    "Slurm array task 812_3",
	} {
		if got := console.RanOn(key); got != want {
			t.Errorf("RanOn(%q) = %q, want %q", key, got, want)
		}
	}
}
