// Package progress shows how a running map is doing: a live bar on a terminal
// (github.com/schollz/progressbar), a line every few seconds elsewhere (logs, CI),
// and a summary line at the end.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Counts is a snapshot of a running map.
type Counts struct {
	Total     int // elements in the map; -1 while unknown (streaming input)
	Succeeded int // includes Cached
	Cached    int
	Failed    int // failed for good
	Running   int
}

// Mode chooses how progress is shown.
type Mode int

const (
	Auto   Mode = iota // a bar when the writer is a terminal, log lines otherwise
	Always             // always a bar
	Never              // nothing
)

// ParseMode parses "auto", "always" or "never".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "always":
		return Always, nil
	case "never":
		return Never, nil
	}
	return Auto, fmt.Errorf("maptask: progress %q: must be auto, always or never", s)
}

type options struct {
	interval time.Duration
	now      func() time.Time
}

// Option adjusts a Reporter.
type Option func(*options)

// Interval sets the time between log lines (default 5s).
func Interval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// Clock replaces time.Now, for tests.
func Clock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Reporter shows progress until Stop.
type Reporter struct {
	w     io.Writer
	title string
	snap  func() Counts
	opts  options
	start time.Time
	bar   *progressbar.ProgressBar

	once sync.Once
	stop chan struct{}
	done chan struct{}
}

// Start begins reporting to w, calling snap (which must be cheap and safe for
// concurrent use) a few times a second. Call Stop when the map ends.
func Start(w io.Writer, mode Mode, title string, snap func() Counts, opts ...Option) *Reporter {
	r := &Reporter{w: w, title: title, snap: snap, opts: options{interval: 5 * time.Second, now: time.Now}}
	for _, o := range opts {
		o(&r.opts)
	}
	if w == nil || mode == Never {
		return r
	}
	r.start = r.opts.now()
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	tick := r.opts.interval
	if mode == Always || (mode == Auto && isTerminal(w)) {
		r.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(title),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("elements"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
		)
		tick = 100 * time.Millisecond
	}
	go r.loop(tick)
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (r *Reporter) loop(tick time.Duration) {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			c := r.snap()
			if r.bar != nil {
				r.updateBar(c)
			} else {
				fmt.Fprintln(r.w, r.line(c))
			}
		}
	}
}

func (r *Reporter) updateBar(c Counts) {
	if c.Total >= 0 && r.bar.GetMax() != c.Total {
		r.bar.ChangeMax(c.Total)
	}
	r.bar.Describe(fmt.Sprintf("%s (%d failed, %d running, %d cached)", r.title, c.Failed, c.Running, c.Cached))
	_ = r.bar.Set(c.Succeeded + c.Failed)
}

// line is the periodic log line.
func (r *Reporter) line(c Counts) string {
	done := c.Succeeded + c.Failed
	elapsed := r.opts.now().Sub(r.start)
	total := "?"
	if c.Total >= 0 {
		total = fmt.Sprint(c.Total)
	}
	s := fmt.Sprintf("maptask: %s: %d/%s done (%d failed, %d running, %d cached)", r.title, done, total, c.Failed, c.Running, c.Cached)
	rate := rate(done-c.Cached, elapsed)
	s += fmt.Sprintf(", %.1f/s", rate)
	if c.Total >= 0 && rate > 0 && done < c.Total {
		s += ", eta " + (time.Duration(float64(c.Total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	return s
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Stop ends the display and prints a summary line. It is idempotent.
func (r *Reporter) Stop() {
	r.once.Do(func() {
		if r.stop == nil {
			return
		}
		close(r.stop)
		<-r.done
		c := r.snap()
		if r.bar != nil {
			r.updateBar(c)
			_ = r.bar.Finish()
			fmt.Fprintln(r.w)
		}
		done := c.Succeeded + c.Failed
		fmt.Fprintf(r.w, "maptask: %s: %d/%d done, %d failed, %d cached in %v\n", r.title, done, max(c.Total, done), c.Failed, c.Cached,
			r.opts.now().Sub(r.start).Round(time.Millisecond))
	})
}
