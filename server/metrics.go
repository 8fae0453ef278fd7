package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// statusCodes are the codes with their own label; others count as "other".
var statusCodes = [...]int{200, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503, 507}

// metrics holds the service's metric children, resolved once so that the
// request path does no label lookups.
type metrics struct {
	requests [numRoutes][len(statusCodes) + 1]prometheus.Counter
	latency  [numRoutes]prometheus.Observer
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
	for r := routeID(0); r < numRoutes; r++ {
		for i, c := range statusCodes {
			m.requests[r][i] = requests.WithLabelValues(r.name(), strconv.Itoa(c))
		}
		m.requests[r][len(statusCodes)] = requests.WithLabelValues(r.name(), "other")
		m.latency[r] = latency.WithLabelValues(r.name())
	}
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
	m.requests[r][i].Inc()
	m.latency[r].Observe(d.Seconds())
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
