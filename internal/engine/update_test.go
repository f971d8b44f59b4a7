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

func TestUpdateRefusesWhatTheMapCannotTake(t *testing.T) {
	e, err := engine.New(engine.Config{N: 10, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	neg := -1
	for _, c := range []struct {
		change engine.Change
		want   string
	}{
		{engine.Change{Concurrency: &neg}, "concurrency -1: must be >= 0"},
		{engine.Change{Required: func(int) int { return 11 }}, "11 successes required of 10 elements"},
	} {
		err := e.Update(c.change)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("Update: %v, want an error containing %q", err, c.want)
		}
	}
	// Nothing changed.
	if l, _ := e.Limits(); l.Concurrency != 2 || l.MaxFailures != 0 || e.Required() != 10 {
		t.Fatalf("after refused changes: %+v, required %d", l, e.Required())
	}
}

// A bar raised while a map runs decides the early stop again; one out of
// reach given the failures so far is refused.
func TestUpdateRequiredWhileRunning(t *testing.T) {
	plan := make([]string, 20)
	for i := range plan {
		plan[i] = "w"
	}
	plan[0], plan[1] = "p", "p" // two permanent failures first (concurrency 1)
	s := &script{plan: plan}
	var e *engine.Engine
	var refused, applied error
	observe := func(ev engine.Event) {
		if ev.Kind == engine.EventFinished && ev.Attempt.Index == 1 {
			// 2 of 20 failed: 19 is out of reach, 18 is the most.
			refused = e.Update(engine.Change{Required: func(int) int { return 19 }})
			applied = e.Update(engine.Change{Required: func(int) int { return 18 }})
		}
		if ev.Kind == engine.EventFinished && ev.Attempt.Index == 5 {
			plan[9] = "p" // a third failure: 18 is now out of reach
		}
	}
	var err error
	e, err = engine.New(engine.Config{N: len(plan), Concurrency: 1, Required: func(int) int { return 10 }, Observe: observe})
	if err != nil {
		t.Fatal(err)
	}
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: 1, Invoker: s})
	if refused == nil || !strings.Contains(refused.Error(), "out of reach") || applied != nil {
		t.Fatalf("updates: %v / %v", refused, applied)
	}
	if !errors.Is(sum.Cause, engine.ErrStopped) || sum.Required != 18 || sum.Failed != 3 || sum.NotRun == 0 {
		t.Fatalf("summary %+v: want an early stop at the third failure against the new bar", sum)
	}
}

// Lowering the bar lets a map that would have stopped succeed.
func TestUpdateLowerBar(t *testing.T) {
	plan := []string{"w", "p", "w", "w"}
	s := &script{plan: plan}
	e, err := engine.New(engine.Config{N: 4, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Update(engine.Change{Required: func(n int) int { return engine.RatioRequired(0.75, n) }}); err != nil {
		t.Fatal(err)
	}
	sum := e.Run(context.Background(), inprocess.New(), &backend.Job{Concurrency: 1, Invoker: s})
	if !sum.Success || sum.Required != 3 || sum.Failed != 1 {
		t.Fatalf("summary %+v", sum)
	}
}
