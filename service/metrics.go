package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/ledger"
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

// registerBankMetrics registers, for a ledger whose budgets are shared, the
// bank's round trips and what this node's leases hold, read when scraped.
func registerBankMetrics(reg *prometheus.Registry, l *ledger.Ledger) {
	if _, ok := l.Shared(); !ok {
		return
	}
	stat := func(f func(ledger.SharedStats) float64) func() float64 {
		return func() float64 {
			st, _ := l.Shared()
			return f(st)
		}
	}
	for op, name := range ledger.BankOps {
		for _, result := range []string{"ok", "error"} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tailor_bank_calls_total",
				Help:        "Round trips to the bank that holds the shared budgets, by operation and result.",
				ConstLabels: prometheus.Labels{"op": name, "result": result}},
				stat(func(st ledger.SharedStats) float64 {
					if result == "error" {
						return float64(st.Failures[op])
					}
					return float64(st.Calls[op] - st.Failures[op])
				})))
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_bank_leased_micros",
			Help: "What this node's budget leases hold, in micros of the campaigns' currencies."},
			stat(func(st ledger.SharedStats) float64 { return float64(st.Held) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_bank_reserved_micros",
			Help: "What this node's outstanding bids hold of its leases, in micros."},
			stat(func(st ledger.SharedStats) float64 { return float64(st.Reserved) })),
	)
}
