// Package console is the web console `maptask ui` serves: pages over a store's
// executions (a list, one execution with its element grid, one element with
// its attempts and logs) kept live with server-sent events, and a cancel
// action. The pages are plain HTML, JavaScript and CSS embedded in the binary.
//
// The server keeps what it knows of each execution in memory and follows its
// journal incrementally (store.JournalTail): a tick costs one listing of the
// journal, a ranged read of the segments that grew, a read of the verdict and
// an existence check of the cancel request, for each execution a page
// watches; nothing is read while no page is open. It never writes to the
// store but for a cancel request a person confirmed on a page.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/maptask/maptask/store"
)

//go:embed assets
var assets embed.FS

// Options tune a Server. The zero value works.
type Options struct {
	// Command describes what an execution runs (its command line, or its
	// task's name); nil shows the task's name.
	Command func(ctx context.Context, spec *store.Spec) string
	// Input shows an element's stored input; nil shows it as text.
	Input func(spec *store.Spec, raw []byte) string
	// Interval is how often watched executions are refreshed (default 1s).
	Interval time.Duration
	// ScanInterval is how often the list of executions is read again while
	// the list page is open (default 5s).
	ScanInterval time.Duration
	// Hosts are the names (or addresses) the console answers to in a
	// request's Host header besides loopback ones (localhost, 127.0.0.1,
	// [::1]): any other Host is refused, so that a web page elsewhere cannot
	// reach the console through DNS rebinding. Empty: loopback only.
	Hosts []string
	// Logger gets the server's errors (default: discarded).
	Logger *slog.Logger
}

// Server serves the console over one store. Create it with New, serve its
// Handler, and Close it. It is safe for concurrent use.
type Server struct {
	st    *store.Store
	opts  Options
	mux   *http.ServeMux
	stats stats

	mu           sync.Mutex
	execs        map[string]*execState
	order        []string // ids, oldest first
	scanErr      string
	badExecs     map[string]string // executions whose spec cannot be read, and why
	lastScan     time.Time
	listWatchers int
	watchers     map[string]int
	tick         chan struct{} // closed and replaced after every refresh round
	wake         chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// stats counts what the server read from the store.
type stats struct {
	journalBytes atomic.Int64 // journal bytes read by live updates
	listings     atomic.Int64 // journal listings
	listed       atomic.Int64 // journal objects those listings returned
	smallReads   atomic.Int64 // verdict reads and cancel checks
	scans        atomic.Int64 // readings of the list of executions
	elementBytes atomic.Int64 // journal bytes read for element pages
}

// Stats is what a Server has read from its store so far.
type Stats struct {
	JournalBytes int64 // journal bytes read by live updates (incremental)
	Listings     int64 // journal listings made by live updates
	Listed       int64 // journal objects those listings returned
	SmallReads   int64 // verdict reads and cancel checks
	Scans        int64 // listings of the executions (each reads their specs)
	ElementBytes int64 // journal bytes read to show element pages
}

// Stats returns what the server has read from the store so far.
func (s *Server) Stats() Stats {
	return Stats{JournalBytes: s.stats.journalBytes.Load(), Listings: s.stats.listings.Load(), Listed: s.stats.listed.Load(),
		SmallReads: s.stats.smallReads.Load(), Scans: s.stats.scans.Load(), ElementBytes: s.stats.elementBytes.Load()}
}

// New returns a console over st, and starts its refresh loop (which reads
// nothing while no page is open). The caller keeps st open until Close.
func New(st *store.Store, opts Options) *Server {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.ScanInterval <= 0 {
		opts.ScanInterval = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{st: st, opts: opts, execs: map[string]*execState{}, badExecs: map[string]string{}, watchers: map[string]int{},
		tick: make(chan struct{}), wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	s.routes()
	go s.loop(ctx)
	return s
}

// Close stops the refresh loop and ends the open event streams. It does not
// close the store.
func (s *Server) Close() {
	s.cancel()
	<-s.done
}

// Handler returns the console's HTTP handler.
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP serves the console: it refuses a non-loopback Host unless
// Options.Public, and turns a panic into a 500 with its message.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackHost(r.Host) && !s.knownHost(r.Host) {
		http.Error(w, "maptask ui: this console does not answer to the name "+r.Host+" (maptask ui --allow-host names more)", http.StatusForbidden)
		return
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.opts.Logger.Error("console: panic", "path", r.URL.Path, "panic", v)
			writeError(w, http.StatusInternalServerError, fmt.Errorf("internal error: %v", v))
		}
	}()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
	s.mux.ServeHTTP(w, r)
}

// knownHost reports a Host header naming one of Options.Hosts.
func (s *Server) knownHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	for _, k := range s.opts.Hosts {
		if strings.EqualFold(h, strings.Trim(k, "[]")) {
			return true
		}
	}
	return false
}

// loopbackHost reports a Host header naming this machine's loopback.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) routes() {
	m := http.NewServeMux()
	sub, _ := fs.Sub(assets, "assets")
	files := http.FileServer(http.FS(sub))
	m.Handle("GET /assets/", http.StripPrefix("/assets/", files))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		data, err := assets.ReadFile("assets/index.html")
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(data)
	})
	m.HandleFunc("GET /api/executions", s.handleList)
	m.HandleFunc("GET /api/events", s.handleListEvents)
	m.HandleFunc("GET /api/executions/{id}", s.handleExecution)
	m.HandleFunc("GET /api/executions/{id}/events", s.handleExecEvents)
	m.HandleFunc("GET /api/executions/{id}/failed", s.handleFailed)
	m.HandleFunc("GET /api/executions/{id}/elements/{i}", s.handleElement)
	m.HandleFunc("GET /api/executions/{id}/elements/{i}/logs/{attempt}/{stream}", s.handleLog)
	m.HandleFunc("POST /api/executions/{id}/cancel", s.handleCancel)
	m.HandleFunc("POST /api/executions/{id}/update", s.handleUpdate)
	m.HandleFunc("GET /api/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Stats()) })
	s.mux = m
}

// loop refreshes what pages watch, every Interval, and wakes their streams.
func (s *Server) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.round(ctx)
		s.mu.Lock()
		close(s.tick)
		s.tick = make(chan struct{})
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// poke asks the loop for a round now.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// round refreshes the watched executions: a live one every Interval, a
// finished one every 10 Intervals (a resume may start it again).
func (s *Server) round(ctx context.Context) {
	s.mu.Lock()
	list := s.listWatchers > 0
	scan := list && time.Since(s.lastScan) >= s.opts.ScanInterval
	s.mu.Unlock()
	if scan {
		s.scan(ctx)
	}
	s.mu.Lock()
	var due []*execState
	full := map[*execState]bool{}
	for id, e := range s.execs {
		if !list && s.watchers[id] == 0 {
			continue
		}
		e.mu.Lock()
		stale := time.Since(e.last)
		live := e.verdict == nil || e.cancel || e.err != ""
		e.mu.Unlock()
		if stale >= s.opts.Interval*9/10 && (live || stale >= 10*s.opts.Interval) {
			due = append(due, e)
			full[e] = s.watchers[id] > 0
		}
	}
	s.mu.Unlock()
	s.refreshAll(ctx, due, func(e *execState) bool { return full[e] })
}

// refreshAll refreshes execs, four at a time; full says which must have
// their journal read (see execState.refresh).
func (s *Server) refreshAll(ctx context.Context, execs []*execState, full func(*execState) bool) {
	var g errgroup.Group
	g.SetLimit(4)
	for _, e := range execs {
		g.Go(func() error {
			// A bug reading one execution must not end the console: it
			// says so on that execution's page.
			defer func() {
				if p := recover(); p != nil {
					e.mu.Lock()
					e.err = fmt.Sprintf("internal error reading this execution: %v", p)
					e.version++
					e.mu.Unlock()
				}
			}()
			e.refresh(ctx, s.st, &s.stats, full(e))
			return nil
		})
	}
	g.Wait()
}

// scan reads the list of executions, keeping the state of those known.
func (s *Server) scan(ctx context.Context) {
	specs, bad, err := s.st.ScanExecutions(ctx)
	s.stats.scans.Add(1)
	s.mu.Lock()
	s.lastScan = time.Now()
	if err != nil {
		s.scanErr = err.Error()
		s.mu.Unlock()
		return
	}
	s.scanErr = ""
	s.badExecs = map[string]string{}
	for _, b := range bad {
		s.badExecs[b.ID] = b.Err.Error()
	}
	var fresh []*store.Spec
	order := make([]string, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		order = append(order, spec.ID)
		if e, ok := s.execs[spec.ID]; !ok || !e.spec.Created.Equal(spec.Created) || e.spec.Inputs != spec.Inputs {
			fresh = append(fresh, spec)
		}
	}
	s.order = order
	s.mu.Unlock()
	for _, spec := range fresh {
		e := newExecState(spec, s.commandOf(ctx, spec))
		s.mu.Lock()
		s.execs[spec.ID] = e
		s.mu.Unlock()
	}
	// Executions deleted since are dropped.
	s.mu.Lock()
	keep := map[string]bool{}
	for _, id := range order {
		keep[id] = true
	}
	for id := range s.execs {
		if !keep[id] && s.watchers[id] == 0 {
			delete(s.execs, id)
		}
	}
	s.mu.Unlock()
}

func (s *Server) commandOf(ctx context.Context, spec *store.Spec) string {
	if s.opts.Command != nil {
		return s.opts.Command(ctx, spec)
	}
	return spec.Task
}

func (s *Server) inputOf(spec *store.Spec, raw []byte) string {
	if s.opts.Input != nil {
		return s.opts.Input(spec, raw)
	}
	return string(raw)
}

// exec returns the state of execution id, loading its spec the first time.
func (s *Server) exec(ctx context.Context, id string) (*execState, error) {
	if err := store.ValidateID(id); err != nil {
		return nil, &httpError{http.StatusBadRequest, err}
	}
	s.mu.Lock()
	e, ok := s.execs[id]
	s.mu.Unlock()
	if ok && !e.isReplaced() {
		return e, nil
	}
	spec, err := s.st.LoadSpec(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &httpError{http.StatusNotFound, err}
	}
	if err != nil {
		return nil, err
	}
	e = newExecState(spec, s.commandOf(ctx, spec))
	s.mu.Lock()
	if cur, ok := s.execs[id]; ok && !cur.isReplaced() {
		e = cur
	} else {
		s.execs[id] = e
	}
	s.mu.Unlock()
	return e, nil
}

// current returns the state of execution id, refreshed: that of the
// execution created again under id when the one it had was replaced.
func (s *Server) current(ctx context.Context, id string) (*execState, error) {
	e, err := s.exec(ctx, id)
	if err != nil {
		return nil, err
	}
	s.fresh(ctx, e)
	if e.isReplaced() {
		if e, err = s.exec(ctx, id); err != nil {
			return nil, err
		}
		s.fresh(ctx, e)
	}
	return e, nil
}

func (e *execState) isReplaced() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.replaced
}

// fresh refreshes e, its journal read, unless a round did within the last
// Interval and it is read already.
func (s *Server) fresh(ctx context.Context, e *execState) {
	e.mu.Lock()
	stale := time.Since(e.last) >= s.opts.Interval || !e.loaded()
	e.mu.Unlock()
	if stale {
		e.refresh(ctx, s.st, &s.stats, true)
	}
}

type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func writeError(w http.ResponseWriter, code int, err error) {
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
