package ranker

import "slices"

// choose fills res with the n best candidates (a higher score, then a lower
// id), no leaf category taking more than its share of the slot while other
// candidates remain; what the share held back fills the rest, best first.
//
// Only a leaf's best maxLeaf candidates can be taken before that fill, so one
// pass over the candidates keeps each leaf's best (a short list, best first,
// that most candidates only compare with the last of), and a pass over those
// keeps the best n the same way. Popping the best of all candidates from a
// heap instead pops every candidate of a full leaf on the way: dozens when
// the user's interests are narrow (72 pops for a slot of 10 on the benchmark
// world), each a walk down the heap whose comparisons the processor cannot
// predict.
func (r *Ranker) choose(s *scratch, n int, res *Result) {
	maxLeaf := max(1, int(float64(n)*r.opts.MaxPerLeaf))
	s.tops, s.topN = s.tops[:0], s.topN[:0]
	open, held := s.open[:0], s.held[:0]
	for i := range s.cands {
		c := &s.cands[i]
		e := rankEntry{score: c.score, i: int32(i)}
		leaf := c.it.Leaf()
		if leaf < 0 {
			open = append(open, e) // no leaf, no share to keep
			continue
		}
		if int(leaf) >= len(s.leaves) {
			// A category the catalog got after the scratch was sized.
			s.leaves = append(s.leaves, make([]leafState, int(leaf)+1-len(s.leaves))...)
		}
		ls := &s.leaves[leaf]
		if ls.gen != s.gen {
			*ls = leafState{gen: s.gen, at: int32(len(s.topN))}
			s.topN = append(s.topN, 0)
			s.tops = slices.Grow(s.tops, maxLeaf)[:len(s.tops)+maxLeaf]
		}
		top := s.tops[int(ls.at)*maxLeaf : int(ls.at+1)*maxLeaf]
		if out, ok := keepBest(top, &s.topN[ls.at], e, s.cands); ok {
			held = append(held, out)
		}
	}
	for at, k := range s.topN {
		open = append(open, s.tops[at*maxLeaf:at*maxLeaf+int(k)]...)
	}
	// The best n of those, best first.
	best := slices.Grow(s.best[:0], n)[:n]
	var kept int32
	for _, e := range open {
		keepBest(best, &kept, e, s.cands)
	}
	for _, e := range best[:kept] {
		res.Items = append(res.Items, scored(&s.cands[e.i]))
	}
	if len(res.Items) < n && len(held) > 0 {
		// Not enough variety: fill with what the share held back.
		slices.SortFunc(held, func(a, b rankEntry) int {
			switch {
			case better(a, b, s.cands):
				return -1
			case better(b, a, s.cands):
				return 1
			}
			return 0
		})
		for _, e := range held[:min(len(held), n-len(res.Items))] {
			res.Items = append(res.Items, scored(&s.cands[e.i]))
		}
	}
	s.open, s.held, s.best = open, held, best
}

// leafState is where choose keeps a leaf category's best candidates: at
// s.tops[at*maxLeaf:], valid when gen is the scratch's.
type leafState struct {
	gen uint32
	at  int32
}

// keepBest keeps e in top, the best of a leaf so far, best first, of which
// *kept are filled. It returns the entry that no longer fits, if any: e
// itself, or the worst of top that e displaced.
func keepBest(top []rankEntry, kept *int32, e rankEntry, cands []cand) (rankEntry, bool) {
	k := int(*kept)
	var out rankEntry
	full := k == len(top)
	if full {
		if !better(e, top[k-1], cands) {
			return e, true
		}
		out = top[k-1]
		k--
	}
	j := k
	for j > 0 && better(e, top[j-1], cands) {
		top[j] = top[j-1]
		j--
	}
	top[j] = e
	*kept = int32(k + 1)
	return out, full
}

// rankEntry is a candidate as choose compares it: its score and its index
// in the scratch's candidates, side by side, so that comparing two scores
// reads neither candidate.
type rankEntry struct {
	score float64
	i     int32
}

// better reports whether a ranks before b: a higher score, then a lower id.
func better(a, b rankEntry, cands []cand) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return cands[a.i].it.Doc.Item.ID < cands[b.i].it.Doc.Item.ID
}
