package maptask

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/codec"
)

// MapOption configures one call of Map. Options apply to the map as a whole;
// per-element settings are TaskOptions.
type MapOption func(*mapConfig)

type mapConfig struct {
	concurrency   int
	ratio         float64
	ratioSet      bool
	minSuccesses  int
	minSet        bool
	execution     string
	storeURL      string
	backend       backend.Backend
	progress      io.Writer
	systemRetries int
	systemBackoff time.Duration
	codec         codec.Codec
	logger        *slog.Logger
	batchSize     int
	progressBar   bool
	labels        map[string]string
	progressLabel string
	runAll        bool
	onResult      any // func(int, Result[Out]) for the map's Out
	control       *Control
	discard       bool
	err           error
}

func (c *mapConfig) setErr(err error) {
	if c.err == nil {
		c.err = err
	}
}

// DefaultSystemRetries is how many lost attempts (killed workers, evicted pods,
// preempted nodes) an element survives unless SystemRetries says otherwise.
const DefaultSystemRetries = 3

func newMapConfig(opts []MapOption) *mapConfig {
	c := &mapConfig{systemRetries: DefaultSystemRetries, codec: codec.JSON}
	for _, o := range opts {
		o(c)
	}
	if c.ratioSet && c.minSet {
		c.setErr(fmt.Errorf("maptask: MinSuccessRatio and MinSuccesses both given: use one"))
	}
	return c
}

// Concurrency bounds how many elements run at once, on any backend; 0 (the
// default, as in Flyte) means unbounded.
func Concurrency(n int) MapOption {
	return func(c *mapConfig) {
		if n < 0 {
			c.setErr(fmt.Errorf("maptask: Concurrency %d: must be >= 0 (0 means unbounded)", n))
		}
		c.concurrency = n
	}
}

// MinSuccessRatio makes the map succeed when at least ceil(r × n) of its n
// elements succeed (Flyte's min_success_ratio). r must be in (0, 1]; the default
// is 1: every element must succeed. The moment that many successes become
// impossible the map stops: running elements are cancelled, none is started.
func MinSuccessRatio(r float64) MapOption {
	return func(c *mapConfig) {
		if math.IsNaN(r) || r <= 0 || r > 1 {
			c.setErr(fmt.Errorf("maptask: MinSuccessRatio %v: must be in (0, 1]", r))
		}
		c.ratio, c.ratioSet = r, true
	}
}

// MinSuccesses makes the map succeed when at least n elements succeed; n must be
// in [0, number of elements]. Use it or MinSuccessRatio, not both.
func MinSuccesses(n int) MapOption {
	return func(c *mapConfig) {
		if n < 0 {
			c.setErr(fmt.Errorf("maptask: MinSuccesses %d: must be >= 0", n))
		}
		c.minSuccesses, c.minSet = n, true
	}
}

// Execution makes the map durable under the name id: its inputs, every
// element's outcome and output are kept in the store (see StoreURL). Calling Map
// again with the same id resumes it: succeeded elements are not recomputed,
// failed and unfinished ones run again. A different task, cache version or input
// list under the same id is refused. id is 1-128 letters, digits, '.', '_' or '-'.
func Execution(id string) MapOption { return func(c *mapConfig) { c.execution = id } }

// StoreURL sets where durable executions and the cache live: any gocloud.dev/blob
// URL whose driver the program links ("file:///abs/dir", "mem://", and
// "s3://bucket?region=..." after import _ "github.com/maptask/maptask/store/s3"),
// or a plain directory path. A URL whose driver is not linked is an error naming
// the import. The default is $MAPTASK_STORE, else a "maptask" directory in the
// user's cache directory.
func StoreURL(url string) MapOption { return func(c *mapConfig) { c.storeURL = url } }

// Backend selects where elements run. The default is the in-process backend
// (goroutines of this program).
func Backend(b backend.Backend) MapOption { return func(c *mapConfig) { c.backend = b } }

// Progress reports progress to w: a live bar when w is a terminal, otherwise a
// line every few seconds, and a summary line at the end.
func Progress(w io.Writer) MapOption { return func(c *mapConfig) { c.progress = w } }

// SystemRetries sets how many lost attempts an element survives (default
// DefaultSystemRetries). Lost attempts never spend the task's Retries.
func SystemRetries(n int) MapOption {
	return func(c *mapConfig) {
		if n < 0 {
			c.setErr(fmt.Errorf("maptask: SystemRetries %d: must be >= 0", n))
		}
		c.systemRetries = n
	}
}

// SystemRetryBackoff sets the wait before an element's first system retry
// (default 1s); each further one waits twice as long, up to 32 times, less a
// random part of up to half. A negative value retries at once.
func SystemRetryBackoff(d time.Duration) MapOption {
	return func(c *mapConfig) { c.systemBackoff = d }
}

// WithCodec sets how inputs, outputs and bound values are encoded in the store,
// the cache and for remote workers (default codec.JSON). In-memory maps without
// caching encode nothing.
func WithCodec(cd codec.Codec) MapOption { return func(c *mapConfig) { c.codec = cd } }

// Logger sends structured events (element started, retrying, finished, the
// verdict) to l: starts at Debug level, retries and failures at Warn, the
// verdict at Info.
func Logger(l *slog.Logger) MapOption { return func(c *mapConfig) { c.logger = l } }

// BatchSize sets how many elements one remote worker (a process, a pod, an array
// task) runs one after the other. By default Map chooses from the map's size
// and concurrency (see backend.BatchSizeFor: the backend's own choice, else
// backend.BatchSize). The concurrency bound counts workers, so at most
// Concurrency elements still run at once. The in-process backend ignores it.
func BatchSize(k int) MapOption {
	return func(c *mapConfig) {
		if k < 0 {
			c.setErr(fmt.Errorf("maptask: BatchSize %d: must be >= 0 (0 lets Map choose)", k))
		}
		c.batchSize = k
	}
}

// ProgressBar draws Progress as a live bar even when its writer is not a
// terminal (the default draws one only on a terminal).
func ProgressBar() MapOption { return func(c *mapConfig) { c.progressBar = true } }

// Labels records free-form facts with a new durable execution (the command
// line that started it, who ran it). They are kept in its spec, shown by tools,
// and not compared when the execution is resumed.
func Labels(l map[string]string) MapOption { return func(c *mapConfig) { c.labels = l } }

// ProgressLabel names the map on its progress display (default: the task's
// name); a label too long for the terminal is shortened.
func ProgressLabel(label string) MapOption { return func(c *mapConfig) { c.progressLabel = label } }

// RunAll runs every element even once the map can no longer reach its
// MinSuccessRatio or MinSuccesses: the verdict is the same, but nothing is
// left unrun (GNU parallel's --halt never; `maptask run --keep-going`).
func RunAll() MapOption { return func(c *mapConfig) { c.runAll = true } }

// OnResult calls fn with every element's result as soon as the element is
// final: succeeded, failed for good, or found cached (by a resumed execution
// or the cache). Elements left unrun when the map stops are not reported; the
// Results that Map returns hold every element.
//
// Calls come one at a time, from goroutines of the map, in the order elements
// finish; fn should return promptly, as it holds up the next call. In a
// durable execution an element is reported only once its result is recorded
// in the store, so a result fn has seen is never computed again on resume.
// Out must be the task's output type, or Map refuses to start.
func OnResult[Out any](fn func(index int, r Result[Out])) MapOption {
	return func(c *mapConfig) {
		if fn == nil {
			c.setErr(fmt.Errorf("maptask: OnResult: nil function"))
			return
		}
		c.onResult = fn
	}
}
