package eval

import (
	"math/rand/v2"
	"slices"
)

// userSums are one user's sums over the points scored: targets, targets
// found in the top K, and the sum of their reciprocal ranks.
type userSums struct {
	targets, hits, rr float64
}

// bootstrapSamples is how many resamples the intervals take.
const bootstrapSamples = 1000

// bootstrapSeed makes the intervals reproducible to the digit.
const bootstrapSeed = 20261204

// resamples draws bootstrapSamples resamples of n users with replacement:
// each is a count per user (how many times it was drawn). Every recommender
// of a replay is resampled with the same draws, so that their differences
// are paired.
func resamples(n int) [][]uint16 {
	r := rand.New(rand.NewPCG(bootstrapSeed, uint64(n)))
	out := make([][]uint16, bootstrapSamples)
	for b := range out {
		w := make([]uint16, n)
		for range n {
			w[r.IntN(n)]++
		}
		out[b] = w
	}
	return out
}

// ratios returns, for each resample, HR (hits over targets) and MRR (rr
// over targets) of the users drawn.
func ratios(users []userSums, draws [][]uint16) (hr, mrr []float64) {
	hr = make([]float64, len(draws))
	mrr = make([]float64, len(draws))
	for b, w := range draws {
		var t, h, r float64
		for u, k := range w {
			if k == 0 {
				continue
			}
			f := float64(k)
			t += f * users[u].targets
			h += f * users[u].hits
			r += f * users[u].rr
		}
		if t > 0 {
			hr[b], mrr[b] = h/t, r/t
		}
	}
	return hr, mrr
}

// percentile95 is the 2.5th and 97.5th percentiles of xs.
func percentile95(xs []float64) [2]float64 {
	if len(xs) == 0 {
		return [2]float64{}
	}
	xs = slices.Sorted(slices.Values(xs))
	at := func(q float64) float64 { return xs[int(q*float64(len(xs)-1)+0.5)] }
	return [2]float64{at(0.025), at(0.975)}
}

// lift is the 95% interval of a/b - 1 over paired resamples.
func lift(a, b []float64) [2]float64 {
	d := make([]float64, 0, len(a))
	for i := range a {
		if b[i] > 0 {
			d = append(d, a[i]/b[i]-1)
		}
	}
	return percentile95(d)
}
