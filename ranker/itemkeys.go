package ranker

import (
	"sync"
	"sync/atomic"

	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/model"
)

// itemKeys are the click-model keys of one catalog entry that no request
// changes: its item feature, its leaf category's key and feature, and its
// title's terms. A warm model scores every candidate of every request, so
// they are worked out once per entry rather than once per candidate.
type itemKeys struct {
	doc    *index.Doc // the entry they were worked out for; an upsert makes a new one
	item   model.Feature
	hasCat bool
	cat    model.Hash
	catF   model.Feature
	terms  [maxItemTerms]model.Hash
	nterms int
}

// keyCache holds the itemKeys of the entries ranked so far, by ordinal.
// Reads take no lock; growth, under mu, copies the slots, and a key stored
// into the old slots meanwhile is worked out again when next needed.
type keyCache struct {
	mu    sync.Mutex
	slots atomic.Pointer[[]atomic.Pointer[itemKeys]]
}

// get returns the keys of the entry f describes, working them out when its
// entry is new.
func (k *keyCache) get(r *Ranker, f *index.Facts) *itemKeys {
	d := f.Doc
	slots := k.slots.Load()
	if slots != nil && int(d.Ord) < len(*slots) {
		if e := (*slots)[d.Ord].Load(); e != nil && e.doc == d {
			return e
		}
	}
	e := &itemKeys{doc: d, item: nsItem.Str(d.Item.ID).Feature(1)}
	if leaf := f.Leaf(); leaf >= 0 {
		e.hasCat = true
		e.cat = nsCategory.Str(r.idx.CategoryKey(leaf))
		e.catF = e.cat.Feature(1)
	}
	e.nterms = len(appendTermHashes(e.terms[:0], nsItemTerm, d.Item.Title, maxItemTerms))
	if slots == nil || int(d.Ord) >= len(*slots) {
		slots = k.grow(d.Ord)
	}
	(*slots)[d.Ord].Store(e)
	return e
}

// grow makes room for ord and returns the slots.
func (k *keyCache) grow(ord int32) *[]atomic.Pointer[itemKeys] {
	k.mu.Lock()
	defer k.mu.Unlock()
	slots := k.slots.Load()
	n := 0
	if slots != nil {
		n = len(*slots)
	}
	if int(ord) < n {
		return slots
	}
	next := make([]atomic.Pointer[itemKeys], max(2*n, int(ord)+1, 1024))
	for i := 0; i < n; i++ {
		next[i].Store((*slots)[i].Load())
	}
	k.slots.Store(&next)
	return &next
}
