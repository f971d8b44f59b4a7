package progress_test

import (
	"os"
	"sync/atomic"
	"time"

	"github.com/maptask/maptask/internal/progress"
)

func ExampleStart() {
	// The map's own bookkeeping; snap reads it while the map updates it.
	var succeeded, failed atomic.Int64
	snap := func() progress.Counts {
		return progress.Counts{Total: 3, Succeeded: int(succeeded.Load()), Failed: int(failed.Load())}
	}

	// A fake clock keeps the output stable; a real run leaves it out.
	var elapsed atomic.Int64
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }

	// os.Stdout is not a terminal here, so Auto writes log lines (none within this
	// short map) and a summary.
	r := progress.Start(os.Stdout, progress.Auto, "square", snap, progress.Clock(clock))
	succeeded.Add(2)
	failed.Add(1)
	elapsed.Store(int64(2500 * time.Millisecond))
	r.Stop()
	// Output:
	// maptask: square: 3/3 done, 1 failed, 0 cached in 2.5s
}
