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

type covisitShard struct {
	mu    sync.RWMutex
	lists map[int32][]Neighbor // each sorted by weight, heaviest first
}

func newCovisit(kept int) *covisit {
	c := &covisit{kept: kept}
	for i := range c.shards {
		c.shards[i].lists = map[int32][]Neighbor{}
	}
	return c
}

func (c *covisit) shard(ord int32) *covisitShard { return &c.shards[uint32(ord)%uint32(len(c.shards))] }

// add counts w for the pair (a, b) in a's list.
func (c *covisit) add(a, b int32, w float32) {
	s := c.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.lists[a]
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
	s.lists[a] = list
}

func heavier(x, y Neighbor) bool {
	if x.Weight != y.Weight {
		return x.Weight > y.Weight
	}
	return x.Ord < y.Ord
}

// top appends a's k heaviest neighbours to dst.
func (c *covisit) top(a int32, k int, dst []Neighbor) []Neighbor {
	s := c.shard(a)
	s.mu.RLock()
	list := s.lists[a]
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
