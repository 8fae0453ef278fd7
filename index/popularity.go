package index

import (
	"math"
	"slices"
	"sync"
)

// popularity keeps exponentially decayed event counts per item and, for the
// whole catalog and for every category, the list of the most popular items.
//
// Scores are stored scaled to a reference time t0: an event of weight w at time
// ts adds w*2^((ts-t0)/halfLife). Decay multiplies every score by the same
// factor, so it never changes the order and the top lists stay exact under
// increments alone; the scale is only applied when scores are read.
type popularity struct {
	mu       sync.RWMutex
	halfLife float64 // milliseconds
	kept     int
	t0       int64
	score    []float64 // by ordinal
	global   []int32   // ordinals, most popular first
	byCat    [][]int32 // by category id
}

func newPopularity(halfLifeMS int64, kept int) *popularity {
	return &popularity{halfLife: float64(halfLifeMS), kept: kept}
}

// add counts an event of weight w at ts for item ord in categories cats.
func (p *popularity) add(ord int32, cats []int32, w float64, ts int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.score) == 0 {
		// The first event sets the reference time (which may be zero).
		p.t0 = ts
	}
	exp := float64(ts-p.t0) / p.halfLife
	if exp > 512 {
		// Move the reference time forward before the scale overflows.
		f := math.Exp2(-exp)
		for i := range p.score {
			p.score[i] *= f
		}
		p.t0 = ts
		exp = 0
	}
	for int(ord) >= len(p.score) {
		p.score = append(p.score, 0)
	}
	p.score[ord] += w * math.Exp2(exp)
	p.global = p.bump(p.global, ord)
	for _, c := range cats {
		for int(c) >= len(p.byCat) {
			p.byCat = append(p.byCat, nil)
		}
		p.byCat[c] = p.bump(p.byCat[c], ord)
	}
}

// bump keeps list the kept most popular ordinals, best first, after ord's
// score rose.
func (p *popularity) bump(list []int32, ord int32) []int32 {
	if last := len(list) - 1; len(list) == p.kept && list[last] != ord && !p.before(ord, list[last]) {
		// Not in the list (everything in it ranks above the last), and does
		// not outrank the last under the list's own order, ties by ordinal.
		return list
	}
	i := slices.Index(list, ord)
	if i < 0 {
		if len(list) < p.kept {
			list = append(list, ord)
			i = len(list) - 1
		} else {
			i = len(list) - 1
			list[i] = ord
		}
	}
	for i > 0 && p.before(list[i], list[i-1]) {
		list[i], list[i-1] = list[i-1], list[i]
		i--
	}
	return list
}

func (p *popularity) before(a, b int32) bool {
	if p.score[a] != p.score[b] {
		return p.score[a] > p.score[b]
	}
	return a < b
}

// top appends up to k of the most popular items of category cat (every item
// when cat is negative) to dst, with their decayed scores as of now. keep
// filters out items the caller cannot use (or that have left the category since
// they were counted); skipped items do not count toward k.
func (p *popularity) top(cat int32, k int, now int64, keep func(ord, cat int32) bool, dst []Hit) []Hit {
	p.mu.RLock()
	defer p.mu.RUnlock()
	list := p.global
	if cat >= 0 {
		if int(cat) >= len(p.byCat) {
			return dst
		}
		list = p.byCat[cat]
	}
	f := math.Exp2(float64(p.t0-now) / p.halfLife)
	n := 0
	for _, ord := range list {
		if n == k {
			break
		}
		if keep != nil && !keep(ord, cat) {
			continue
		}
		dst = append(dst, Hit{Ord: ord, Score: p.score[ord] * f})
		n++
	}
	return dst
}

// get returns the decayed score of ord as of now.
func (p *popularity) get(ord int32, now int64) float64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if int(ord) >= len(p.score) {
		return 0
	}
	return p.score[ord] * math.Exp2(float64(p.t0-now)/p.halfLife)
}

// getAll appends the decayed scores of ords as of now to dst.
func (p *popularity) getAll(ords []int32, now int64, dst []float64) []float64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	f := math.Exp2(float64(p.t0-now) / p.halfLife)
	for _, o := range ords {
		v := 0.0
		if o >= 0 && int(o) < len(p.score) {
			v = p.score[o] * f
		}
		dst = append(dst, v)
	}
	return dst
}
