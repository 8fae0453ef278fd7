package bench

import (
	"bytes"
	"math"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names of the server's pauses that a run's tail shows: the Go
// collector's cycles, the write-ahead log's syncs, whose slowest are the
// disk's stalls, and Pebble's flushes and compactions, which take the
// serving core's time and the disk's.
const (
	gcCyclesMetric    = "go_gc_duration_seconds"
	walSyncMetric     = "tailor_pebble_wal_fsync_seconds"
	flushesMetric     = "tailor_pebble_flushes_total"
	compactionsMetric = "tailor_pebble_compactions_total"
)

// serverPauses is what the server's metrics say of its pauses so far, read
// at an edge of the measured window.
type serverPauses struct {
	gcCycles    reading  // collections so far
	walBuckets  []bucket // the WAL sync histogram's cumulative buckets
	flushes     reading  // memtable flushes so far
	compactions reading  // compactions so far
}

// reading is a count read from the server's metrics; ok is false when the
// metrics lacked it.
type reading struct {
	value float64
	ok    bool
}

// since returns how much the count grew from prev to r, or nil when either
// reading is unknown.
func (r reading) since(prev reading) *float64 {
	if !r.ok || !prev.ok {
		return nil
	}
	n := r.value - prev.value
	return &n
}

// bucket is one cumulative bucket of a histogram: count observations at
// most le.
type bucket struct{ le, count float64 }

// readPauses parses the server's metrics text; a metric it lacks leaves its
// figure unknown.
func readPauses(text []byte) serverPauses {
	var p serverPauses
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return p
	}
	if f := fams[gcCyclesMetric]; f != nil && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetSummary() != nil {
		p.gcCycles = reading{float64(f.GetMetric()[0].GetSummary().GetSampleCount()), true}
	}
	if f := fams[walSyncMetric]; f != nil && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetHistogram() != nil {
		h := f.GetMetric()[0].GetHistogram()
		for _, b := range h.GetBucket() {
			p.walBuckets = append(p.walBuckets, bucket{le: b.GetUpperBound(), count: float64(b.GetCumulativeCount())})
		}
		p.walBuckets = append(p.walBuckets, bucket{le: math.Inf(1), count: float64(h.GetSampleCount())})
	}
	p.flushes = counterValue(fams, flushesMetric)
	p.compactions = counterValue(fams, compactionsMetric)
	return p
}

// counterValue reads the unlabelled counter name, unknown when the metrics
// lack it.
func counterValue(fams map[string]*dto.MetricFamily, name string) reading {
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetCounter() == nil {
		return reading{}
	}
	return reading{f.GetMetric()[0].GetCounter().GetValue(), true}
}

// slowestBetween returns the upper bound of the bucket that holds the
// slowest of the observations made between two readings of one histogram,
// a and then b: the least bound whose count grew as much as the whole
// histogram's did. Observations past the last finite bound count as that
// bound. It reports false when the readings differ in shape or nothing was
// observed between them.
func slowestBetween(a, b []bucket) (float64, bool) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, false
	}
	total := b[len(b)-1].count - a[len(a)-1].count
	if total <= 0 {
		return 0, false
	}
	for i := range b {
		if b[i].le != a[i].le {
			return 0, false
		}
		if b[i].count-a[i].count >= total {
			if math.IsInf(b[i].le, 1) {
				if i == 0 {
					return 0, false
				}
				return b[i-1].le, true
			}
			return b[i].le, true
		}
	}
	return 0, false
}
