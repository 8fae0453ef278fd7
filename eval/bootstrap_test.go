package eval

import (
	"math"
	"testing"
)

// TestBootstrapIntervals checks the resampling on cases worked out by hand:
// users who all score alike give a zero-width interval at their rate; a
// population split between hits and misses gives an interval around the
// rate whose width matches the normal approximation of a ratio over users;
// and a recommender paired with itself has a lift of exactly zero.
func TestBootstrapIntervals(t *testing.T) {
	same := make([]userSums, 50)
	for i := range same {
		same[i] = userSums{targets: 4, hits: 1, rr: 0.5}
	}
	draws := resamples(len(same))
	hr, mrr := ratios(same, draws)
	if iv := percentile95(hr); iv != [2]float64{0.25, 0.25} {
		t.Errorf("HR interval of identical users = %v, want [0.25 0.25]", iv)
	}
	if iv := percentile95(mrr); iv != [2]float64{0.125, 0.125} {
		t.Errorf("MRR interval of identical users = %v, want [0.125 0.125]", iv)
	}

	// 400 users with one target each, half of them hit: HR 0.5, and the
	// bootstrap's standard error is sqrt(0.25/400) = 0.025, so the 95%
	// interval is about 0.5 ± 0.049.
	split := make([]userSums, 400)
	for i := range split {
		split[i] = userSums{targets: 1}
		if i%2 == 0 {
			split[i].hits, split[i].rr = 1, 1
		}
	}
	draws = resamples(len(split))
	hr, _ = ratios(split, draws)
	iv := percentile95(hr)
	if math.Abs(iv[0]-0.451) > 0.012 || math.Abs(iv[1]-0.549) > 0.012 {
		t.Errorf("HR interval of a half-hit population = %v, want about [0.451 0.549]", iv)
	}
	if l := lift(hr, hr); l != [2]float64{0, 0} {
		t.Errorf("lift of a recommender over itself = %v, want [0 0]", l)
	}
	// Resamples are reproducible: the same users give the same draws.
	again, _ := ratios(split, resamples(len(split)))
	for i := range again {
		if again[i] != hr[i] {
			t.Fatalf("resample %d differs between two calls", i)
		}
	}
}
