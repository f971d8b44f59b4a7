package backendtest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/maptask/maptask"
)

// Slow is a task for a backend's own fault tests: it records each run in a
// file under Dir, then sleeps (stopping when its context ends), so a test can
// interfere while an element runs (delete its pod, cancel its array task,
// kill the driver) and count afterwards how often it ran.
var Slow = maptask.NewTask("maptask.backendtest.slow", func(ctx context.Context, in SlowInput) (int, error) {
	f, err := os.OpenFile(filepath.Join(in.Dir, strconv.Itoa(in.N)), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o666)
	if err == nil {
		f.WriteString("run\n")
		f.Close()
	}
	select {
	case <-time.After(in.Sleep):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return in.N, nil
})

// SlowInput is one element of Slow: it returns N after sleeping Sleep.
type SlowInput struct {
	N     int
	Dir   string
	Sleep time.Duration
}

// SlowInputs returns n elements 0..n-1 recording in dir.
func SlowInputs(dir string, n int, sleep time.Duration) []SlowInput {
	in := make([]SlowInput, n)
	for i := range in {
		in[i] = SlowInput{N: i, Dir: dir, Sleep: sleep}
	}
	return in
}

// Runs is how many times Slow started element n recording in dir.
func Runs(dir string, n int) int {
	data, _ := os.ReadFile(filepath.Join(dir, strconv.Itoa(n)))
	return strings.Count(string(data), "run\n")
}
