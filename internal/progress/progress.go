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
	Never              // nothing at all
)

// ParseMode parses "auto", "always" or "never"; any other value is an error
// naming it.
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

const (
	defaultInterval = 5 * time.Second
	barRefresh      = 100 * time.Millisecond
)

type options struct {
	interval time.Duration
	now      func() time.Time
}

// Option adjusts a Reporter.
type Option func(*options)

// Interval sets the time between log lines (default 5s; d <= 0 keeps the
// default). It does not affect the bar, which is redrawn about 10 times a second.
func Interval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.interval = d
		}
	}
}

// Clock replaces time.Now for the elapsed time, rate and ETA (tests use it);
// now must be safe to call from another goroutine. It does not change how often
// the display is refreshed.
func Clock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Reporter shows the progress of one map from Start until Stop.
//
// A Reporter owns one goroutine, started by Start and ended (and waited for) by
// Stop.
type Reporter struct {
	once sync.Once
	stop chan struct{} // closed by Stop
	done chan struct{} // closed by the goroutine as it returns
	d    *display      // used only by the goroutine until done is closed, then by Stop; nil when inactive
}

// Start begins reporting the progress of the map called title to w and returns
// at once. It calls snap from its own goroutine (about 10 times a second for a
// bar, once per Interval for log lines, and once more in Stop); snap must be
// cheap and safe to call concurrently with the map's own updates.
//
// With Auto, a bar is drawn when w is an *os.File on a terminal and log lines
// are written otherwise; Always always draws a bar. With Never or a nil w the
// Reporter shows nothing and starts no goroutine.
func Start(w io.Writer, mode Mode, title string, snap func() Counts, opts ...Option) *Reporter {
	o := options{interval: defaultInterval, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	r := &Reporter{}
	if w == nil || mode == Never {
		return r
	}
	if snap == nil {
		panic("maptask: progress.Start: nil snap")
	}
	d := &display{w: w, title: title, snap: snap, now: o.now, start: o.now(), base: snap()}
	tick := o.interval
	if mode == Always || (mode == Auto && isTerminal(w)) {
		d.bar = &bar{w: w}
		tick = barRefresh
	}
	r.stop, r.done, r.d = make(chan struct{}), make(chan struct{}), d
	go r.run(tick)
	return r
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// run is the Reporter's goroutine: it refreshes the display every tick until
// Stop closes r.stop.
func (r *Reporter) run(tick time.Duration) {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	if r.d.bar != nil {
		r.d.update() // show the bar at once, not a tick later
	}
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.d.update()
		}
	}
}

// Stop ends the display: it stops the goroutine, waits for it, brings the bar
// (if any) up to date and writes a summary line. Stop is idempotent and safe to
// call from several goroutines; the calls after the first return at once, or,
// if the first is still running, when it has finished.
func (r *Reporter) Stop() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		if r.d == nil {
			return
		}
		close(r.stop)
		<-r.done
		r.d.finish()
	})
}

// display is what is drawn; one goroutine at a time uses it.
type display struct {
	w     io.Writer
	title string
	snap  func() Counts
	now   func() time.Time
	start time.Time // when Start was called
	base  Counts    // snapshot at Start: rate counts only what finished since
	bar   *bar      // nil for log lines
}

// update shows the current state: a redrawn bar or one more log line.
func (d *display) update() {
	c := d.snap()
	s := status(d.title, c, d.base, d.now().Sub(d.start))
	if d.bar != nil {
		d.bar.draw(c, s)
		return
	}
	fmt.Fprintf(d.w, "maptask: %s\n", s)
}

// finish draws the bar one last time, ends its line and writes the summary.
func (d *display) finish() {
	c := d.snap()
	elapsed := d.now().Sub(d.start)
	if d.bar != nil {
		d.bar.draw(c, status(d.title, c, d.base, elapsed))
		fmt.Fprintln(d.w)
	}
	fmt.Fprintln(d.w, summary(d.title, c, elapsed))
}
