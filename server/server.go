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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/service"
)

// Options configures a Server. Zero fields take their defaults.
type Options struct {
	// Service configures the parts behind the endpoints: the stores, the
	// ranker, learning, the bidder's money, the disk guard, the clock and the
	// logger.
	Service service.Options
	// MaxBodyBytes bounds a request body; larger ones get 413. Default 16 MiB.
	MaxBodyBytes int
	// MaxBatch bounds the records of one batch request (events, items, users,
	// campaigns). Default 10,000.
	MaxBatch int
	// ReadTimeout, WriteTimeout and IdleTimeout bound a connection's reads,
	// writes and idle keep-alive time. Defaults 10 s, 10 s and 60 s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Bidder configures the OpenRTB endpoint: notice URLs, limits and
	// deadlines.
	Bidder BidderOptions
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
	// CORSOrigins are the web origins (such as "https://shop.example") whose
	// pages may call the events and recommend routes from the browser; "*"
	// allows any. Default none: browsers keep the answers from other
	// origins' pages.
	CORSOrigins []string
	// BackupDir is where POST /v1/admin/backup writes backups, one
	// directory each. Default "": backups through the API are off.
	BackupDir string
	// Cluster, when set, makes this server a node of a cluster: writes go to
	// the cluster's log and are applied from it (see package cluster).
	// Default nil: a single node, writing to its data directory.
	Cluster *cluster.Options
	// FreshWait bounds how long a request carrying a token ("after") waits
	// for this node to apply what the token names; past it the request gets
	// 503 not_caught_up. Default 1 s.
	FreshWait time.Duration
}

func (o *Options) setDefaults() {
	if o.FreshWait <= 0 {
		o.FreshWait = defaultFreshWait
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = defaultInflightMiB << 20
	}
	o.Admission.setDefaults()
	o.Bidder.setDefaults()
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
}

// Server is tailor's HTTP API over a service.Service.
type Server struct {
	opts      Options
	svc       *service.Service
	node      *cluster.Node // nil on a single node
	store     *features.Store
	idx       *index.Index
	logger    *log.Logger
	m         *metrics
	http      *fasthttp.Server
	parsers   fastjson.ParserPool
	recs      sync.Pool // *recScratch
	bid       bidder
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

// Open opens the service over the data directory dir (service.Open: see
// there for the order of its parts and what is closed when one fails) and
// returns a Server over it.
func Open(dir string, opts Options) (*Server, error) {
	opts.setDefaults()
	svc, err := service.Open(dir, opts.Service)
	if err != nil {
		return nil, err
	}
	var node *cluster.Node
	if opts.Cluster != nil {
		if node, err = cluster.Start(svc, *opts.Cluster); err != nil {
			svc.Close()
			return nil, err
		}
	}
	s := &Server{
		opts:   opts,
		svc:    svc,
		node:   node,
		store:  svc.Store(),
		idx:    svc.Index(),
		logger: svc.Logger(),
		m:      newMetrics(svc.Registry()),
	}
	s.auth.Store(opts.Auth)
	a := &opts.Admission
	limits := [numClasses]int{classRecommend: a.Recommend, classBid: a.Bid, classEvents: a.Events, classOther: a.Other}
	waits := [numClasses]time.Duration{classRecommend: a.Wait, classBid: a.Wait, classEvents: a.EventsWait, classOther: a.Wait}
	for c := classRecommend; c < numClasses; c++ {
		s.gates[c] = newGate(limits[c], a.Queue, waits[c])
	}
	if a.Runnable > 0 {
		s.cpu = newCongestion(a.Runnable, a.RunnableGrace, congestionProbe{})
	}
	s.m.watch(s)
	s.recs.New = func() any { return new(recScratch) }
	s.openBidder()
	s.serveRoute = s.serve
	s.http = s.newHTTPServer(s.Handler())
	return s, nil
}

// Service returns the parts behind the endpoints, for work in process.
func (s *Server) Service() *service.Service { return s.svc }

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
		Logger:                s.logger,
	}
}

// Registry returns the Prometheus registry the server's metrics are on.
func (s *Server) Registry() *prometheus.Registry { return s.svc.Registry() }

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

// Close leaves the cluster, if any, and closes the service and its data
// directory. Use Shutdown for a serving server. It may be called twice.
func (s *Server) Close() error {
	var err error
	if s.node != nil {
		err = s.node.Close()
	}
	if cerr := s.svc.Close(); err == nil {
		err = cerr
	}
	return err
}

// Node returns the server's cluster node, nil on a single node.
func (s *Server) Node() *cluster.Node { return s.node }

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
// public listener when they have their own; add the CORS headers of a
// browser route, answering its preflight; check the token's scope (or the
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
				s.logger.Printf("panic serving %s: %v\n%s", r.name(), p, debug.Stack())
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
		if !s.cors(ctx, r) {
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
		if class != classNone {
			s.svc.Serving() // background writes make way while requests come
		}
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

func (s *Server) now() int64 { return s.svc.Now().UnixMilli() }
