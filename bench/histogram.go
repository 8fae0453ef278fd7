package bench

import (
	"math"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram ranges: values are nanoseconds, resolved to about a microsecond
// at the low end and to 3 significant digits (2 for the per-second
// histograms of the time series) up to a minute; longer values count as a
// minute.
const (
	histLowest  = 1000
	histHighest = int64(time.Minute)
)

func newHistogram() *hdr.Histogram       { return hdr.New(histLowest, histHighest, 3) }
func newSecondHistogram() *hdr.Histogram { return hdr.New(histLowest, histHighest, 2) }

// record adds d to h, clamped to the histogram's range.
func record(h *hdr.Histogram, d time.Duration) {
	h.RecordValue(min(max(int64(d), 0), histHighest))
}

// Percentiles summarise a latency distribution, in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p99.9_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

func us(ns int64) float64 { return math.Round(float64(ns)/10) / 100 }

// percentiles reads h. Each percentile is the highest value equivalent (at
// the histogram's precision) to the recorded value at that rank.
func percentiles(h *hdr.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
		Mean: math.Round(h.Mean()/10) / 100,
	}
}

// CurvePoint is one point of a latency-by-percentile curve.
type CurvePoint struct {
	P         float64 `json:"p"` // percentile, 0 to 100
	LatencyUS float64 `json:"latency_us"`
	ServiceUS float64 `json:"service_us"`
}

// curve samples the latency and service-time distributions at percentiles
// evenly spaced on a log scale of 1/(1-p): ten points per decade (0%, 20.6%,
// ..., 90%, ..., 99%, ...) as far as the sample count resolves, then 100%
// (the maximum).
func curve(latency, service *hdr.Histogram) []CurvePoint {
	n := latency.TotalCount()
	if n == 0 {
		return nil
	}
	var out []CurvePoint
	for j := 0; ; j++ {
		inv := math.Pow(10, float64(j)/10) // 1/(1-p)
		if inv > float64(n) || j > 60 {
			break
		}
		p := 100 * (1 - 1/inv)
		out = append(out, CurvePoint{P: p, LatencyUS: us(latency.ValueAtQuantile(p)), ServiceUS: us(service.ValueAtQuantile(p))})
	}
	out = append(out, CurvePoint{P: 100, LatencyUS: us(latency.Max()), ServiceUS: us(service.Max())})
	return out
}
