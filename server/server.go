package server

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kv"
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
	// Now is the clock; default time.Now. Tests and replays inject their own.
	Now func() time.Time
	// Logger receives operational messages; default the standard logger.
	Logger *log.Logger
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
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
	opts    Options
	db      *pebble.DB
	store   *features.Store
	idx     *index.Index
	rank    *ranker.Ranker
	reg     *prometheus.Registry
	m       *metrics
	http    *fasthttp.Server
	parsers fastjson.ParserPool
	recs    sync.Pool // *recScratch
	learn   *learning // nil when learning is disabled
	closed  bool
	seg     segments
	bid     bidder

	// serveRoute dispatches a routed request; Handler wraps it with recovery
	// and metrics.
	serveRoute func(*fasthttp.RequestCtx, routeID)
}

// Open opens (creating if needed) the data directory dir and returns a Server
// over it, with its in-memory indexes rebuilt from the stored history.
func Open(dir string, opts Options) (*Server, error) {
	opts.setDefaults()
	db, err := kv.Open(dir, kv.Options{})
	if err != nil {
		return nil, err
	}
	s, err := newServer(db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func newServer(db *pebble.DB, opts Options) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(kv.NewCollector(db))
	store, err := features.New(db, features.Options{CacheBytes: opts.CacheBytes, Limits: opts.Profiles}, reg)
	if err != nil {
		return nil, err
	}
	idx, err := index.New(db, opts.Index, reg)
	if err != nil {
		store.Close()
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
	}
	s.recs.New = func() any { return new(recScratch) }
	s.serveRoute = s.serve
	if err := s.openSegments(); err != nil {
		store.Close()
		return nil, err
	}
	if err := s.openLearning(); err != nil {
		s.stopSegments()
		store.Close()
		return nil, err
	}
	if err := s.openBidder(); err != nil {
		s.stopSegments()
		store.Close()
		return nil, err
	}
	start := time.Now()
	n := 0
	err = store.Replay(func(_ string, h features.HistoryEvent, before []string) {
		idx.Observe(index.Observation{Item: h.Target, Weight: popularityWeight(h.Type), TS: h.TS, Before: before})
		n++
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("server: cannot rebuild indexes: %w", err)
	}
	if n > 0 {
		opts.Logger.Printf("rebuilt co-visitation and popularity from %d events in %v", n, time.Since(start).Round(time.Millisecond))
	}
	s.http = &fasthttp.Server{
		Handler:               s.Handler(),
		ErrorHandler:          s.errorHandler,
		Name:                  "tailor",
		MaxRequestBodySize:    opts.MaxBodyBytes,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.WriteTimeout,
		IdleTimeout:           opts.IdleTimeout,
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
		Logger:                opts.Logger,
	}
	return s, nil
}

// Registry returns the Prometheus registry the server's metrics are on.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Serve answers HTTP requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// Shutdown stops accepting connections, waits for requests in flight (until
// ctx ends) and closes the data directory.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.ShutdownWithContext(ctx)
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
	s.stopSegments()
	if err := s.closeLearning(); err != nil {
		s.opts.Logger.Printf("%v", err)
	}
	berr := s.closeBidder()
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

// Handler returns the request handler, for serving on a listener of one's own.
func (s *Server) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		r := route(ctx.Path())
		defer func() {
			if p := recover(); p != nil {
				s.opts.Logger.Printf("panic serving %s: %v\n%s", r.name(), p, debug.Stack())
				ctx.Response.Reset()
				writeError(ctx, &apiError{status: fasthttp.StatusInternalServerError, code: codeInternal,
					message: "internal error", index: -1})
			}
			s.m.observe(r, ctx.Response.StatusCode(), time.Since(start))
		}()
		s.serveRoute(ctx, r)
	}
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
