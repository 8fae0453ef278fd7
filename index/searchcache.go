package index

import (
	"hash/maphash"
	"slices"
	"sync"
)

// searchCache remembers the results of recent searches. Recommend asks for a
// user's latest searches on every call and searches repeat across users, so
// most BM25 evaluations are repeats. An entry is valid only while the text
// index is at the generation it was computed at: any catalog change makes
// every entry stale, so a cached answer is always the answer the index would
// give now.
type searchCache struct {
	seed   maphash.Seed
	shards [16]searchShard
}

type searchShard struct {
	mu      sync.Mutex
	entries map[uint64]*searchEntry
}

type searchEntry struct {
	terms []string
	k     int
	gen   uint64
	hits  []Hit
}

// maxSearchEntries bounds each shard; a full shard starts over.
const maxSearchEntries = 2048

func newSearchCache() *searchCache {
	c := &searchCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].entries = map[uint64]*searchEntry{}
	}
	return c
}

func (c *searchCache) key(terms []string, k int) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, t := range terms {
		h.WriteString(t)
		h.WriteByte(0)
	}
	h.WriteByte(byte(k))
	return h.Sum64()
}

// get appends the cached hits for (terms, k), hashed as key, at generation
// gen to dst.
func (c *searchCache) get(key uint64, terms []string, k int, gen uint64, dst []Hit) ([]Hit, bool) {
	sh := &c.shards[key%uint64(len(c.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.entries[key]
	if e == nil || e.gen != gen || e.k != k || !slices.Equal(e.terms, terms) {
		return dst, false
	}
	return append(dst, e.hits...), true
}

// put remembers hits as the answer for (terms, k), hashed as key, at
// generation gen.
func (c *searchCache) put(key uint64, terms []string, k int, gen uint64, hits []Hit) {
	sh := &c.shards[key%uint64(len(c.shards))]
	e := &searchEntry{terms: slices.Clone(terms), k: k, gen: gen, hits: slices.Clone(hits)}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.entries) >= maxSearchEntries {
		clear(sh.entries)
	}
	sh.entries[key] = e
}
