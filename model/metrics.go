package model

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// modelMetrics are the model's Prometheus metrics. Progressive validation:
// every label is scored by the learner before it learns from it, so the
// logloss sum over the label count is an honest out-of-sample figure.
type modelMetrics struct {
	clicks, noClicks prometheus.Counter
	logloss          prometheus.Counter
	version, warm    prometheus.Gauge
}

func newModelMetrics(reg prometheus.Registerer, name string) *modelMetrics {
	if name == "" {
		name = "default"
	}
	cl := prometheus.Labels{"model": name}
	labels := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_model_labels_total", Help: "Labels the click model learned from, by outcome.", ConstLabels: cl,
	}, []string{"outcome"})
	m := &modelMetrics{
		clicks:   labels.WithLabelValues("click"),
		noClicks: labels.WithLabelValues("no_click"),
		logloss: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "tailor_model_logloss_total",
			Help:        "Sum of the log loss of the click model's prediction for each label, made before learning from it; divide by tailor_model_labels_total.",
			ConstLabels: cl,
		}),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tailor_model_version", Help: "Version of the click model snapshot being served.", ConstLabels: cl,
		}),
		warm: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tailor_model_warm", Help: "1 when the click model has learned enough to replace the hand-set weights.", ConstLabels: cl,
		}),
	}
	if reg != nil {
		reg.MustRegister(labels, m.logloss, m.version, m.warm)
	}
	return m
}

func (m *modelMetrics) observe(p float64, click bool) {
	if click {
		m.clicks.Inc()
		m.logloss.Add(-math.Log(p))
	} else {
		m.noClicks.Inc()
		m.logloss.Add(-math.Log(1 - p))
	}
}

func (m *modelMetrics) published(s *Snapshot) {
	m.version.Set(float64(s.Version))
	if s.warm {
		m.warm.Set(1)
	} else {
		m.warm.Set(0)
	}
}
