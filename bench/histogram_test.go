package bench

import (
	"math"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	h := newHistogram()
	// 1 µs, 2 µs, ..., 10 ms: percentile q is q% of 10 ms.
	for v := 1; v <= 10000; v++ {
		record(h, time.Duration(v)*time.Microsecond)
	}
	p := percentiles(h)
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"p50", p.P50, 5000},
		{"p90", p.P90, 9000},
		{"p99", p.P99, 9900},
		{"p99.9", p.P999, 9990},
		{"max", p.Max, 10000},
		{"mean", p.Mean, 5000.5},
	} {
		// 3 significant digits: within 0.1%, plus the half-microsecond
		// rounding of the report.
		if math.Abs(tt.got-tt.want) > tt.want*0.001+1 {
			t.Errorf("%s: got %v µs, want %v µs within 0.1%%", tt.name, tt.got, tt.want)
		}
	}
	if got := percentiles(newHistogram()); got != (Percentiles{}) {
		t.Errorf("percentiles of an empty histogram: got %+v, want zeros", got)
	}
}

// One slow value in a thousand moves p99.9 and max, not p99.
func TestPercentilesTail(t *testing.T) {
	h := newHistogram()
	for i := range 1000 {
		d := 100 * time.Microsecond
		if i == 500 {
			d = 200 * time.Millisecond
		}
		record(h, d)
	}
	p := percentiles(h)
	if p.P99 > 101 || p.P999 > 101 || p.Max < 199000 {
		t.Errorf("999 x 100µs + 1 x 200ms: got p99 %v p99.9 %v max %v µs, want 100, 100, 200000", p.P99, p.P999, p.Max)
	}
	record(h, 200*time.Millisecond) // two in 1001: above the 99.9th percentile's rank
	if p := percentiles(h); p.P999 < 199000 {
		t.Errorf("998 x 100µs + 2 x 200ms: got p99.9 %v µs, want 200000", p.P999)
	}
}

func TestRecordClamps(t *testing.T) {
	h := newHistogram()
	record(h, -time.Second)
	record(h, time.Hour)
	if h.TotalCount() != 2 || h.Max() < int64(59*time.Second) {
		t.Errorf("record(-1s), record(1h): got count %d max %v, want 2 and about a minute", h.TotalCount(), time.Duration(h.Max()))
	}
}

func TestCurve(t *testing.T) {
	lat, svc := newHistogram(), newHistogram()
	for v := 1; v <= 100000; v++ {
		record(lat, time.Duration(v)*time.Microsecond)
		record(svc, time.Duration(v)*time.Microsecond/2)
	}
	c := curve(lat, svc)
	// Ten points per decade of 1/(1-p) up to 1/(1-p) = 100,000, then the max.
	if got, want := len(c), 52; got != want {
		t.Fatalf("curve of 100,000 values: got %d points, want %d", got, want)
	}
	if c[0].P != 0 || c[10].P < 89.99 || c[10].P > 90.01 || c[len(c)-1].P != 100 {
		t.Errorf("curve percentiles: got first %v, 11th %v, last %v, want 0, 90, 100", c[0].P, c[10].P, c[len(c)-1].P)
	}
	for i := 1; i < len(c); i++ {
		if c[i].P <= c[i-1].P || c[i].LatencyUS < c[i-1].LatencyUS || c[i].ServiceUS < c[i-1].ServiceUS {
			t.Fatalf("curve point %d: got %+v after %+v, want increasing", i, c[i], c[i-1])
		}
	}
	if last := c[len(c)-1]; math.Abs(last.LatencyUS-100000) > 100 || math.Abs(last.ServiceUS-50000) > 50 {
		t.Errorf("curve max: got %+v, want latency 100000 and service 50000 µs", last)
	}
	if got := curve(newHistogram(), newHistogram()); got != nil {
		t.Errorf("curve of empty histograms: got %v, want nil", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tt.in...)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Errorf("median(%v) changed its input to %v", tt.in, in)
			}
		}
	}
}
