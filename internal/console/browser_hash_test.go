package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A link or typed address whose hash is not valid percent-encoding (a cut
// copy, "#/e/50%") makes route() throw (decodeURIComponent's URIError) after
// it closed the previous page: the page stays on "Loading…" (or on the
// previous page, now dead), with no error shown.
func TestBrowserMalformedHash(t *testing.T) {
	b := setup(t)
	createExec(t, b.st, "hash", 2)
	b.run(chromedp.Navigate(b.base+"/#/e/hash%E0%A4"), chromedp.Sleep(time.Second))
	errText := b.text("#error")
	errShown := eval[bool](b, `!document.querySelector("#error").hidden`)
	main := b.text("#main")
	if !errShown && strings.HasPrefix(main, "Loading") {
		t.Errorf("a malformed address left the page on %q with no error shown (banner %q)", main, errText)
	}
}
