// Package progress shows how a running map is doing: a live bar on a terminal,
// redrawn in place and never wider than the terminal, a line every few seconds
// elsewhere (logs, CI), and a summary line at the end. Output printed while the
// bar is live goes through Reporter.Above, which keeps it off the bar's row.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rivo/uniseg"
	"golang.org/x/term"
)

// Counts is a snapshot of a running map.
type Counts struct {
	Total     int // elements in the map; -1 while unknown (streaming input)
	Succeeded int // includes Cached and Earlier
	Cached    int // succeeded from the cache, without running
	Earlier   int // succeeded in an earlier run of a resumed execution
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
	width    int
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

// Width fixes the width of the terminal the bar is drawn on, in columns
// (tests use it); n <= 0 keeps the default, which is the width of the writer's
// terminal, asked again at every redraw, or 80 when the writer is not one.
func Width(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.width = n
		}
	}
}

// Reporter shows the progress of one map from Start until Stop.
//
// A Reporter owns one goroutine, started by Start and ended (and waited for) by
// Stop.
type Reporter struct {
	once sync.Once
	stop chan struct{} // closed by Stop
	done chan struct{} // closed by the goroutine as it returns
	d    *display      // shared by the goroutine, Above and Stop under d.mu; nil when inactive
	// mu makes the calls of Above run one at a time when d is nil.
	mu sync.Mutex
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
	base := snap()
	d := &display{w: w, title: printable(title), snap: snap, now: o.now, start: o.now(), base: base, last: base}
	tick := o.interval
	if mode == Always || (mode == Auto && isTerminal(w)) {
		d.bar = &bar{w: w, width: o.width, label: newLabel(d.title)}
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

// Above calls write, which prints something (commands' output, a message) to
// the terminal the bar is drawn on, or to another writer sharing its screen,
// such as stdout beside a bar on stderr. The bar, if one is shown, is erased
// first and drawn again below what write printed (at once, or, in a burst of
// calls, at the next refresh a tenth of a second later), and no redraw happens
// while write runs, so no line of output shares a row with the bar. write must
// end what it prints with a newline (or print nothing).
//
// Above is safe to call from many goroutines; their calls of write run one at a
// time (except on a nil Reporter, which just calls write), and in the log-lines
// mode they do not interleave with the log lines. Without a bar (log lines, a
// Reporter that shows nothing, or after Stop) Above only takes a lock and calls
// write.
func (r *Reporter) Above(write func()) {
	if r == nil {
		write()
		return
	}
	if r.d == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		write()
		return
	}
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar == nil || d.finished {
		write()
		return
	}
	d.bar.clear()
	write()
	// In a burst of output the bar is drawn again only every aboveRedraw (and
	// by the goroutine's refresh): a redraw after each line would send the
	// terminal a bar's worth of bytes per line of output.
	if now := time.Now(); now.Sub(d.aboveDrawn) >= aboveRedraw {
		d.draw(d.last)
		d.aboveDrawn = now
	}
}

// aboveRedraw is the shortest time between two redraws by Above.
const aboveRedraw = 20 * time.Millisecond

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

// display is what is drawn. The fields above mu are set by Start; those below
// it belong to whoever holds mu: the Reporter's goroutine, Above and Stop.
type display struct {
	w     io.Writer
	title string // with no control characters
	snap  func() Counts
	now   func() time.Time
	start time.Time // when Start was called
	base  Counts    // snapshot at Start: rate counts only what finished since

	mu       sync.Mutex
	bar      *bar   // nil for log lines; set by Start
	last     Counts // the latest snapshot, redrawn by Above
	finished bool   // finish has run: the bar is drawn for good
	// aboveDrawn is when Above last redrew the bar (by the real clock).
	aboveDrawn time.Time
}

// update shows the current state: a redrawn bar or one more log line.
func (d *display) update() {
	c := d.snap() // outside the lock: snap may take a while
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished {
		return
	}
	d.last = c
	if d.bar != nil {
		d.draw(c)
		return
	}
	fmt.Fprintf(d.w, "maptask: %s\n", status(d.title, c, d.base, d.now().Sub(d.start)))
}

// draw redraws the bar for c; d.mu is held.
func (d *display) draw(c Counts) {
	rate, eta := rateETA(c, d.base, d.now().Sub(d.start))
	d.bar.draw(c, rate, eta)
}

// finish draws the bar one last time, ends its line and writes the summary.
func (d *display) finish() {
	c := d.snap()
	d.mu.Lock()
	defer d.mu.Unlock()
	elapsed := d.now().Sub(d.start)
	title := d.title
	if d.bar != nil {
		d.draw(c)
		if d.bar.line != "" {
			fmt.Fprintln(d.w)
		}
		// On a terminal, the title is cut so that the summary fits on a row
		// too (when a title of minLabel columns lets it).
		rest := uniseg.StringWidth(summary("", c, elapsed))
		title = cut(title, max(d.bar.columns()-1-rest, minLabel))
	}
	d.last, d.finished = c, true
	fmt.Fprintln(d.w, summary(title, c, elapsed))
}
