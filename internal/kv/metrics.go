package kv

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Collector exports Pebble's own figures to Prometheus. It reads db.Metrics()
// once per scrape.
type Collector struct {
	db     *pebble.DB
	stalls *Stalls
	desc   struct {
		diskBytes, memtableBytes, readAmp, l0Files, compactDebt *prometheus.Desc
		compactions, flushes, walBytes                          *prometheus.Desc
		cacheHits, cacheMisses, cacheBytes                      *prometheus.Desc
		filterHits, filterMisses                                *prometheus.Desc
		walFsync, stalls, stallSeconds                          *prometheus.Desc
	}
}

// NewCollector returns a collector for db and its write stalls (nil: none
// counted); register it on the service's registry.
func NewCollector(db *pebble.DB, stalls *Stalls) *Collector {
	c := &Collector{db: db, stalls: stalls}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("tailor_pebble_"+name, help, nil, nil)
	}
	c.desc.diskBytes = d("disk_usage_bytes", "Bytes the database uses on disk.")
	c.desc.memtableBytes = d("memtable_bytes", "Bytes allocated by memtables.")
	c.desc.readAmp = d("read_amplification", "Sublevels a point read may have to consult.")
	c.desc.l0Files = d("l0_files", "Tables in level 0.")
	c.desc.compactDebt = d("compaction_debt_bytes", "Estimated bytes left to compact.")
	c.desc.compactions = d("compactions_total", "Compactions since open.")
	c.desc.flushes = d("flushes_total", "Memtable flushes since open.")
	c.desc.walBytes = d("wal_bytes_written_total", "Bytes written to the write-ahead log since open.")
	c.desc.cacheHits = d("block_cache_hits_total", "Block cache hits.")
	c.desc.cacheMisses = d("block_cache_misses_total", "Block cache misses.")
	c.desc.cacheBytes = d("block_cache_bytes", "Bytes held by the block cache.")
	c.desc.filterHits = d("bloom_filter_hits_total", "Reads a bloom filter answered without reading a table.")
	c.desc.filterMisses = d("bloom_filter_misses_total", "Reads a bloom filter let through.")
	c.desc.walFsync = d("wal_fsync_seconds", "How long the write-ahead log's syncs took, which every acknowledged write waits for "+
		"(past 5 ms, each bucket bound is the first of Pebble's own at or past a round figure).")
	c.desc.stalls = d("write_stalls_total", "Write stalls: commits held back while every memtable is full and unflushed, or level 0 holds too many tables.")
	c.desc.stallSeconds = d("write_stall_seconds_total", "How long writes were held back by write stalls.")
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.desc.diskBytes, c.desc.memtableBytes, c.desc.readAmp,
		c.desc.l0Files, c.desc.compactDebt, c.desc.compactions, c.desc.flushes, c.desc.walBytes,
		c.desc.cacheHits, c.desc.cacheMisses, c.desc.cacheBytes, c.desc.filterHits, c.desc.filterMisses, c.desc.walFsync,
		c.desc.stalls, c.desc.stallSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	g := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.desc.diskBytes, float64(m.DiskSpaceUsage()))
	g(c.desc.memtableBytes, float64(m.MemTable.Size))
	g(c.desc.readAmp, float64(m.ReadAmp()))
	g(c.desc.l0Files, float64(m.Levels[0].TablesCount))
	g(c.desc.compactDebt, float64(m.Compact.EstimatedDebt))
	n(c.desc.compactions, float64(m.Compact.Count))
	n(c.desc.flushes, float64(m.Flush.Count))
	n(c.desc.walBytes, float64(m.WAL.BytesWritten))
	n(c.desc.cacheHits, float64(m.BlockCache.Hits))
	n(c.desc.cacheMisses, float64(m.BlockCache.Misses))
	g(c.desc.cacheBytes, float64(m.BlockCache.Size))
	n(c.desc.filterHits, float64(m.Filter.Hits))
	n(c.desc.filterMisses, float64(m.Filter.Misses))
	if c.stalls != nil {
		n(c.desc.stalls, float64(c.stalls.Count()))
		n(c.desc.stallSeconds, c.stalls.Duration().Seconds())
	}
	if h := m.LogWriter.FsyncLatency; h != nil {
		if count, sum, buckets, ok := fsyncBuckets(h); ok {
			ch <- prometheus.MustNewConstHistogram(c.desc.walFsync, count, sum, buckets)
		}
	}
}

// fsyncBounds are the upper bounds, in seconds, of the exported histogram of
// the WAL's syncs. Pebble keeps about a hundred buckets, in nanoseconds:
// every 0.1 ms up to 5 ms, then 50 growing by a factor of about 1.17 up to 10
// s. Cumulative counts can be read at any of its bounds, so the export keeps
// a few: those below 5 ms exactly, the rest at the first of Pebble's bounds at
// or past each.
var fsyncBounds = []float64{0.0002, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 10}

// fsyncBuckets converts Pebble's histogram of WAL sync latencies, in
// nanoseconds, to the count, sum and cumulative buckets, in seconds, of
// fsyncBounds.
func fsyncBuckets(h prometheus.Histogram) (count uint64, sum float64, buckets map[float64]uint64, ok bool) {
	var pb dto.Metric
	if err := h.Write(&pb); err != nil || pb.Histogram == nil {
		return 0, 0, nil, false
	}
	ph := pb.Histogram
	buckets = make(map[float64]uint64, len(fsyncBounds))
	next := 0
	for _, b := range ph.Bucket {
		le := b.GetUpperBound() / float64(time.Second)
		for next < len(fsyncBounds) && le >= fsyncBounds[next]*(1-1e-9) {
			// The first of Pebble's bounds at or past the wanted one.
			buckets[le] = b.GetCumulativeCount()
			next++
		}
	}
	return ph.GetSampleCount(), ph.GetSampleSum() / float64(time.Second), buckets, true
}
