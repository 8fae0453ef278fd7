package index

import "slices"

// Hit is an item and a score.
type Hit struct {
	Ord   int32
	Score float64
}

// accumulator sums scores per ordinal without a map: a dense array of slots
// stamped with a generation, so that resetting it costs nothing. A slot's
// stamp and its place in hits sit side by side: one cache line per add.
type accumulator struct {
	gen   uint32
	slots []accSlot // ordinal -> its hit, when stamped with gen
	hits  []Hit

	warmed uint32 // what warm read, kept so that its reads are not optimized away
}

// accSlot is where an ordinal's hit is, valid when gen is the
// accumulator's.
type accSlot struct {
	gen uint32
	at  int32
}

func (a *accumulator) reset(size int) {
	a.gen++
	if a.gen == 0 {
		clear(a.slots)
		a.gen = 1
	}
	if len(a.slots) < size {
		a.slots = append(a.slots, make([]accSlot, size-len(a.slots))...)
	}
	a.hits = a.hits[:0]
}

func (a *accumulator) add(ord int32, s float64) {
	if int(ord) >= len(a.slots) {
		return // added after reset sized the accumulator; seen next time
	}
	sl := &a.slots[ord]
	if sl.gen != a.gen {
		*sl = accSlot{gen: a.gen, at: int32(len(a.hits))}
		a.hits = append(a.hits, Hit{Ord: ord, Score: s})
		return
	}
	a.hits[sl.at].Score += s
}

// warm reads the slots of ords, so that adding them next finds them in
// cache: the reads depend on nothing but ords, and the processor overlaps
// their misses.
func (a *accumulator) warm(ords []int32) {
	var sink uint32
	for _, ord := range ords {
		if uint(ord) < uint(len(a.slots)) {
			sink += a.slots[ord].gen
		}
	}
	a.warmed = sink
}

// drop takes ord's hit out, if it has one.
func (a *accumulator) drop(ord int32) {
	if ord < 0 || int(ord) >= len(a.slots) || a.slots[ord].gen != a.gen {
		return
	}
	at := a.slots[ord].at
	a.slots[ord].gen = a.gen - 1
	last := len(a.hits) - 1
	if int(at) != last {
		a.hits[at] = a.hits[last]
		a.slots[a.hits[at].Ord].at = at
	}
	a.hits = a.hits[:last]
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
