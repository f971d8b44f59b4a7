package progress

import (
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/rivo/uniseg"
	"golang.org/x/term"
)

// The bar is drawn here rather than with github.com/schollz/progressbar, which
// the package used before: that library shrinks its bar to the terminal but
// never its description, so a long label (a command line) still made the line
// wrap, after which "\r" returns to the start of the last row only and every
// redraw leaves a broken bar behind. It also cannot drop the least useful parts
// of a line when the terminal is narrow, and its clearing and drawing take a
// lock of its own, where Above needs clear, write and redraw under one lock.
// The line is a few dozen lines of code; drawing it here makes its width exact.

// bar draws the live line
//
//	echo hello {}  [=========>          ]  45%  18/40  16 succeeded, 2 failed, 4 running, 0 cached  3.6/s  eta 7s
//
// on one row of a terminal, redrawn in place ("\r", the line, then erase to the
// end of the row). The line never takes more than the terminal's width minus
// one column, so it never wraps: parts are dropped, least useful first, and the
// label is cut, when the terminal is narrow.
//
// A bar is used by one goroutine at a time (the display's lock).
type bar struct {
	w     io.Writer
	label *label
	width int    // fixed width in columns; 0: the terminal's, queried on each draw
	frame int    // turns the marker of a bar whose total is unknown
	line  string // the line on screen; "" when none is
}

// draw shows the line for c (the text of rate and eta as given) unless that
// very line is already on screen.
func (b *bar) draw(c Counts, rate, eta string) {
	b.frame++
	line := layout(b.label, c, rate, eta, b.frame, b.columns()-1)
	if line == b.line && line != "" {
		return
	}
	io.WriteString(b.w, "\r"+line+eraseLine)
	b.line = line
}

// clear erases the line, leaving the cursor at the start of its row.
func (b *bar) clear() {
	if b.line != "" {
		io.WriteString(b.w, "\r"+eraseLine)
		b.line = ""
	}
}

// eraseLine erases from the cursor to the end of the row (ANSI EL).
const eraseLine = "\x1b[K"

// defaultColumns is the width assumed when the writer is not a terminal.
const defaultColumns = 80

// columns is the width of the terminal, asked again at each draw so that a
// resized terminal gets a line of its new width.
func (b *bar) columns() int {
	if b.width > 0 {
		return b.width
	}
	// An *os.File, or a writer in front of one that tells its descriptor.
	if f, ok := b.w.(interface{ Fd() uintptr }); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return defaultColumns
}

const (
	minBar   = 10 // the narrowest bar drawn, inside its brackets
	wantBar  = 30 // the bar's width before a long label gets more than firstLabel
	minLabel = 10 // the narrowest label drawn (a shorter label is drawn whole)
	// firstLabel is how much of a long label is shown before the bar grows
	// beyond minBar.
	firstLabel = 24
	sep        = "  " // between the parts of the line
)

// layout returns the bar line for c, at most avail display columns wide.
//
// It takes the first of these arrangements that fits, from the fullest to the
// barest: the percentage goes first, then the rate, then the long names of
// the counts, then the ETA, then the label, then the bar; done/total stays to
// the last. The space left over goes to the label (up to firstLabel), to the
// bar (up to wantBar), to the rest of the label and then to the bar again, so
// that the line fills the row.
func layout(label *label, c Counts, rate, eta string, frame, avail int) string {
	if avail <= 0 {
		return ""
	}
	done := c.Succeeded + c.Failed
	doneText := fmt.Sprintf("%d/%s", done, total(c.Total))
	long := fmt.Sprintf("%d succeeded, %d failed, %d running, %d cached", c.Succeeded, c.Failed, c.Running, c.Cached)
	short := fmt.Sprintf("%d ok, %d failed, %d run, %d cached", c.Succeeded, c.Failed, c.Running, c.Cached)
	pct := ""
	if c.Total >= 0 {
		pct = fmt.Sprintf("%3d%%", percent(done, c.Total))
	}
	labelWidth := label.width
	for _, a := range []struct {
		label, bar bool
		tail       []string
	}{
		{true, true, []string{pct, doneText, long, rate, eta}},
		{true, true, []string{doneText, long, rate, eta}},
		{true, true, []string{doneText, long, eta}},
		{true, true, []string{doneText, short, eta}},
		{false, true, []string{doneText, short, eta}},
		{false, true, []string{doneText, short}},
		{false, false, []string{doneText, short}},
		{false, false, []string{doneText}},
	} {
		tail := join(a.tail)
		need := width(tail)
		lw, bw := 0, 0
		if a.label && labelWidth > 0 {
			lw = min(labelWidth, minLabel)
			need += lw + len(sep)
		}
		if a.bar {
			bw = minBar
			need += len("[]") + bw + len(sep)
		}
		if need > avail {
			continue
		}
		extra := avail - need
		grow := func(w *int, upTo int) {
			if n := min(extra, max(upTo-*w, 0)); n > 0 {
				*w += n
				extra -= n
			}
		}
		if lw > 0 {
			grow(&lw, min(labelWidth, firstLabel))
		}
		if a.bar {
			grow(&bw, wantBar)
		}
		if lw > 0 {
			grow(&lw, labelWidth)
		}
		if a.bar {
			grow(&bw, bw+extra)
		}
		var parts []string
		if lw > 0 {
			parts = append(parts, label.cut(lw))
		}
		if a.bar {
			parts = append(parts, "["+drawBar(done, c.Total, bw, frame)+"]")
		}
		return join(append(parts, tail))
	}
	return cut(doneText, avail)
}

// join joins the non-empty parts with sep.
func join(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}

// percent is done of total, in whole percents rounded down (100 only when all
// are done); an empty map is complete.
func percent(done, total int) int {
	if total <= 0 {
		return 100
	}
	return min(done, total) * 100 / total
}

// drawBar fills a bar of width cells, "=====>    ", with done of total; of an
// unknown total (-1) it draws a marker "<=>" that goes to and fro, one cell a
// frame.
func drawBar(done, total, width, frame int) string {
	if total < 0 {
		const marker = "<=>"
		if width < len(marker) {
			return strings.Repeat(" ", width)
		}
		span := width - len(marker) // positions 0..span
		pos := 0
		if span > 0 {
			pos = frame % (2 * span)
			if pos > span {
				pos = 2*span - pos
			}
		}
		return strings.Repeat(" ", pos) + marker + strings.Repeat(" ", span-pos)
	}
	filled := width
	if total > 0 {
		filled = min(done, total) * width / total
	}
	if filled >= width {
		return strings.Repeat("=", width)
	}
	if filled == 0 {
		return strings.Repeat(" ", width)
	}
	return strings.Repeat("=", filled-1) + ">" + strings.Repeat(" ", width-filled)
}

// label is the label of a bar, which keeps its width and its latest cut: a
// long label costs its measure once, not at every redraw.
type label struct {
	s     string
	width int
	cutAt int    // the width of cutS; -1 before the first cut
	cutS  string // s cut to cutAt columns
}

func newLabel(s string) *label { return &label{s: s, width: width(s), cutAt: -1} }

// cut is cut(l.s, w).
func (l *label) cut(w int) string {
	if w != l.cutAt {
		l.cutS, l.cutAt = cut(l.s, w), w
	}
	return l.cutS
}

// width is the number of columns s takes on a terminal.
func width(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return uniseg.StringWidth(s)
		}
	}
	return len(s) // printable ASCII: a column a byte
}

// ellipsis marks a cut label.
const ellipsis = "…"

// cut returns s if it takes at most width display columns, otherwise as many
// of its first grapheme clusters as fit in width-1 columns followed by an
// ellipsis. A wide character that would straddle the limit is left out.
func cut(s string, width int) string {
	if uniseg.StringWidth(s) <= width {
		return s
	}
	if width <= 0 {
		return ""
	}
	var b strings.Builder
	used, state := 0, -1
	for rest := s; rest != ""; {
		var cluster string
		var w int
		cluster, rest, w, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if used+w > width-1 {
			break
		}
		b.WriteString(cluster)
		used += w
	}
	return b.String() + ellipsis
}

// printable replaces the control characters of s (a newline or a tab in a
// command line, an escape sequence's ESC) by spaces, so that a label is drawn
// on one row and its width is what uniseg measures.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
