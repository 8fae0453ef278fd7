package index

import "slices"

// Hit is an item and a score.
type Hit struct {
	Ord   int32
	Score float64
}

// accumulator sums scores per ordinal without a map: a dense array of slots
// stamped with a generation, so that resetting it costs nothing.
type accumulator struct {
	gen   uint32
	stamp []uint32
	slot  []int32
	hits  []Hit
}

func (a *accumulator) reset(size int) {
	a.gen++
	if a.gen == 0 {
		clear(a.stamp)
		a.gen = 1
	}
	if len(a.stamp) < size {
		a.stamp = append(a.stamp, make([]uint32, size-len(a.stamp))...)
		a.slot = append(a.slot, make([]int32, size-len(a.slot))...)
	}
	a.hits = a.hits[:0]
}

func (a *accumulator) add(ord int32, s float64) {
	if int(ord) >= len(a.stamp) {
		return // added after reset sized the accumulator; seen next time
	}
	if a.stamp[ord] != a.gen {
		a.stamp[ord] = a.gen
		a.slot[ord] = int32(len(a.hits))
		a.hits = append(a.hits, Hit{Ord: ord, Score: s})
		return
	}
	a.hits[a.slot[ord]].Score += s
}

// top returns the best k hits, best first (ties by ordinal). It selects in
// place with a bounded heap, O(n log k), rather than sorting every hit.
func (a *accumulator) top(k int) []Hit {
	h := a.hits
	if k <= 0 {
		return h[:0]
	}
	if len(h) > k {
		// h[:k] is a heap whose root is the worst of the best k so far.
		for i := k/2 - 1; i >= 0; i-- {
			siftDown(h[:k], i)
		}
		for i := k; i < len(h); i++ {
			if compareHits(h[i], h[0]) < 0 {
				h[0] = h[i]
				siftDown(h[:k], 0)
			}
		}
		h = h[:k]
	}
	slices.SortFunc(h, compareHits)
	return h
}

// siftDown restores the heap property (worst hit at the root) below i.
func siftDown(h []Hit, i int) {
	for {
		worst := i
		l, r := 2*i+1, 2*i+2
		if l < len(h) && compareHits(h[l], h[worst]) > 0 {
			worst = l
		}
		if r < len(h) && compareHits(h[r], h[worst]) > 0 {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

func compareHits(x, y Hit) int {
	switch {
	case x.Score > y.Score:
		return -1
	case x.Score < y.Score:
		return 1
	case x.Ord < y.Ord:
		return -1
	case x.Ord > y.Ord:
		return 1
	}
	return 0
}
