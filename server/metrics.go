package server

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// statusCodes are the codes with their own label; others count as "other".
var statusCodes = [...]int{200, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503, 507}

// metrics holds the service's metric children, each resolved on its route's
// (and code's) first request, so that the request path does no label
// lookups and a scrape reads only the series that have counted something:
// the routes and codes a server never saw export nothing. (Made ahead for
// every route and code, they were 840 series of zeros, and a scrape cost
// the one core several milliseconds, a wait every request then in flight
// shared.)
type metrics struct {
	requestsVec *prometheus.CounterVec
	latencyVec  *prometheus.HistogramVec
	requests    [numRoutes][len(statusCodes) + 1]lazy[prometheus.Counter]
	latency     [numRoutes]lazy[prometheus.Observer]
	// shed counts requests turned away by their admission gate, by class;
	// classNone counts those refused for the in-flight body budget.
	shed [numClasses]prometheus.Counter
	// shedCPU counts the requests of every class shed for want of CPU.
	shedCPU prometheus.Counter
	// authFailures counts 401s (index 0) and 403s (index 1).
	authFailures [2]prometheus.Counter
	reg          *prometheus.Registry
	handler      fasthttp.RequestHandler
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tailor_http_request_duration_seconds",
		Help:    "Time from routing a request to its response, by route.",
		Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
	}, []string{"route"})
	shed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_http_shed_total",
		Help: "Requests shed at capacity, by admission class (body: refused for the in-flight body budget).",
	}, []string{"class"})
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_http_auth_failures_total", Help: "Requests refused for their token: unauthenticated (401) or forbidden (403).",
	}, []string{"reason"})
	reg.MustRegister(requests, latency, shed, auth)
	for c := range numClasses {
		name := classNames[c]
		if c == classNone {
			name = "body"
		}
		m.shed[c] = shed.WithLabelValues(name)
	}
	m.shedCPU = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_http_shed_cpu_total", Help: "Requests shed because too many goroutines waited for a CPU (also counted by class in tailor_http_shed_total)."})
	reg.MustRegister(m.shedCPU)
	m.authFailures[0] = auth.WithLabelValues("unauthenticated")
	m.authFailures[1] = auth.WithLabelValues("forbidden")
	m.reg = reg
	m.requestsVec, m.latencyVec = requests, latency
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

func (m *metrics) observe(r routeID, status int, d time.Duration) {
	i := len(statusCodes)
	for j, c := range statusCodes {
		if c == status {
			i = j
			break
		}
	}
	m.requests[r][i].get(func() prometheus.Counter {
		code := "other"
		if i < len(statusCodes) {
			code = strconv.Itoa(statusCodes[i])
		}
		return m.requestsVec.WithLabelValues(r.name(), code)
	}).Inc()
	m.latency[r].get(func() prometheus.Observer { return m.latencyVec.WithLabelValues(r.name()) }).Observe(d.Seconds())
}

// lazy is a metric child made on first use.
type lazy[T any] struct{ p atomic.Pointer[T] }

// get returns the child, making it with newChild the first time. Requests that
// race to make it get the same child: a vector returns the child it holds
// for the same labels.
func (l *lazy[T]) get(newChild func() T) T {
	if p := l.p.Load(); p != nil {
		return *p
	}
	v := newChild()
	l.p.CompareAndSwap(nil, &v)
	return *l.p.Load()
}

// watch registers the gauges read from the server when scraped: work in
// progress per admission class and request bodies held.
func (m *metrics) watch(s *Server) {
	inflight := func(c admitClass, waiting bool) func() float64 {
		return func() float64 {
			n, w := s.gates[c].load()
			if waiting {
				return float64(w)
			}
			return float64(n)
		}
	}
	for c := classRecommend; c < numClasses; c++ {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_http_inflight", Help: "Requests being handled, by admission class.",
				ConstLabels: prometheus.Labels{"class": classNames[c]}}, inflight(c, false)),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_http_waiting", Help: "Requests waiting for admission, by class.",
				ConstLabels: prometheus.Labels{"class": classNames[c]}}, inflight(c, true)))
	}
	if s.cpu != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_sched_runnable_goroutines",
			Help: "Goroutines waiting for a CPU: past --shed-runnable per core, requests are shed."},
			func() float64 { return float64(s.cpu.runnable()) }))
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_http_inflight_body_bytes", Help: "Bytes of request bodies held now."},
			func() float64 { return float64(s.inflightBody.Load()) }),
	)
}

func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) { s.m.handler(ctx) }
