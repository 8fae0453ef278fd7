package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/kv"
)

// ingestMetrics count the events applied, resolved once per type.
type ingestMetrics struct {
	events     [features.Purchase + 1]prometheus.Counter
	duplicates prometheus.Counter
}

func newIngestMetrics(reg *prometheus.Registry) *ingestMetrics {
	m := &ingestMetrics{}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_events_ingested_total", Help: "Events accepted, by type.",
	}, []string{"type"})
	m.duplicates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_events_duplicate_total", Help: "Events skipped because their id was seen before.",
	})
	reg.MustRegister(events, m.duplicates)
	for t := features.Search; t <= features.Purchase; t++ {
		m.events[t] = events.WithLabelValues(t.String())
	}
	return m
}

// registerDiskMetrics registers the gauges of the data directory's disk,
// read when scraped.
func registerDiskMetrics(reg *prometheus.Registry, disk *kv.Disk) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_disk_free_bytes", Help: "Free bytes on the data directory's disk at the last check."},
			func() float64 { return float64(disk.Free()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_disk_state", Help: "0 ok, 1 degraded (below the free-space floor: writes refused), 2 failed."},
			func() float64 {
				switch st, _ := disk.Status(); st {
				case "degraded":
					return 1
				case "failed":
					return 2
				}
				return 0
			}),
	)
}
