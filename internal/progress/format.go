package progress

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// status describes a running map, as in
//
//	square: 1200/10000 done (3 failed, 8 running, 1 cached), 240.0/s, eta 37s
//
// The rate counts the elements finished (succeeded or failed) since base was
// taken, elapsed ago. It is left out during the first second, when it would
// mean little, and so is the ETA, also left out while the total is unknown or
// nothing has finished yet.
func status(title string, c, base Counts, elapsed time.Duration) string {
	done := c.Succeeded + c.Failed
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d/%s done (%d failed, %d running, %d cached)",
		title, done, total(c.Total), c.Failed, c.Running, c.Cached)
	if r, eta := rateETA(c, base, elapsed); r != "" {
		b.WriteString(", " + r)
		if eta != "" {
			b.WriteString(", " + eta)
		}
	}
	return b.String()
}

// rateETA returns the rate ("240.0/s") and the ETA ("eta 37s") of status, each
// "" when it is left out.
func rateETA(c, base Counts, elapsed time.Duration) (rateText, etaText string) {
	if elapsed < minElapsedForRate {
		return "", ""
	}
	done := c.Succeeded + c.Failed
	r := rate(done-(base.Succeeded+base.Failed), elapsed)
	rateText = fmt.Sprintf("%.1f/s", r)
	if left := c.Total - done; c.Total >= 0 && left > 0 && r > 0 {
		eta := time.Duration(math.Ceil(float64(left)/r)) * time.Second // rounded up: never "0s" early
		etaText = "eta " + eta.String()
	}
	return rateText, etaText
}

// minElapsedForRate is how long a map runs before its rate is shown.
const minElapsedForRate = time.Second

// summary is the line written by Stop, as in
//
//	maptask: square: 10000/10000 done, 3 failed, 12 cached in 41.2s
func summary(title string, c Counts, elapsed time.Duration) string {
	earlier := ""
	if c.Earlier > 0 {
		earlier = fmt.Sprintf(", %d done in earlier runs", c.Earlier)
	}
	return fmt.Sprintf("maptask: %s: %d/%s done, %d failed, %d cached%s in %s",
		title, c.Succeeded+c.Failed, total(c.Total), c.Failed, c.Cached, earlier, roundElapsed(elapsed))
}

// total formats Counts.Total: "?" while unknown.
func total(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

// rate is n per second over d; 0 when no time has passed or n is not positive.
func rate(n int, d time.Duration) float64 {
	if d <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// roundElapsed keeps the digits worth reading: 312ms, 41.2s, 3m12s.
func roundElapsed(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Second)
	}
}
