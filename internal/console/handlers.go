package console

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/maptask/maptask/internal/logbuf"
	"github.com/maptask/maptask/store"
)

// listPayload is the executions page's data.
type listPayload struct {
	Executions []summary `json:"executions"`
	Bad        []badExec `json:"bad,omitempty"` // executions whose spec cannot be read
	Error      string    `json:"error,omitempty"`
	Time       time.Time `json:"time"`
	Stats      *Stats    `json:"stats,omitempty"`
	hash       uint64
}

type badExec struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

func (s *Server) listPayload() listPayload {
	s.mu.Lock()
	p := listPayload{Error: s.scanErr, Time: time.Now()}
	execs := make([]*execState, 0, len(s.order))
	for _, id := range s.order {
		if e, ok := s.execs[id]; ok {
			execs = append(execs, e)
		}
	}
	for id, err := range s.badExecs {
		p.Bad = append(p.Bad, badExec{id, err})
	}
	s.mu.Unlock()
	slices.SortFunc(p.Bad, func(a, b badExec) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	h := fnv.New64a()
	fmt.Fprint(h, p.Error, len(p.Bad))
	p.Executions = make([]summary, 0, len(execs))
	for _, e := range execs {
		e.mu.Lock()
		sum := e.summaryLocked()
		e.mu.Unlock()
		fmt.Fprint(h, sum.ID, sum.Version, "|")
		p.Executions = append(p.Executions, sum)
	}
	p.hash = h.Sum64()
	return p
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.mu.Lock()
	scan := time.Since(s.lastScan) >= s.opts.ScanInterval
	s.mu.Unlock()
	if scan {
		s.scan(ctx)
	}
	s.mu.Lock()
	var due []*execState
	for _, e := range s.execs {
		due = append(due, e)
	}
	s.mu.Unlock()
	var stale []*execState
	for _, e := range due {
		e.mu.Lock()
		if time.Since(e.last) >= s.opts.Interval {
			stale = append(stale, e)
		}
		e.mu.Unlock()
	}
	s.refreshAll(ctx, stale, func(*execState) bool { return false })
	writeJSON(w, s.listPayload())
}

// eventStream starts a server-sent event stream on w.
func eventStream(w http.ResponseWriter) (send func(event string, v any) error, ok bool) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, false
	}
	return func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		return rc.Flush()
	}, true
}

// nextTick waits for the end of the next refresh round.
func (s *Server) nextTick(ctx context.Context) bool {
	s.mu.Lock()
	tick := s.tick
	s.mu.Unlock()
	select {
	case <-tick:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.mu.Lock()
	s.listWatchers++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.listWatchers--
		s.mu.Unlock()
	}()
	send, ok := eventStream(w)
	if !ok {
		return
	}
	s.poke()
	var last uint64
	first := true
	quiet := time.Now()
	for s.nextTick(ctx) {
		p := s.listPayload()
		if p.hash == last && !first {
			if time.Since(quiet) > 15*time.Second { // keep proxies from closing it
				if send("ping", p.Time) != nil {
					return
				}
				quiet = time.Now()
			}
			continue
		}
		first, last, quiet = false, p.hash, time.Now()
		st := s.Stats()
		p.Stats = &st
		if send("list", p) != nil {
			return
		}
	}
}

// execPayload is the execution page's summary, sent when it changes.
type execPayload struct {
	summary
	Labels    map[string]string `json:"labels,omitempty"`
	Histogram histogram         `json:"histogram"`
	Timeline  timeline          `json:"timeline"`
	Stats     Stats             `json:"stats"`
}

func (s *Server) execPayload(e *execState) execPayload {
	e.mu.Lock()
	defer e.mu.Unlock()
	return execPayload{summary: e.summaryLocked(), Labels: e.spec.Labels, Histogram: e.histogramLocked(40), Timeline: e.timelineLocked(60), Stats: s.Stats()}
}

func (s *Server) handleExecution(w http.ResponseWriter, r *http.Request) {
	e, err := s.current(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, s.execPayload(e))
}

// gridEvent carries the element grid: Full, every element's state byte
// (base64), or Delta, the elements that changed since the last event, as
// 5-byte entries (little-endian uint32 index, state byte), base64.
type gridEvent struct {
	N       int    `json:"n"`
	Version uint64 `json:"v"`
	Full    string `json:"full,omitempty"`
	Delta   string `json:"delta,omitempty"`
}

func (s *Server) handleExecEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	e, err := s.exec(ctx, id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.mu.Lock()
	s.watchers[id]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.watchers[id]--
		if s.watchers[id] == 0 {
			delete(s.watchers, id)
		}
		s.mu.Unlock()
	}()
	send, ok := eventStream(w)
	if !ok {
		return
	}
	s.fresh(ctx, e)
	var sent []byte // the grid as the page has it
	cur := make([]byte, 0, e.spec.N)
	last := ^uint64(0)
	quiet := time.Now()
	for {
		if e.isReplaced() { // deleted and created again: follow the new one
			if ne, err := s.current(ctx, id); err == nil {
				e, last = ne, ^uint64(0)
			}
		}
		e.mu.Lock()
		version := e.version
		changed := version != last
		if changed {
			cur = e.gridLocked(cur)
		}
		e.mu.Unlock()
		if changed {
			if send("summary", s.execPayload(e)) != nil {
				return
			}
			ev := gridEvent{N: len(cur), Version: version}
			if delta := gridDelta(sent, cur); delta != nil {
				ev.Delta = base64.StdEncoding.EncodeToString(delta)
			} else {
				ev.Full = base64.StdEncoding.EncodeToString(cur)
			}
			if send("grid", ev) != nil { // even empty: the page learns the version
				return
			}
			sent = append(sent[:0], cur...)
			last, quiet = version, time.Now()
		} else if time.Since(quiet) > 15*time.Second {
			if send("ping", time.Now()) != nil {
				return
			}
			quiet = time.Now()
		}
		if !s.nextTick(ctx) {
			return
		}
	}
}

// gridDelta encodes what changed from sent to cur, or returns nil when the
// whole grid is cheaper (or sent is not of cur's length).
func gridDelta(sent, cur []byte) []byte {
	if len(sent) != len(cur) {
		return nil
	}
	var out []byte
	for i := range cur {
		if cur[i] != sent[i] {
			if len(out)+5 > len(cur) {
				return nil
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(i))
			out = append(out, cur[i])
		}
	}
	if out == nil {
		return []byte{}
	}
	return out
}

// failedElement is a row of the execution page's table of failures.
type failedElement struct {
	Index      int      `json:"index"`
	Input      string   `json:"input"`
	Attempts   int      `json:"attempts"`
	Exit       *int     `json:"exit,omitempty"`
	DurationMS uint32   `json:"duration_ms"`
	Error      string   `json:"error"`
	Permanent  bool     `json:"permanent,omitempty"`
	Outcome    string   `json:"outcome,omitempty"`
	Tail       []string `json:"tail,omitempty"`
}

func (s *Server) handleFailed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	limit := 50
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
		limit = min(v, 1000)
	}
	e, err := s.current(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	e.mu.Lock()
	if !e.loaded() { // its journal could not be read: "None" would be a lie
		msg := e.err
		e.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("the failed elements of %s cannot be read: %s", e.id, msg))
		return
	}
	idx := e.failedLocked(limit)
	total := len(e.failures)
	rows := make([]failedElement, len(idx))
	for k, i := range idx {
		f := e.failures[i]
		rows[k] = failedElement{Index: i, Attempts: int(e.attempts[i]), Exit: f.exit, DurationMS: e.durMS[i], Error: f.err, Permanent: f.permanent, Outcome: f.outcome}
	}
	spec := e.spec
	e.mu.Unlock()
	for k := range rows {
		f := &rows[k]
		if raw, err := s.st.ReadInput(ctx, spec.ID, f.Index); err == nil {
			f.Input = s.inputOf(spec, raw)
		} else {
			f.Input = "(" + err.Error() + ")"
		}
		if l, err := s.st.ReadAttemptLogTail(ctx, spec.ID, f.Index, max(f.Attempts, 1), failedLogTail); err == nil {
			f.Tail = logbuf.LastLines(l.Stderr, 3)
			if len(f.Tail) == 0 {
				f.Tail = logbuf.LastLines(l.Stdout, 3)
			}
		}
	}
	writeJSON(w, map[string]any{"total": total, "failed": rows})
}

// attemptRecord is one journal record of an element, as the element page
// lists it.
type attemptRecord struct {
	Status     string    `json:"status"`
	Attempt    int       `json:"attempt"`
	Time       time.Time `json:"time,omitzero"`
	DurationMS float64   `json:"duration_ms"`
	Exit       *int      `json:"exit,omitempty"`
	Error      string    `json:"error,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	Cached     bool      `json:"cached,omitempty"`
	Permanent  bool      `json:"permanent,omitempty"`
	OutputLen  int       `json:"output_bytes,omitempty"`
	// RanOn says where the record was written: the driver, or the worker
	// process, pod or array task that ran the attempt.
	RanOn string `json:"ran_on"`
}

// ranOn names the worker that wrote a journal object, from its writer name
// (the object's folder).
func ranOn(key string) string { return store.DescribeWriter(path.Base(path.Dir(key))) }

type logTail struct {
	Attempt    int    `json:"attempt"`
	Stdout     string `json:"stdout"`
	StdoutSize int    `json:"stdout_size"`
	Stderr     string `json:"stderr"`
	StderrSize int    `json:"stderr_size"`
}

// shownLogTail is how much of the end of each log the element page shows;
// failedLogTail, how much of a failure's log is read for its last lines.
const (
	shownLogTail  = 16 << 10
	failedLogTail = 4 << 10
)

func (s *Server) handleElement(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	e, err := s.current(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil || i < 0 || i >= e.spec.N {
		writeError(w, http.StatusBadRequest, fmt.Errorf("element %q: execution %s has elements 0 to %d", r.PathValue("i"), e.id, e.spec.N-1))
		return
	}
	e.mu.Lock()
	if !e.loaded() {
		msg := e.err
		e.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("execution %s: its journal cannot be read: %s", e.id, msg))
		return
	}
	state := e.state[i]
	if e.verdict != nil && (state == stPending || state == stRunning) {
		state = stNotRun // as gridLocked shows it
	}
	out := map[string]any{
		"id": e.id, "index": i, "n": e.spec.N, "command": e.command, "task": e.spec.Task,
		"state": stateNames[state], "attempts": e.attempts[i], "duration_ms": e.durMS[i],
	}
	if f, ok := e.failures[i]; ok {
		out["error"], out["exit"], out["permanent"], out["outcome"] = f.err, f.exit, f.permanent, f.outcome
	}
	spec := e.spec
	refs := e.refsLocked(i)
	e.mu.Unlock()
	if raw, err := s.st.ReadInput(ctx, spec.ID, i); err == nil {
		out["input"] = s.inputOf(spec, raw)
	} else {
		out["input_error"] = err.Error()
	}
	recs, err := s.elementRecords(ctx, spec, i, refs)
	if err != nil {
		out["records_error"] = err.Error()
	}
	slices.SortStableFunc(recs, func(a, b attemptRecord) int { return a.Time.Compare(b.Time) })
	if recs == nil {
		recs = []attemptRecord{}
	}
	out["records"] = recs
	logs, err := s.st.ReadLogTails(ctx, spec.ID, i, shownLogTail)
	tails := []logTail{}
	for _, l := range logs {
		tails = append(tails, logTail{Attempt: l.Attempt, Stdout: tailOf(l.Stdout, l.StdoutSize), StdoutSize: int(l.StdoutSize),
			Stderr: tailOf(l.Stderr, l.StderrSize), StderrSize: int(l.StderrSize)})
	}
	slices.SortFunc(tails, func(a, b logTail) int { return b.Attempt - a.Attempt }) // the last attempt first
	out["logs"] = tails
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		out["logs_error"] = err.Error()
	}
	writeJSON(w, out)
}

// elementRecords returns the journal records of element i: read back from
// their places (refs) when it can, else found by one pass over the journal.
func (s *Server) elementRecords(ctx context.Context, spec *store.Spec, i int, refs []store.RecordRef) ([]attemptRecord, error) {
	var recs []attemptRecord
	add := func(r *store.Record, key string) {
		a := attemptRecord{Status: string(r.Status), Attempt: r.Attempts, DurationMS: float64(r.DurationNS) / 1e6, Exit: r.ExitCode,
			Error: r.Err, Outcome: string(r.Outcome), Cached: r.Cached, Permanent: r.Permanent, OutputLen: len(r.Output), RanOn: ranOn(key)}
		if r.Time != 0 {
			a.Time = time.Unix(0, r.Time)
		}
		recs = append(recs, a)
	}
	placed := true
	for _, ref := range refs {
		r, err := s.st.ReadRecordAt(ctx, spec.ID, ref)
		if err != nil || r.Index != i { // moved (quarantined) or rewritten: look for them
			placed = false
			break
		}
		s.stats.elementBytes.Add(int64(ref.Length))
		add(r, ref.Key)
	}
	if placed {
		return recs, nil
	}
	recs = recs[:0]
	t, err := s.st.TailJournal(ctx, spec.ID)
	if err != nil {
		return nil, err
	}
	_, err = t.ReadRefs(ctx, func(r *store.Record, ref store.RecordRef) {
		if r.Index == i {
			add(r, ref.Key)
		}
	})
	s.stats.elementBytes.Add(t.BytesRead())
	return recs, err
}

// tailOf returns b, the end of a log of size bytes, from a line start when
// it is not the whole log.
func tailOf(b []byte, size int64) string {
	if int64(len(b)) >= size {
		return string(b)
	}
	for k, c := range b {
		if c == '\n' && k < 1024 {
			return string(b[k+1:])
		}
	}
	return string(b)
}

func (s *Server) handleLog(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := store.ValidateID(id); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	i, err1 := strconv.Atoi(r.PathValue("i"))
	a, err2 := strconv.Atoi(r.PathValue("attempt"))
	stream := r.PathValue("stream")
	if err1 != nil || err2 != nil || (stream != "stdout" && stream != "stderr") {
		writeError(w, http.StatusBadRequest, errors.New("want /api/executions/ID/elements/INDEX/logs/ATTEMPT/stdout or stderr"))
		return
	}
	e, err := s.exec(ctx, id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if i < 0 || i >= e.spec.N || a < 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("log of element %d, attempt %d: execution %s has elements 0 to %d, attempts from 1", i, a, id, e.spec.N-1))
		return
	}
	l, err := s.st.ReadAttemptLog(ctx, id, i, a)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	data := l.Data
	if stream == "stderr" {
		data = l.Stderr
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
}

// actionHeader must be on a cancel or update request ("cancel", "update"): a
// header a cross-site form cannot
// send, and a cross-site script cannot without a CORS preflight this server
// never answers.
const actionHeader = "X-Maptask-Console"

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Header.Get(actionHeader) != "cancel" {
		writeError(w, http.StatusForbidden, fmt.Errorf("a cancel request needs the header %s: cancel", actionHeader))
		return
	}
	e, err := s.exec(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	e.refresh(ctx, s.st, &s.stats, true)
	e.mu.Lock()
	ended := e.verdict != nil
	e.mu.Unlock()
	if ended {
		writeError(w, http.StatusConflict, fmt.Errorf("execution %s is not running: its run has ended", e.id))
		return
	}
	if err := s.st.SetCancel(ctx, e.id); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.opts.Logger.Info("console: cancel requested", "execution", e.id, "remote", r.RemoteAddr)
	e.refresh(ctx, s.st, &s.stats, true)
	s.poke()
	writeJSON(w, map[string]any{"cancelled": true, "id": e.id})
}

// changeRequest is the body of an update: the fields to change.
type changeRequest struct {
	Concurrency     *int     `json:"concurrency"`
	MinSuccesses    *int     `json:"min_successes"`
	MinSuccessRatio *float64 `json:"min_success_ratio"`
}

// handleUpdate records a change to a running execution (as maptask update
// does) and waits a few seconds for its driver's answer.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Header.Get(actionHeader) != "update" {
		writeError(w, http.StatusForbidden, fmt.Errorf("an update request needs the header %s: update", actionHeader))
		return
	}
	var req changeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("reading the change: %w", err))
		return
	}
	e, err := s.exec(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	ch := store.Change{Concurrency: req.Concurrency, MinSuccesses: req.MinSuccesses, MinSuccessRatio: req.MinSuccessRatio, By: "maptask ui"}
	if err := ch.Check(e.spec.N); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if _, running, err := s.st.Driver(ctx, e.id); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	} else if !running {
		writeError(w, http.StatusConflict, fmt.Errorf("execution %s is not running: no maptask runs it now ('maptask update' records a change for its next resume)", e.id))
		return
	}
	ch, err = s.st.RequestChange(ctx, e.id, ch)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.opts.Logger.Info("console: change requested", "execution", e.id, "change", ch.String(), "remote", r.RemoteAddr)
	res, err := s.st.AwaitChangeResult(ctx, e.id, ch.Seq, 5*time.Second, 100*time.Millisecond)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	case res == nil:
		writeError(w, http.StatusGatewayTimeout, fmt.Errorf("change %d (%s) is recorded, but the maptask running %s has not applied it yet", ch.Seq, ch.String(), e.id))
		return
	}
	e.refresh(ctx, s.st, &s.stats, true)
	s.poke()
	if !res.Applied {
		writeError(w, http.StatusConflict, fmt.Errorf("change refused: %s", res.Error))
		return
	}
	writeJSON(w, store.ChangeEntry{Change: ch, Result: res})
}
