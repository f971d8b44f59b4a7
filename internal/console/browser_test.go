package console_test

// Browser tests: the console's pages in a real headless Chromium (Debian's
// chromium package; hack/chromium.sh installs it), driven by chromedp. They
// FAIL when Chromium is missing and CI=true, and skip otherwise.
//
// Environment:
//
//	MAPTASK_CHROMIUM         the Chromium binary (default: chromium, chromium-browser or google-chrome on $PATH)
//	MAPTASK_UI_SCREENSHOTS   a directory to write a PNG of each page into
//	MAPTASK_UI_BIN           a built maptask binary: the 100,000-element test then serves
//	                         the grid with `maptask ui` in its own process and reports its RSS

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/maptask/maptask"
	"github.com/maptask/maptask/internal/console"
	"github.com/maptask/maptask/store"
)

// chromium returns the browser's path, or fails (CI=true) or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("MAPTASK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is missing (CI=true): run hack/chromium.sh, or set MAPTASK_CHROMIUM")
	}
	t.Skip("Chromium is missing: run hack/chromium.sh, or set MAPTASK_CHROMIUM")
	return ""
}

// browser is what a browser test needs: a store, a console serving it and a
// headless Chromium tab.
type browser struct {
	t       *testing.T
	dir     string // the store's directory
	st      *store.Store
	srv     *console.Server
	base    string // the console's URL
	ctx     context.Context
	shots   string
	stopped bool
}

func setup(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &browser{t: t, dir: dir, st: st, shots: os.Getenv("MAPTASK_UI_SCREENSHOTS")}
	b.srv = console.New(st, console.Options{Interval: 200 * time.Millisecond, ScanInterval: 500 * time.Millisecond})
	hs := httptest.NewServer(b.srv.Handler()) // 127.0.0.1
	t.Cleanup(func() {
		b.srv.Close()
		hs.Close()
	})
	b.base = hs.URL
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	if err := chromedp.Do(tab); err != nil { // starts the browser, for the tab's life
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	ctx, cancelTime := context.WithTimeout(tab, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	b.ctx = ctx
	return b
}

func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// get runs an action that returns a value.
func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return get(b, chromedp.Evaluate[T](expr))
}

// shot saves a PNG of the whole page when MAPTASK_UI_SCREENSHOTS is set.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	png := get(b, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// text reads the text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	// One evaluation: the pages replace their nodes as updates arrive, so a
	// node found by one call may be gone by the next.
	return strings.TrimSpace(eval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText : ""; })()`, strconv.Quote(sel))))
}

// sleepTask sleeps, logs, and fails the elements that are 3 modulo 7.
var sleepTask = maptask.NewTask("console-test-sleep", func(ctx context.Context, x int) (int, error) {
	select {
	case <-time.After(time.Duration(x%5+1) * 40 * time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	fmt.Fprintf(maptask.LogFromContext(ctx), "log of %d\n", x)
	if x%7 == 3 {
		fmt.Fprintf(maptask.ErrorLogFromContext(ctx), "element %d went wrong\n", x)
		return 0, errors.New("boom")
	}
	return x * x, nil
})

// trivialTask is instant; a few elements log or fail.
var trivialTask = maptask.NewTask("console-test-trivial", func(ctx context.Context, x int) (int, error) {
	if x%1000 == 321 {
		fmt.Fprintf(maptask.LogFromContext(ctx), "line 1 of element %d\nthe last line of element %d\n", x, x)
	}
	if x%10007 == 5 {
		fmt.Fprintf(maptask.ErrorLogFromContext(ctx), "element %d: no such thing\n", x)
		return 0, maptask.Permanent(fmt.Errorf("element %d: no such thing", x))
	}
	return x, nil
})

func ints(n int) []int {
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	return in
}

// startMap runs task over n inputs as execution id in the background; wait
// returns its error.
func startMap(b *browser, task *maptask.Task[int, int], id string, n int, opts ...maptask.MapOption) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		_, err := maptask.Map(context.Background(), task, ints(n), append([]maptask.MapOption{maptask.Execution(id), maptask.StoreURL(b.dir)}, opts...)...)
		done <- err
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				err = errors.New("the map did not end within 2 minutes")
			}
		})
		return err
	}
}

func TestBrowserListShowsRunningCounts(t *testing.T) {
	b := setup(t)
	// The page is open before the map starts, so that it sees it from the start.
	b.run(chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#executions`)))
	wait := startMap(b, sleepTask, "live-list", 120, maptask.Concurrency(4), maptask.MinSuccessRatio(0.5))
	defer wait()
	row := `tr[data-id="live-list"]`
	b.run(chromedp.WaitVisible(chromedp.CSS(row)))
	seen := map[string]bool{}
	var order []int
	deadline := time.Now().Add(90 * time.Second)
	shot := false
	for time.Now().Before(deadline) {
		s := b.text(row + ` td[data-k="succeeded"]`)
		if !seen[s] {
			seen[s] = true
			n, _ := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
			order = append(order, n)
		}
		if !shot && len(order) >= 3 {
			b.shot("list-running")
			shot = true
		}
		if strings.Contains(b.text(row), "succeeded") && !strings.Contains(b.text(row+" .badge"), "running") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := wait(); err != nil {
		t.Fatalf("map: %v", err)
	}
	t.Logf("succeeded counts the list showed while the map ran: %v", order)
	if len(order) < 3 {
		t.Fatalf("the list showed %d distinct succeeded counts (%v): want it to change while the map runs", len(order), order)
	}
	for k := 1; k < len(order); k++ {
		if order[k] < order[k-1] {
			t.Errorf("succeeded went down: %v", order)
		}
	}
	// The final counts match the store.
	b.run(chromedp.WaitVisible(chromedp.CSS(row + ` .badge.succeeded`)))
	if got, want := b.text(row+` td[data-k="failed"]`), "17"; got != want { // 3 mod 7 in [0, 120)
		t.Errorf("failed = %s, want %s", got, want)
	}
	b.shot("list-done")
	// Filtering hides what does not match.
	b.run(chromedp.SendKeys(chromedp.CSS("#filter"), "nothing-like-this"))
	if got := b.text("#list-count"); !strings.HasPrefix(got, "0 of") {
		t.Errorf("after filtering: %q", got)
	}
}

func TestBrowserGridOf100000(t *testing.T) {
	b := setup(t)
	const n = 100_000
	start := time.Now()
	wait := startMap(b, trivialTask, "grid-100k", n, maptask.MinSuccessRatio(0.99))
	if err := wait(); err != nil {
		t.Fatalf("map: %v", err)
	}
	t.Logf("the 100,000-element map took %s", time.Since(start).Round(time.Millisecond))
	base := b.base
	var rss func() string
	if bin := os.Getenv("MAPTASK_UI_BIN"); bin != "" {
		base, rss = startUIBinary(t, bin, b.dir)
	}
	b.run(chromedp.Navigate(base+"/#/e/grid-100k"),
		chromedp.WaitVisible(chromedp.CSS(`canvas#grid[data-rendered="100000"]`)))
	renderMS := eval[float64](b, `window.maptaskGridRenderedMS`)
	t.Logf("MEASURE grid of %d elements: first render %.0f ms after navigation start", n, renderMS)
	if rss != nil {
		t.Logf("MEASURE maptask ui while serving it: %s", rss())
	}
	// Again, with the server's state warm (as for a second person, or a reload).
	b.run(chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(chromedp.CSS(`#executions`)), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#executions`)))
	b.run(chromedp.Navigate(base+"/?again#/e/grid-100k"), chromedp.WaitVisible(chromedp.CSS(`canvas#grid[data-rendered="100000"]`)))
	t.Logf("MEASURE grid of %d elements, server state warm: first render %.0f ms after navigation start", n, eval[float64](b, `window.maptaskGridRenderedMS`))
	b.run(chromedp.WaitVisible(chromedp.CSS(`#failed-table`)))
	b.shot("execution-100k")
	// Hover, then click the cell of element 54321.
	const target = 54321
	b.run(chromedp.ScrollIntoView(chromedp.CSS(`canvas#grid`)))
	attrs := get(b, chromedp.Attributes(chromedp.CSS(`canvas#grid`)))
	cell, _ := strconv.Atoi(attrs["data-cell"])
	cols, _ := strconv.Atoi(attrs["data-cols"])
	if cell == 0 || cols == 0 {
		t.Fatalf("grid layout attributes: %v", attrs)
	}
	rect := eval[map[string]float64](b, `(() => { const c = document.querySelector("canvas#grid"), r = c.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, cw: c.width}; })()`)
	scale := rect["w"] / rect["cw"]
	x := rect["x"] + (float64(target%cols*cell)+float64(cell)/2)*scale
	y := rect["y"] + (float64(target/cols*cell)+float64(cell)/2)*scale
	b.run(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
	b.run(chromedp.WaitVisible(chromedp.CSS(`#tip`)))
	if tip := b.text("#tip"); tip != fmt.Sprintf("element %d: succeeded", target) {
		t.Errorf("hover shows %q", tip)
	}
	b.shot("execution-100k-hover")
	b.run(chromedp.MouseClickXY(x, y), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main[data-element="%d"] #attempts`, target))))
	if st := b.text("#element-state"); st != "succeeded" {
		t.Errorf("element state %q", st)
	}
	if in := b.text("#element-input"); in != strconv.Itoa(target) {
		t.Errorf("element input %q", in)
	}
	rows := eval[int](b, `document.querySelectorAll("#attempts tbody tr").length`)
	if rows < 2 { // the attempt's start, and its end
		t.Errorf("%d journal records shown, want the start and the end of the attempt", rows)
	}
	if bars := eval[int](b, `document.querySelectorAll("#attempt-timeline .attempt-bar.succeeded").length`); bars != 1 {
		t.Errorf("%d succeeded attempts on the element's timeline, want 1", bars)
	}
	if on := b.text("#attempts tbody tr .ran-on"); !strings.HasPrefix(on, "driver d") {
		t.Errorf("the attempt ran on %q, want the driver (an in-process map)", on)
	}
	if log := b.text("pre.log-stdout"); !strings.HasSuffix(log, fmt.Sprintf("the last line of element %d", target)) {
		t.Errorf("log tail %q", log)
	}
	b.shot("element")
	// A failed element: its error output, first.
	b.run(chromedp.Navigate(base+"/#/e/grid-100k/5"), chromedp.WaitVisible(chromedp.CSS(`main[data-element="5"] pre.log-stderr`)))
	if log := b.text("pre.log-stderr"); log != "element 5: no such thing" {
		t.Errorf("stderr tail %q", log)
	}
	b.shot("element-failed")
	if resp, err := http.Get(base + "/api/stats"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("MEASURE console reads: %s", strings.TrimSpace(string(body)))
	}
}

// startUIBinary serves dir with `bin ui` and returns its URL and a function
// reporting its memory.
func startUIBinary(t *testing.T, bin, dir string) (string, func() string) {
	t.Helper()
	cmd := exec.Command(bin, "ui", "--store", dir, "--addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if m == "" {
		t.Fatalf("maptask ui printed %q", line)
	}
	return m, func() string {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			return err.Error()
		}
		var fields []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
				fields = append(fields, strings.Join(strings.Fields(l), " "))
			}
		}
		return strings.Join(fields, ", ")
	}
}

func TestBrowserCancelStopsTheRun(t *testing.T) {
	b := setup(t)
	// Long enough (4,000 elements of 40-200ms, two at a time) that it cannot
	// end on its own before the cancel, however slow the page is to load.
	wait := startMap(b, sleepTask, "cancel-me", 4000, maptask.Concurrency(2), maptask.MinSuccessRatio(0.5))
	b.run(chromedp.Navigate(b.base+"/#/e/cancel-me"), chromedp.WaitVisible(chromedp.CSS(`#cancel`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas#grid[data-rendered]`)))
	// Some elements finish before the cancel.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && b.text(`.card[data-k="succeeded"] .v`) == "0" {
		time.Sleep(100 * time.Millisecond)
	}
	b.shot("execution-running")
	b.run(chromedp.Click(chromedp.CSS(`#cancel`)), chromedp.WaitVisible(chromedp.CSS(`#modal-yes`)))
	b.shot("cancel-confirm")
	// "Keep running" changes nothing.
	b.run(chromedp.Click(chromedp.CSS(`#modal-no`)), chromedp.WaitNotVisible(chromedp.CSS(`#modal`)))
	if yes, _ := b.st.Cancelled(context.Background(), "cancel-me"); yes {
		t.Fatal("declining the confirmation cancelled the execution")
	}
	clicked := time.Now()
	b.run(chromedp.Click(chromedp.CSS(`#cancel`)), chromedp.WaitVisible(chromedp.CSS(`#modal-yes`)),
		chromedp.Click(chromedp.CSS(`#modal-yes`)))
	err := wait()
	stopped := time.Since(clicked)
	if !errors.Is(err, maptask.ErrCancelled) {
		t.Fatalf("map returned %v, want ErrCancelled", err)
	}
	t.Logf("MEASURE the map stopped %s after the confirmation was clicked", stopped.Round(time.Millisecond))
	b.run(chromedp.WaitVisible(chromedp.CSS(`.badge.cancelled`)))
	v, err := b.st.LoadVerdict(context.Background(), "cancel-me")
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome != "cancelled" || v.Succeeded+v.Failed >= 4000 {
		t.Errorf("verdict %+v: want cancelled before every element ran", v)
	}
	if got := b.text(`.card[data-k="outcome"] .v`); got != "cancelled" {
		t.Errorf("page outcome %q", got)
	}
	hidden := eval[bool](b, `document.querySelector("#cancel").hidden`)
	if !hidden {
		t.Error("the cancel button stays on a run that ended")
	}
	b.run(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#failed[data-total="%d"]`, v.Failed))))
	b.shot("execution-cancelled")
}

func TestBrowserErrorsShownOnThePage(t *testing.T) {
	b := setup(t)
	b.run(chromedp.Navigate(b.base+"/#/e/no-such-execution"), chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if msg := b.text("#error"); !strings.Contains(msg, "not found") {
		t.Errorf("error banner %q", msg)
	}
	b.shot("error-not-found")
	// A store that goes away: the list says so, and the page stays.
	wait := startMap(b, sleepTask, "doomed", 5)
	_ = wait() // element 3 fails: so does the map
	b.run(chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="doomed"]`)))
	spec, err := b.st.LoadSpec(context.Background(), "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "executions", "doomed", spec.Inputs, "verdict.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(b.base+"/#/e/doomed"), chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if msg := b.text("#error"); !strings.Contains(msg, "corrupt") {
		t.Errorf("corrupt verdict: banner %q", msg)
	}
	b.shot("error-corrupt")
}

// inFlight counts the running elements of gaugeTask, as the map sees them.
var inFlight, inFlightPeak atomic.Int64

// gaugeTask takes 100ms and counts how many of it run at once.
var gaugeTask = maptask.NewTask("console-test-gauge", func(ctx context.Context, x int) (int, error) {
	n := inFlight.Add(1)
	defer inFlight.Add(-1)
	for p := inFlightPeak.Load(); n > p && !inFlightPeak.CompareAndSwap(p, n); p = inFlightPeak.Load() {
	}
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return x, nil
})

func TestBrowserChangeConcurrency(t *testing.T) {
	b := setup(t)
	inFlightPeak.Store(0)
	// Long enough (2,000 × 100ms) to outlast the test: it is cancelled at the end.
	wait := startMap(b, gaugeTask, "change-me", 2000, maptask.Concurrency(2))
	b.run(chromedp.Navigate(b.base+"/#/e/change-me"), chromedp.WaitVisible(chromedp.CSS(`#change`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas#grid[data-rendered]`)))
	waitCard := func(key, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for b.text(fmt.Sprintf(`.card[data-k=%q] .v`, key)) != want {
			if time.Now().After(deadline) {
				t.Fatalf("card %s shows %q after 30s, want %q", key, b.text(fmt.Sprintf(`.card[data-k=%q] .v`, key)), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitCard("running", "2")
	if p := inFlightPeak.Load(); p != 2 {
		t.Fatalf("%d elements ran at once before the change, want 2", p)
	}
	// The form, then a confirmation; "Back" changes nothing.
	b.run(chromedp.Click(chromedp.CSS(`#change`)), chromedp.WaitVisible(chromedp.CSS(`#change-concurrency`)),
		chromedp.SetValue(chromedp.CSS(`#change-concurrency`), "6"))
	b.shot("change-form")
	b.run(chromedp.Click(chromedp.CSS(`#change-yes`)), chromedp.WaitVisible(chromedp.CSS(`#modal-yes`)))
	if got := b.text("#modal-text"); !strings.Contains(got, "concurrency 6") {
		t.Fatalf("confirmation says %q", got)
	}
	b.shot("change-confirm")
	b.run(chromedp.Click(chromedp.CSS(`#modal-no`)), chromedp.WaitNotVisible(chromedp.CSS(`#modal`)))
	if ch, err := b.st.Changes(context.Background(), "change-me", 0); err != nil || len(ch) != 0 {
		t.Fatalf("declining the confirmation: changes %v, %v", ch, err)
	}
	clicked := time.Now()
	b.run(chromedp.WaitEnabled(chromedp.CSS(`#change`)), chromedp.Click(chromedp.CSS(`#change`)), chromedp.WaitVisible(chromedp.CSS(`#change-concurrency`)),
		chromedp.SetValue(chromedp.CSS(`#change-concurrency`), "6"),
		chromedp.Click(chromedp.CSS(`#change-yes`)), chromedp.WaitVisible(chromedp.CSS(`#modal-yes`)),
		chromedp.Click(chromedp.CSS(`#modal-yes`)))
	waitCard("running", "6")
	t.Logf("MEASURE running elements went from 2 to 6 on the page %s after the change was confirmed", time.Since(clicked).Round(time.Millisecond))
	waitCard("concurrency", "6")
	b.run(chromedp.WaitVisible(chromedp.CSS(`#changes .change[data-seq="1"]`)))
	if got := b.text(`#changes .change[data-seq="1"]`); !strings.Contains(got, "by maptask ui: concurrency 6") || !strings.Contains(got, "applied: at most 6 at once") {
		t.Errorf("change line %q", got)
	}
	b.shot("change-applied")
	// A bar above the element count is refused on the page; nothing changes.
	// (The button is disabled until the page has the answer to the last change.)
	b.run(chromedp.WaitEnabled(chromedp.CSS(`#change`)), chromedp.Click(chromedp.CSS(`#change`)), chromedp.WaitVisible(chromedp.CSS(`#change-bar-kind`)),
		chromedp.SetValue(chromedp.CSS(`#change-bar-kind`), "min"))
	eval[bool](b, `document.querySelector("#change-bar-kind").dispatchEvent(new Event("change"))`)
	b.run(chromedp.SetValue(chromedp.CSS(`#change-bar`), "2001"),
		chromedp.Click(chromedp.CSS(`#change-yes`)), chromedp.WaitVisible(chromedp.CSS(`#modal-yes`)),
		chromedp.Click(chromedp.CSS(`#modal-yes`)), chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if msg := b.text("#error"); !strings.Contains(msg, "min-successes 2001: more than the 2000 elements") {
		t.Errorf("refused change: banner %q", msg)
	}
	// The refusal stays on the page through the updates that follow (the
	// server pushes one every 200ms here).
	time.Sleep(time.Second)
	if msg, hidden := b.text("#error"), eval[bool](b, `document.querySelector("#error").hidden`); hidden || !strings.Contains(msg, "min-successes 2001") {
		t.Errorf("a second after the refusal the banner says %q (hidden %v)", msg, hidden)
	}
	b.shot("change-refused")
	if ch, err := b.st.Changes(context.Background(), "change-me", 0); err != nil || len(ch) != 1 {
		t.Errorf("after a refused change: changes %v, %v; want only the first", ch, err)
	}
	if err := b.st.SetCancel(context.Background(), "change-me"); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, maptask.ErrCancelled) {
		t.Fatalf("map returned %v, want ErrCancelled", err)
	}
	if p := inFlightPeak.Load(); p != 6 {
		t.Errorf("%d elements ran at once at most, want 6 after the change", p)
	}
}
