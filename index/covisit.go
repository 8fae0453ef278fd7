package index

import "sync"

// Neighbor is an item seen together with another, and how strongly.
type Neighbor struct {
	Ord    int32
	Weight float32
}

// covisit counts, for every item, the items seen close to it in users'
// histories (item-to-item co-visitation, as in Linden et al. 2003). Each item
// keeps a bounded list maintained with the Space-Saving algorithm (Metwally et
// al. 2005): when the list is full, a new neighbour replaces the weakest and
// inherits its count, so the heaviest neighbours are kept in bounded memory.
type covisit struct {
	kept   int
	shards [64]covisitShard
}

// covisitShard holds the lists of the ordinals o with o % 64 == its index,
// at lists[o/64]: a slice rather than a map, so that reading a list costs
// one lookup that misses the cache rather than a hash and a probe.
type covisitShard struct {
	mu    sync.RWMutex
	lists [][]Neighbor // each sorted by weight, heaviest first
}

func newCovisit(kept int) *covisit { return &covisit{kept: kept} }

func (c *covisit) shard(ord int32) (*covisitShard, int) {
	return &c.shards[uint32(ord)%uint32(len(c.shards))], int(uint32(ord) / uint32(len(c.shards)))
}

// add counts w for the pair (a, b) in a's list.
func (c *covisit) add(a, b int32, w float32) {
	if a < 0 {
		return
	}
	s, at := c.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if at >= len(s.lists) {
		s.lists = append(s.lists, make([][]Neighbor, at+1-len(s.lists))...)
	}
	list := s.lists[at]
	i := -1
	for j := range list {
		if list[j].Ord == b {
			i = j
			break
		}
	}
	switch {
	case i >= 0:
		list[i].Weight += w
	case len(list) < c.kept:
		list = append(list, Neighbor{Ord: b, Weight: w})
		i = len(list) - 1
	default:
		i = len(list) - 1
		list[i] = Neighbor{Ord: b, Weight: list[i].Weight + w}
	}
	for i > 0 && heavier(list[i], list[i-1]) {
		list[i], list[i-1] = list[i-1], list[i]
		i--
	}
	s.lists[at] = list
}

func heavier(x, y Neighbor) bool {
	if x.Weight != y.Weight {
		return x.Weight > y.Weight
	}
	return x.Ord < y.Ord
}

// top appends a's k heaviest neighbours to dst.
func (c *covisit) top(a int32, k int, dst []Neighbor) []Neighbor {
	if a < 0 {
		return dst
	}
	s, at := c.shard(a)
	s.mu.RLock()
	var list []Neighbor
	if at < len(s.lists) {
		list = s.lists[at]
	}
	if k < 0 {
		k = 0
	}
	if len(list) > k {
		list = list[:k]
	}
	dst = append(dst, list...)
	s.mu.RUnlock()
	return dst
}
