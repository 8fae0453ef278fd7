package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// MemorySample is the server's memory at one moment of a run.
type MemorySample struct {
	// T is the time since the run's start (its warm-up included), seconds.
	T float64 `json:"t"`
	// RSS is the server process's resident memory (VmRSS), bytes.
	RSS int64 `json:"rss_bytes"`
	// Heap is the Go heap in use (go_memstats_heap_inuse_bytes from the
	// server's /metrics), bytes; 0 when /metrics could not be read.
	Heap int64 `json:"heap_bytes,omitempty"`
	// Live is the heap the server's last collection left live
	// (go_gc_heap_live_bytes), bytes; 0 when /metrics does not say.
	Live int64 `json:"live_heap_bytes,omitempty"`
}

// ProcessRSS returns the resident memory of process pid, from
// /proc/PID/status (Linux only).
func ProcessRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("bench: cannot read memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			fields := bytes.Fields(rest)
			if len(fields) == 2 && string(fields[1]) == "kB" {
				kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS in /proc/%d/status", pid)
}

// heapInUse reads go_memstats_heap_inuse_bytes from a Prometheus text
// exposition.
func heapInUse(metrics []byte) (int64, bool) {
	v, ok := metricValue(metrics, "go_memstats_heap_inuse_bytes")
	return int64(v), ok
}

// liveHeap reads go_gc_heap_live_bytes from a Prometheus text exposition.
func liveHeap(metrics []byte) (int64, bool) {
	v, ok := metricValue(metrics, "go_gc_heap_live_bytes")
	return int64(v), ok
}

// metricValue reads the value of the sample called name, without labels,
// from a Prometheus text exposition.
func metricValue(metrics []byte, name string) (float64, bool) {
	for line := range bytes.SplitSeq(metrics, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(name)); ok && len(rest) > 0 && rest[0] == ' ' {
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// readMetrics fetches the server's metrics (RunOptions.MetricsURL).
func (d *driver) readMetrics() ([]byte, bool) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(d.opts.MetricsURL)
	if d.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.opts.Token)
	}
	if err := fasthttp.DoTimeout(req, resp, time.Second); err != nil || resp.StatusCode() != 200 {
		return nil, false
	}
	return append([]byte(nil), resp.Body()...), true
}

// sampleMemory samples the server's memory every MemoryEvery until ctx
// ends, then sends the samples on the channel it returns.
func (d *driver) sampleMemory(ctx context.Context) <-chan []MemorySample {
	out := make(chan []MemorySample, 1)
	if d.opts.ServerPID <= 0 {
		out <- nil
		return out
	}
	go func() {
		var samples []MemorySample
		defer func() { out <- samples }()
		tick := time.NewTicker(d.opts.MemoryEvery)
		defer tick.Stop()
		for {
			s := MemorySample{T: time.Since(d.base).Seconds()}
			rss, err := ProcessRSS(d.opts.ServerPID)
			if err != nil {
				return
			}
			s.RSS = rss
			if m, ok := d.readMetrics(); ok {
				s.Heap, _ = heapInUse(m)
				s.Live, _ = liveHeap(m)
			}
			samples = append(samples, s)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// memorySeries is one of a sample's values: the resident memory, the heap
// in use or the live heap.
type memorySeries struct {
	of func(MemorySample) int64
	// lows says that its growth is read from each minute's lowest value,
	// what a collection leaves (the live heap), rather than from the
	// sawtooth between collections.
	lows bool
}

var (
	rssSeries  = memorySeries{of: func(s MemorySample) int64 { return s.RSS }}
	heapSeries = memorySeries{of: func(s MemorySample) int64 { return s.Heap }, lows: true}
	liveSeries = memorySeries{of: func(s MemorySample) int64 { return s.Live }}
)

// heapGrowth is how fast a run's Go heap grows: its live heap's slope, or,
// for a server that does not export it, the slope of each minute's lowest
// heap in use. The live heap is the better figure: under a memory limit,
// with GOGC raised, a collection may come less than once a minute, and a
// minute without one has its low anywhere in the sawtooth.
func heapGrowth(r *Run) (float64, bool) {
	if g, ok := memoryFigure(memoryGrowth, liveSeries)(r); ok {
		return g, true
	}
	return memoryFigure(memoryGrowth, heapSeries)(r)
}

// memoryGrowth returns how fast samples' values in series m grow in the
// second half of the measured window [from, to] seconds, in MiB per minute:
// the least-squares slope of the values there, or of each minute's lowest
// value when m.lows. The first half is left out: a server fills its caches
// and logs for a while before it can be steady. It returns false when fewer
// than two points fall in the half.
func memoryGrowth(samples []MemorySample, from, to float64, m memorySeries) (float64, bool) {
	get := m.of
	mid := (from + to) / 2
	var pts [][2]float64 // minutes, MiB
	if m.lows {
		type minute struct{ low, first, last float64 }
		byMinute := map[int]*minute{}
		for _, s := range samples {
			if s.T < mid || s.T > to || get(s) == 0 {
				continue
			}
			k, v := int((s.T-mid)/60), float64(get(s))
			if m := byMinute[k]; m == nil {
				byMinute[k] = &minute{low: v, first: s.T, last: s.T}
			} else {
				m.low, m.last = min(m.low, v), s.T
			}
		}
		for k, m := range byMinute {
			if m.last-m.first >= 45 { // a minute seen whole enough to hold a collection
				pts = append(pts, [2]float64{float64(k), m.low / (1 << 20)})
			}
		}
	} else {
		for _, s := range samples {
			if s.T >= mid && s.T <= to && get(s) != 0 {
				pts = append(pts, [2]float64{s.T / 60, float64(get(s)) / (1 << 20)})
			}
		}
	}
	var n, sx, sy, sxx, sxy float64
	for _, p := range pts {
		n++
		sx += p[0]
		sy += p[1]
		sxx += p[0] * p[0]
		sxy += p[0] * p[1]
	}
	if n < 2 || n*sxx == sx*sx {
		return 0, false
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx), true
}

// memoryMax returns the largest of samples' values in series m in the
// measured window, in MiB.
func memoryMax(samples []MemorySample, from, to float64, m memorySeries) (float64, bool) {
	best, ok := 0.0, false
	for _, s := range samples {
		if s.T >= from && s.T <= to {
			best, ok = max(best, float64(m.of(s))/(1<<20)), true
		}
	}
	return best, ok
}
