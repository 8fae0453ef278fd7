package kv

import (
	"math"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// TestFsyncBuckets: the export of Pebble's histogram of WAL syncs counts each
// sync in the first exported bucket that holds it, in seconds.
func TestFsyncBuckets(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Buckets: pebble.FsyncLatencyBuckets})
	for _, d := range []time.Duration{150 * time.Microsecond, 3500 * time.Microsecond, 12 * time.Millisecond, 2 * time.Second} {
		h.Observe(float64(d)) // Pebble observes nanoseconds
	}
	count, sum, buckets, ok := fsyncBuckets(h)
	if !ok || count != 4 {
		t.Fatalf("fsyncBuckets = %d syncs, %v; want 4", count, ok)
	}
	if want := 2.0156500; math.Abs(sum-want) > 1e-9 {
		t.Errorf("sum = %v s, want %v", sum, want)
	}
	if len(buckets) != len(fsyncBounds) {
		t.Errorf("%d buckets, want %d: %v", len(buckets), len(fsyncBounds), buckets)
	}
	// Below 5 ms the bounds are exact; past it, each is the first of
	// Pebble's at or past the wanted one.
	for _, tc := range []struct {
		wanted float64
		count  uint64
	}{{0.0002, 1}, {0.001, 1}, {0.004, 2}, {0.005, 2}, {0.01, 2}, {0.02, 3}, {1, 3}, {10, 4}} {
		le, got := math.Inf(1), uint64(0)
		for b, c := range buckets {
			if b >= tc.wanted*(1-1e-9) && b < le {
				le, got = b, c
			}
		}
		if got != tc.count || le > tc.wanted*1.17 {
			t.Errorf("bucket for %v s: le %v holds %d syncs, want %d", tc.wanted, le, got, tc.count)
		}
	}
}

// TestCollectorExportsWALSyncs: a database that commits synced writes
// reports them in tailor_pebble_wal_fsync_seconds.
func TestCollectorExportsWALSyncs(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 5 {
		if err := db.Set([]byte{byte(i)}, []byte("v"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(db, nil))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tailor_pebble_wal_fsync_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		// The log's writer records a sync's time once it has released the
		// commits waiting on it, so the last sync may not be counted yet;
		// each earlier one is, before the next sync can start.
		if h.GetSampleCount() < 4 || h.GetSampleSum() <= 0 {
			t.Errorf("%d syncs taking %v s, want at least 4 of the 5", h.GetSampleCount(), h.GetSampleSum())
		}
		var last uint64
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < last {
				t.Errorf("bucket le=%v holds %d, fewer than the one before", b.GetUpperBound(), b.GetCumulativeCount())
			}
			last = b.GetCumulativeCount()
		}
		if last != h.GetSampleCount() {
			t.Errorf("the last bucket (le=%v) holds %d of %d syncs", h.GetBucket()[len(h.GetBucket())-1].GetUpperBound(), last, h.GetSampleCount())
		}
		return
	}
	t.Fatal("no tailor_pebble_wal_fsync_seconds")
}
