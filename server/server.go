package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/trigger"
)

// Options configures a Server. Zero fields take their defaults.
type Options struct {
	// MaxBodyBytes bounds a request body; larger ones get 413. Default 16 MiB.
	MaxBodyBytes int
	// MaxBatch bounds the records of one events or items request. Default 10,000.
	MaxBatch int
	// ReadTimeout, WriteTimeout and IdleTimeout bound a connection's reads,
	// writes and idle keep-alive time. Defaults 10 s, 10 s and 60 s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// CacheBytes bounds the profile cache. Default 256 MiB.
	CacheBytes int64
	// Profiles bounds each profile; zero fields take their defaults.
	Profiles features.Limits
	// Lifecycle sets the windows and thresholds of indicators and lifecycle
	// stages.
	Lifecycle features.Rules
	// Tiers are the value tiers; default features.DefaultTiers.
	Tiers []features.TierRule
	// SegmentEvery is how often RFM segments are recomputed and triggers
	// swept in the background; 0 means only on demand. Default 0.
	SegmentEvery time.Duration
	// Webhooks configures the delivery of trigger records to webhooks.
	Webhooks trigger.DeliveryOptions
	// Index configures co-visitation and popularity.
	Index index.Options
	// Bidder configures the OpenRTB bidder: notice URLs, limits, currency
	// rates, the auction and the ledger.
	Bidder BidderOptions
	// Ranker configures ranking.
	Ranker ranker.Options
	// Learning configures the decision log, the click model and the
	// experiments.
	Learning LearningOptions
	// Auth holds the API tokens; nil serves every route without a token (see
	// Scope). Replace it at run time with Server.SetAuth.
	Auth *Auth
	// BidAllow, when not empty, limits the bid route to peers in these
	// prefixes; others get 403. The notices stay open (they are signed).
	BidAllow []netip.Prefix
	// SeparateAdmin keeps the routes that need ScopeAdmin, and /metrics, off
	// Handler: they are served only by AdminHandler, on a listener of their
	// own.
	SeparateAdmin bool
	// MaxInflightBytes bounds the request bodies being read and handled at
	// once; past it a request gets 503. Default 256 MiB.
	MaxInflightBytes int64
	// Admission bounds concurrent work per kind of request (load shedding).
	Admission AdmissionOptions
	// Storage guards the data directory's disk.
	Storage StorageOptions
	// Now is the clock; default time.Now. Tests and replays inject their own.
	Now func() time.Time

	// openHook, when set, is called before each step of Open with its name;
	// an error fails Open at that step. Tests use it.
	openHook func(step string) error
	// Logger receives operational messages; default the standard logger.
	Logger *log.Logger
}

// StorageOptions guard the data directory's disk (see kv.Disk).
type StorageOptions struct {
	// MinFreeBytes is the free-space floor: below it writes get 507 while
	// reads, recommend and bids go on. Default 256 MiB; negative: no floor.
	MinFreeBytes int64
	// BallastBytes is the space held in reserve against a full disk.
	// Default a quarter of the floor, at most 64 MiB.
	BallastBytes int64
	// CheckEvery is how often the free space is read. Default 200 ms.
	CheckEvery time.Duration
	// FS is the file system of the data directory; default the operating
	// system's. Tests give one that injects faults.
	FS vfs.FS
	// OnFailure is called once when the store fails (a write or sync error
	// Pebble cannot continue past). From then on every route but the health
	// checks answers 503; the process should exit so that a restart
	// recovers from the write-ahead log. Default: nothing more.
	OnFailure func(error)
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = defaultInflightMiB << 20
	}
	o.Admission.setDefaults()
	if o.MaxBatch <= 0 {
		o.MaxBatch = 10000
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
}

// Server is a running tailor: the store, the index, the ranker and the HTTP
// endpoints over them.
type Server struct {
	opts      Options
	db        *pebble.DB
	store     *features.Store
	idx       *index.Index
	rank      *ranker.Ranker
	reg       *prometheus.Registry
	m         *metrics
	http      *fasthttp.Server
	parsers   fastjson.ParserPool
	recs      sync.Pool      // *recScratch
	learn     *learn.Learner // nil when learning is disabled
	closed    bool
	seg       segments
	bid       bidder
	disk      *kv.Disk
	admin     *fasthttp.Server // the admin listener's server, once ServeAdmin runs
	adminOnce sync.Once

	auth         atomic.Pointer[Auth]
	gates        [numClasses]*gate
	cpu          *congestion  // nil when off
	inflightBody atomic.Int64 // bytes of request bodies held now

	// serveRoute dispatches a routed request; Handler wraps it with recovery
	// and metrics.
	serveRoute func(*fasthttp.RequestCtx, routeID)
}

// Open opens (creating if needed) the data directory dir and returns a Server
// over it, with its in-memory indexes rebuilt from the stored history. It
// opens the parts in order (disk guard, Pebble, profiles, catalog, segments
// and triggers, learning, bidder) and, should a step fail, closes what it
// opened in reverse order, so that nothing is left running.
func Open(dir string, opts Options) (_ *Server, err error) {
	opts.setDefaults()
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	step := func(name string) error {
		if opts.openHook != nil {
			return opts.openHook(name)
		}
		return nil
	}

	st := &opts.Storage
	disk := kv.NewDisk(kv.DiskOptions{Dir: dir, FS: st.FS, MinFree: st.MinFreeBytes, Ballast: st.BallastBytes,
		Interval: st.CheckEvery, OnFatal: st.OnFailure, Logf: opts.Logger.Printf})
	if err := step("pebble"); err != nil {
		return nil, err
	}
	db, err := kv.Open(dir, kv.Options{Disk: disk})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { db.Close() })

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(kv.NewCollector(db))
	if err := step("profiles"); err != nil {
		return nil, err
	}
	store, err := features.New(db, features.Options{CacheBytes: opts.CacheBytes, Limits: opts.Profiles}, reg)
	if err != nil {
		return nil, err
	}
	undo = append(undo, store.Close)
	if err := step("catalog"); err != nil {
		return nil, err
	}
	idx, err := index.New(db, opts.Index, reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:  opts,
		db:    db,
		store: store,
		idx:   idx,
		rank:  ranker.New(idx, opts.Ranker),
		reg:   reg,
		m:     newMetrics(reg),
		disk:  disk,
	}
	s.auth.Store(opts.Auth)
	a := &opts.Admission
	for c, limit := range [numClasses]int{classRecommend: a.Recommend, classBid: a.Bid, classEvents: a.Events, classOther: a.Other} {
		if c != int(classNone) {
			s.gates[c] = newGate(limit, a.Queue, a.Wait)
		}
	}
	if a.Runnable > 0 {
		s.cpu = newCongestion(a.Runnable, nil, nil)
	}
	s.m.watch(s)
	s.recs.New = func() any { return new(recScratch) }
	s.serveRoute = s.serve

	if err := step("segments"); err != nil {
		return nil, err
	}
	if err := s.openSegments(); err != nil {
		return nil, err
	}
	undo = append(undo, s.stopSegments)
	if err := step("learning"); err != nil {
		return nil, err
	}
	if err := s.openLearning(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.closeLearning() })
	if err := step("bidder"); err != nil {
		return nil, err
	}
	if err := s.openBidder(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.closeBidder() })
	if err := step("replay"); err != nil {
		return nil, err
	}
	start := time.Now()
	n := 0
	err = store.Replay(func(_ string, h features.HistoryEvent, before []string) {
		idx.Observe(index.Observation{Item: h.Target, Weight: popularityWeight(h.Type), TS: h.TS, Before: before})
		n++
	})
	if err != nil {
		return nil, fmt.Errorf("server: cannot rebuild indexes: %w", err)
	}
	if n > 0 {
		opts.Logger.Printf("rebuilt co-visitation and popularity from %d events in %v", n, time.Since(start).Round(time.Millisecond))
	}
	s.http = s.newHTTPServer(s.Handler())
	disk.Start()
	return s, nil
}

// newHTTPServer returns a fasthttp server for h with the server's limits.
func (s *Server) newHTTPServer(h fasthttp.RequestHandler) *fasthttp.Server {
	opts := &s.opts
	return &fasthttp.Server{
		Handler:      h,
		ErrorHandler: s.errorHandler,
		Name:         "tailor",
		// Bodies are read by readBody, within each route's limit and the
		// in-flight budget; fasthttp reads at most 8 KiB of one before.
		StreamRequestBody:     true,
		MaxRequestBodySize:    opts.MaxBodyBytes,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.WriteTimeout,
		IdleTimeout:           opts.IdleTimeout,
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
		Logger:                opts.Logger,
	}
}

// Registry returns the Prometheus registry the server's metrics are on.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Serve answers HTTP requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// ServeAdmin answers the admin listener's requests (AdminHandler) on ln
// until Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error {
	s.adminOnce.Do(func() { s.admin = s.newHTTPServer(s.AdminHandler()) })
	return s.admin.Serve(ln)
}

// Shutdown stops accepting connections, waits for requests in flight (until
// ctx ends) and closes the data directory.
func (s *Server) Shutdown(ctx context.Context) error {
	s.adminOnce.Do(func() {})
	var err error
	if s.admin != nil {
		err = s.admin.ShutdownWithContext(ctx)
	}
	if herr := s.http.ShutdownWithContext(ctx); err == nil {
		err = herr
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the data directory. Use Shutdown for a serving server.
func (s *Server) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if errors.Is(s.disk.Writable(), kv.ErrFailed) {
		// Writing to a failed store would fail or hang, and background work
		// may be stuck in it: close nothing that writes and wait for
		// nothing. The write-ahead log holds every acknowledged write for
		// the next start.
		s.disk.Stop()
		_, reason := s.disk.Status()
		return fmt.Errorf("server: closed without writing: %s", reason)
	}
	s.stopSegments()
	if err := s.closeLearning(); err != nil {
		s.opts.Logger.Printf("%v", err)
	}
	berr := s.closeBidder()
	s.disk.Stop()
	s.store.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("server: cannot close data directory: %w", err)
	}
	return berr
}

// errorHandler answers requests fasthttp refused before routing them.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeError(ctx, &apiError{status: fasthttp.StatusRequestEntityTooLarge, code: codeTooLarge,
			message: fmt.Sprintf("request body is larger than %d bytes", s.opts.MaxBodyBytes), index: -1})
		return
	}
	writeError(ctx, &apiError{status: fasthttp.StatusBadRequest, code: "bad_http", message: "cannot parse the HTTP request", index: -1})
}

// Handler returns the request handler, for serving on a listener of one's
// own. With Options.SeparateAdmin it leaves out the admin routes.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handler(!s.opts.SeparateAdmin, false) }

// AdminHandler returns the handler of the admin listener: every route, and
// Go's profiler under /debug/pprof/.
func (s *Server) AdminHandler() fasthttp.RequestHandler { return s.handler(true, true) }

// handler admits, authorizes and routes a request. The steps, in order:
// refuse encoded separators in the path; route; refuse admin routes on the
// public listener when they have their own; check the token's scope (or the
// bid allow list); shed the request while too many goroutines wait for a
// CPU; refuse every route but the health checks once the store has failed,
// and writes while the disk is short of space; read the body within its
// limits; take a place in the route's admission gate or shed the request;
// serve it.
func (s *Server) handler(admin, pprof bool) fasthttp.RequestHandler {
	var profiler fasthttp.RequestHandler
	if pprof {
		profiler = profilerHandler()
	}
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		r := route(ctx.Path())
		var release func()
		var g *gate
		defer func() {
			if p := recover(); p != nil {
				s.opts.Logger.Printf("panic serving %s: %v\n%s", r.name(), p, debug.Stack())
				ctx.Response.Reset()
				writeError(ctx, &apiError{status: fasthttp.StatusInternalServerError, code: codeInternal,
					message: "internal error", index: -1})
			}
			if g != nil {
				g.leave()
			}
			if release != nil {
				ctx.Request.ResetBody()
				release()
			}
			s.m.observe(r, ctx.Response.StatusCode(), time.Since(start))
		}()
		if encodedSeparator(ctx.Request.Header.RequestURI()) {
			writeError(ctx, badRequest("invalid_path", "path", "the path holds a percent-encoded '/', '\\' or NUL"))
			return
		}
		method := ctx.Method()
		need := r.scope(method)
		if r == routeOther && profiler != nil && bytes.HasPrefix(ctx.Path(), []byte("/debug/pprof/")) {
			if s.authorize(ctx, ScopeAdmin) {
				profiler(ctx)
			}
			return
		}
		if !admin && (need == ScopeAdmin || r == routeMetrics) {
			writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound,
				message: "this route is served on the admin listener", index: -1})
			return
		}
		if r == routeBid && !s.bidAllowed(ctx) {
			writeError(ctx, &apiError{status: fasthttp.StatusForbidden, code: "forbidden",
				message: "this address may not bid", index: -1})
			return
		}
		if !s.authorize(ctx, need) {
			return
		}
		class := r.class()
		if class != classNone && !s.cpu.allow() {
			s.m.shedCPU.Inc()
			s.shed(ctx, class)
			return
		}
		if r != routeHealth && r != routeReady && r != routeMetrics && !s.storageAllows(ctx, r.writes(method)) {
			return
		}
		if string(method) == "POST" || string(method) == "PUT" {
			var ok bool
			if release, ok = s.readBody(ctx, r); !ok {
				return
			}
			if r != routeBid && !validUTF8(ctx, ctx.PostBody()) {
				return
			}
		}
		if class != classNone {
			if !s.gates[class].enter() {
				s.shed(ctx, class)
				return
			}
			g = s.gates[class]
		}
		s.serveRoute(ctx, r)
	}
}

// profilerHandler serves Go's profiler (net/http/pprof) under /debug/pprof/.
func profilerHandler() fasthttp.RequestHandler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return fasthttpadaptor.NewFastHTTPHandler(mux)
}

// shed answers a request its admission gate turned away: a no-bid for a bid
// (inside any tmax), 429 with Retry-After for the rest.
func (s *Server) shed(ctx *fasthttp.RequestCtx, c admitClass) {
	s.m.shed[c].Inc()
	if c == classBid {
		s.bid.noBid(ctx, noBidOverload)
		return
	}
	ctx.Response.Header.Set("Retry-After", "1")
	writeError(ctx, &apiError{status: fasthttp.StatusTooManyRequests, code: "overloaded",
		message: "the server is at capacity; retry after a second", index: -1})
}

func (s *Server) now() int64 { return s.opts.Now().UnixMilli() }

// popularityWeight is how much an event of type t adds to an item's popularity.
func popularityWeight(t features.EventType) float64 {
	switch t {
	case features.View:
		return 1
	case features.Click:
		return 2
	case features.Cart:
		return 3
	case features.Purchase:
		return 5
	}
	return 0
}
