package maptask

import (
	"context"
	"log/slog"

	"github.com/maptask/maptask/internal/engine"
)

// observe sets the engine's event callbacks: structured logs, the durable
// journal, OnResult, and dropping what finished elements no longer need. It
// sets none when nobody listens, so an in-memory Map without a logger pays
// nothing per element; and it asks for no Started events when nobody reads
// them. A batch of in-process attempts comes as one call, so that OnResult's
// feed is locked once per batch, not once per element.
func (r *mapRun[In, Out]) observe(ecfg *engine.Config) {
	log := r.cfg.logger
	durableOrCache := r.cfg.execution != "" || r.task.meta.cacheVersion != ""
	// MapSeq holds an input until its element is final; a store may still
	// need it after that (a cache entry's key).
	dropInputs := r.streaming && !durableOrCache
	// With OnResult, the feed drops a value once it has delivered it.
	dropValues := r.cfg.discard && r.cfg.onResult == nil
	if log == nil && !durableOrCache && r.cfg.onResult == nil && !dropInputs && !dropValues {
		return
	}
	name := r.task.name
	// each does what every event needs but the feed.
	each := func(ev engine.Event) {
		if r.dur != nil {
			switch ev.Kind {
			case engine.EventFinished:
				r.dur.RecordFinished(ev) // before the feed: it journals the element
			case engine.EventStarted:
				r.dur.RecordStarted(ev)
			}
		}
		if ev.Kind == engine.EventFinished {
			if dropInputs {
				r.inputs.done(ev.Attempt.Index)
			}
			if dropValues {
				r.values.done(ev.Attempt.Index)
			}
		}
		if log != nil {
			logEvent(log, name, ev)
		}
	}
	ecfg.NoStarted = log == nil && !durableOrCache
	ecfg.Observe = func(ev engine.Event) {
		each(ev)
		if ev.Kind == engine.EventFinished && r.feed != nil {
			r.feed.finished(ev.Attempt.Index, ev.Element)
		}
	}
	ecfg.ObserveBatch = func(evs []engine.Event) {
		for _, ev := range evs {
			each(ev)
		}
		if r.feed != nil {
			r.feed.finishedEvents(evs)
		}
	}
}

func logEvent(log *slog.Logger, task string, ev engine.Event) {
	ctx := context.Background()
	switch ev.Kind {
	case engine.EventStarted:
		log.LogAttrs(ctx, slog.LevelDebug, "element started", slog.String("task", task),
			slog.Int("index", ev.Attempt.Index), slog.Int("attempt", ev.Attempt.Number))
	case engine.EventRetrying:
		log.LogAttrs(ctx, slog.LevelWarn, "element retrying", slog.String("task", task),
			slog.Int("index", ev.Attempt.Index), slog.Int("attempt", ev.Attempt.Number),
			slog.String("status", ev.Outcome.Status.String()), slog.Any("error", ev.Outcome.Err))
	case engine.EventFinished:
		if ev.Element.State == engine.Succeeded {
			log.LogAttrs(ctx, slog.LevelDebug, "element succeeded", slog.String("task", task),
				slog.Int("index", ev.Attempt.Index), slog.Int("attempts", ev.Element.Attempts),
				slog.Duration("duration", ev.Element.Duration))
			return
		}
		status := ev.Outcome.Status
		log.LogAttrs(ctx, slog.LevelWarn, "element failed", slog.String("task", task),
			slog.Int("index", ev.Attempt.Index), slog.Int("attempts", ev.Element.Attempts),
			slog.String("status", status.String()), slog.Any("error", ev.Element.Err))
	case engine.EventVerdict:
		s := ev.Summary
		attrs := []slog.Attr{slog.String("task", task), slog.Bool("success", s.Success),
			slog.Int("n", s.N), slog.Int("required", s.Required), slog.Int("succeeded", s.Succeeded),
			slog.Int("cached", s.Cached), slog.Int("failed", s.Failed), slog.Int("not_run", s.NotRun),
			slog.Duration("elapsed", s.Elapsed)}
		if s.Cause != nil {
			attrs = append(attrs, slog.Any("cause", s.Cause))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "map verdict", attrs...)
	}
}
