package progress

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// bar draws a live progress bar with github.com/schollz/progressbar: a filling
// bar while the total is known, a spinner while it is not, followed by the
// status line. It computes nothing itself: the rate and ETA are ours (from the
// injectable clock), so the library's own are turned off.
//
// The library is given no goroutine of its own (spinner interval 0): every
// drawing happens in draw, called by the Reporter's goroutine and then by Stop.
type bar struct {
	w     io.Writer
	pb    *progressbar.ProgressBar
	total int // the Counts.Total pb was built for
}

// draw shows c, followed by the text s.
func (b *bar) draw(c Counts, s string) {
	if b.pb == nil || c.Total != b.total {
		// A total that becomes known (or changes) gets a fresh bar on the same
		// line: the library's position is wrong after a spinner.
		if b.pb != nil {
			_ = b.pb.Clear()
		}
		b.pb = newBar(b.w, c.Total, s)
		b.total = c.Total
	}
	if c.Total >= 0 {
		// Set draws only when the percentage changes; a spinner has no
		// position to set.
		n := c.Succeeded + c.Failed
		if c.Total == 0 {
			n = 1 // an empty map is complete; newBar made it 1 of 1
		}
		_ = b.pb.Set(min(n, max(c.Total, 1))) // errors only beyond the maximum, ruled out here
	}
	b.pb.Describe(s) // draws
}

// newBar returns a bar of total elements (-1: unknown, drawn as a spinner)
// described by s.
func newBar(w io.Writer, total int, s string) *progressbar.ProgressBar {
	if total == 0 {
		total = 1 // the library refuses a maximum of 0
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(s),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionSetSpinnerChangeInterval(0), // the spinner turns on each draw
	)
}
