package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/maptask/maptask/backend"
	"github.com/maptask/maptask/backend/inprocess"
	"github.com/maptask/maptask/internal/engine"
)

// A stream sealed with fewer elements than the successes required halts the
// run with that error as its cause: no early stop "for failures" is decided
// against a required count the run can never reach.
func TestSealWithImpossibleRequired(t *testing.T) {
	e, err := engine.New(engine.Config{Streaming: true, Concurrency: 1, Required: func(int) int { return 5 }})
	if err != nil {
		t.Fatal(err)
	}
	s := &script{plan: make([]string, 3)}
	sealed := make(chan error, 1)
	go func() {
		for range 3 {
			e.Add(false)
		}
		sealed <- e.Seal()
	}()
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: 1, Invoker: s})
	sealErr := <-sealed
	if sealErr == nil || !strings.Contains(sealErr.Error(), "5 successes required of 3 elements") {
		t.Fatalf("Seal: %v", sealErr)
	}
	if sum.Success || sum.Cause != sealErr || errors.Is(sum.Cause, engine.ErrStopped) {
		t.Fatalf("summary %+v, want the seal error as its cause", sum)
	}
	if sum.N != 3 || sum.Required != 5 || sum.Failed != 0 || sum.Succeeded+sum.NotRun != 3 {
		t.Fatalf("summary %+v", sum)
	}
}

// The float product's rounding error is not rounded up: 0.07*100 is
// 7.000000000000001 in float64 and needs 7 successes, not 8.
func TestRatioRequiredFloatNoise(t *testing.T) {
	ratio, n := 0.07, 100
	if x := ratio * float64(n); x == 7 {
		t.Fatalf("0.07*100 = %v: no float noise to test", x)
	}
	if got := engine.RatioRequired(ratio, n); got != 7 {
		t.Errorf("RatioRequired(0.07, 100) = %d, want 7", got)
	}
}
