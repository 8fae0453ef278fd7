package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/tailor-dev/tailor/features"
)

// statusCodes are the codes with their own label; others count as "other".
var statusCodes = [...]int{200, 204, 400, 404, 405, 413, 500, 503}

// metrics holds the service's metric children, resolved once so that the
// request path does no label lookups.
type metrics struct {
	requests   [numRoutes][len(statusCodes) + 1]prometheus.Counter
	latency    [numRoutes]prometheus.Observer
	events     [6]prometheus.Counter
	duplicates prometheus.Counter
	handler    fasthttp.RequestHandler
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
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_events_ingested_total", Help: "Events accepted, by type.",
	}, []string{"type"})
	m.duplicates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_events_duplicate_total", Help: "Events skipped because their id was seen before.",
	})
	reg.MustRegister(requests, latency, events, m.duplicates)
	for r := routeID(0); r < numRoutes; r++ {
		for i, c := range statusCodes {
			m.requests[r][i] = requests.WithLabelValues(r.name(), strconv.Itoa(c))
		}
		m.requests[r][len(statusCodes)] = requests.WithLabelValues(r.name(), "other")
		m.latency[r] = latency.WithLabelValues(r.name())
	}
	for t := features.Search; t <= features.Purchase; t++ {
		m.events[t] = events.WithLabelValues(t.String())
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

func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) { s.m.handler(ctx) }
