package index

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// BM25 parameters (Robertson and Zaragoza's usual values).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// textIndex is an inverted index over item text with BM25 scoring.
type textIndex struct {
	// gen is advanced, inside the write lock, by every change; searches
	// cached at an older generation are stale.
	gen      atomic.Uint64
	mu       sync.RWMutex
	postings map[string]*postingList
	lists    []*postingList // by list id; nil for a free id
	free     []int32        // list ids free for reuse
	docLen   []uint16       // terms per ordinal; 0 for ordinals not indexed
	// docLists holds, by ordinal, the ids of the lists the document is in:
	// what removing it touches. Ids, not pointers or terms, so that the
	// collector has nothing to follow in a hundred thousand of them.
	docLists [][]int32
	docs     int
	totalLen int
}

type postingList struct {
	term string // the key the list is filed under
	id   int32  // its place in lists
	ords []int32
	tfs  []uint16
}

func newTextIndex() *textIndex { return &textIndex{postings: map[string]*postingList{}} }

// listLocked returns the posting list of term, making an empty one when
// there is none.
func (t *textIndex) listLocked(term string) *postingList {
	if pl := t.postings[term]; pl != nil {
		return pl
	}
	pl := &postingList{term: term, id: int32(len(t.lists))}
	if n := len(t.free); n > 0 {
		pl.id, t.free = t.free[n-1], t.free[:n-1]
		t.lists[pl.id] = pl
	} else {
		t.lists = append(t.lists, pl)
	}
	t.postings[term] = pl
	return pl
}

// docText returns the terms of an item: its title, tags, brand and the names of
// every level of its category.
func docText(it *Item) []string {
	terms := AppendTerms(nil, it.Title)
	for _, t := range it.Tags {
		terms = AppendTerms(terms, t)
	}
	terms = AppendTerms(terms, it.Brand)
	for _, c := range it.Category {
		terms = AppendTerms(terms, c)
	}
	return terms
}

// put indexes ord with terms, replacing what was indexed for it before.
func (t *textIndex) put(ord int32, terms []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen.Add(1)
	t.removeLocked(ord)
	for int(ord) >= len(t.docLen) {
		t.docLen = append(t.docLen, 0)
		t.docLists = append(t.docLists, nil)
	}
	if len(terms) == 0 {
		return
	}
	counts := map[string]uint16{}
	for _, term := range terms {
		if counts[term] < math.MaxUint16 {
			counts[term]++
		}
	}
	lists := make([]int32, 0, len(counts))
	for term, tf := range counts {
		pl := t.listLocked(term)
		// Keep postings sorted by ordinal so that removal can binary-search.
		i, _ := slices.BinarySearch(pl.ords, ord)
		pl.ords = slices.Insert(pl.ords, i, ord)
		pl.tfs = slices.Insert(pl.tfs, i, tf)
		lists = append(lists, pl.id)
	}
	n := len(terms)
	if n > math.MaxUint16 {
		n = math.MaxUint16
	}
	t.docLen[ord] = uint16(n)
	t.docLists[ord] = lists
	t.docs++
	t.totalLen += n
}

func (t *textIndex) remove(ord int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen.Add(1)
	t.removeLocked(ord)
}

func (t *textIndex) removeLocked(ord int32) {
	if int(ord) >= len(t.docLen) || t.docLists[ord] == nil {
		return
	}
	for _, id := range t.docLists[ord] {
		pl := t.lists[id]
		if i, ok := slices.BinarySearch(pl.ords, ord); ok {
			pl.ords = slices.Delete(pl.ords, i, i+1)
			pl.tfs = slices.Delete(pl.tfs, i, i+1)
		}
		if len(pl.ords) == 0 {
			delete(t.postings, pl.term)
			t.lists[id] = nil
			t.free = append(t.free, id)
		}
	}
	t.docs--
	t.totalLen -= int(t.docLen[ord])
	t.docLen[ord] = 0
	t.docLists[ord] = nil
}

// search adds the BM25 score of every document matching terms into acc.
func (t *textIndex) search(terms []string, acc *accumulator) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.docs == 0 {
		return
	}
	avg := float64(t.totalLen) / float64(t.docs)
	n := float64(t.docs)
	for qi, term := range terms {
		if slices.Contains(terms[:qi], term) {
			continue // a repeated query term counts once
		}
		pl := t.postings[term]
		if pl == nil {
			continue
		}
		df := float64(len(pl.ords))
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for i, ord := range pl.ords {
			tf := float64(pl.tfs[i])
			norm := bm25K1 * (1 - bm25B + bm25B*float64(t.docLen[ord])/avg)
			acc.add(ord, idf*tf*(bm25K1+1)/(tf+norm))
		}
	}
}
