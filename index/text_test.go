package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// searchIDs returns the ids of Search(AppendTerms(query), k), best first.
func searchIDs(x *Index, query string, k int) []string {
	var ids []string
	for _, h := range x.Search(AppendTerms(nil, query), k, nil) {
		ids = append(ids, x.Doc(h.Ord).Item.ID)
	}
	return ids
}

func TestSearchBM25(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x,
		Item{ID: "two", Title: "red running jacket"},
		Item{ID: "three", Title: "red running shoes"},
		Item{ID: "one", Title: "red dress"},
		Item{ID: "none", Title: "blue sofa"},
		Item{ID: "long", Title: "shoes shoes and many other words about nothing much at all"},
	)
	hits := x.Search(AppendTerms(nil, "Red Running Shoes"), 10, nil)
	if len(hits) != 4 || x.Doc(hits[0].Ord).Item.ID != "three" {
		t.Fatalf("Search(%q) = %v, want 4 hits, %q first", "Red Running Shoes", hits, "three")
	}
	if !slices.IsSortedFunc(hits, compareHits) {
		t.Errorf("Search(%q) = %v, want best first", "Red Running Shoes", hits)
	}
	if got := searchIDs(x, "red running", 10); len(got) != 3 || !slices.Equal(got[:2], []string{"three", "two"}) && !slices.Equal(got[:2], []string{"two", "three"}) {
		t.Errorf("Search(%q) = %q, want the two items matching both terms first", "red running", got)
	}
	// A short title beats a long one that repeats the term.
	if got := searchIDs(x, "shoes", 10); !slices.Equal(got, []string{"three", "long"}) {
		t.Errorf("Search(%q) = %q, want %q", "shoes", got, []string{"three", "long"})
	}
	// A repeated query term counts once.
	a := x.Search([]string{"red", "red"}, 10, nil)
	b := x.Search([]string{"red"}, 10, nil)
	if !slices.Equal(a, b) {
		t.Errorf("Search(red red) = %v, want Search(red) = %v", a, b)
	}
	for _, tt := range []struct {
		terms []string
		k     int
		want  int
	}{
		{[]string{"red"}, 0, 0},
		{[]string{"red"}, 1, 1},
		{[]string{"red"}, 2, 2},
		{[]string{"unknown"}, 10, 0},
		{nil, 10, 0},
	} {
		if got := x.Search(tt.terms, tt.k, nil); len(got) != tt.want {
			t.Errorf("Search(%q, %d) = %v, want %d hits", tt.terms, tt.k, got, tt.want)
		}
	}
	// Search appends to dst.
	dst := []Hit{{Ord: -1}}
	if got := x.Search([]string{"sofa"}, 5, dst); len(got) != 2 || got[0].Ord != -1 {
		t.Errorf("Search(sofa, dst) = %v, want dst followed by one hit", got)
	}
}

func TestSearchCJK(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x,
		Item{ID: "shoe", Title: "轻量跑步鞋", Category: []string{"运动"}},
		Item{ID: "pan", Title: "不粘炒锅", Category: []string{"厨房", "锅具"}},
		Item{ID: "jp", Title: "ランニングシューズ"},
	)
	tests := []struct {
		query string
		want  []string
	}{
		{"跑步鞋", []string{"shoe"}},
		{"跑步", []string{"shoe"}},
		{"炒锅", []string{"pan"}},
		{"锅具", []string{"pan"}},
		{"シューズ", []string{"jp"}},
		{"自行车", nil},
	}
	for _, tt := range tests {
		if got := searchIDs(x, tt.query, 10); !slices.Equal(got, tt.want) {
			t.Errorf("Search(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

func TestSearchReupsert(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x, Item{ID: "a", Title: "vintage brass lamp", Tags: []string{"retro"}}, Item{ID: "b", Title: "brass hook"})
	mustUpsert(t, x, Item{ID: "a", Title: "modern oak chair"})
	tests := []struct {
		query string
		want  []string
	}{
		{"vintage", nil},
		{"retro", nil},
		{"brass", []string{"b"}},
		{"modern chair", []string{"a"}},
		{"oak", []string{"a"}},
	}
	for _, tt := range tests {
		if got := searchIDs(x, tt.query, 10); !slices.Equal(got, tt.want) {
			t.Errorf("Search(%q) after re-upsert = %q, want %q", tt.query, got, tt.want)
		}
	}
	// The same title again changes nothing; an empty one removes every term.
	mustUpsert(t, x, Item{ID: "a", Title: "modern oak chair"})
	if got := searchIDs(x, "oak", 10); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Search(%q) after the same upsert = %q, want %q", "oak", got, []string{"a"})
	}
	mustUpsert(t, x, Item{ID: "a"})
	if got := searchIDs(x, "modern oak chair", 10); got != nil {
		t.Errorf("Search(%q) after clearing the title = %q, want nothing", "modern oak chair", got)
	}
	if got := x.Len(); got != 2 {
		t.Errorf("Len() after re-upserts = %d, want 2", got)
	}
}

func TestSearchFields(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x,
		Item{ID: "tent", Title: "Dome 2", Tags: []string{"waterproof", "ultralight"}, Brand: "Nordisk",
			Category: []string{"Outdoor", "Camping Tents"}},
		Item{ID: "other", Title: "Kettle", Category: []string{"Kitchen"}},
	)
	for _, q := range []string{"waterproof", "ultralight", "nordisk", "NORDISK", "outdoor", "camping", "tent", "tents", "dome"} {
		if got := searchIDs(x, q, 10); !slices.Equal(got, []string{"tent"}) {
			t.Errorf("Search(%q) = %q, want %q", q, got, []string{"tent"})
		}
	}
}

// TestTextIndexStats checks the document count and total length BM25 uses
// across puts, replacements and removals.
func TestTextIndexStats(t *testing.T) {
	ti := newTextIndex()
	ti.put(3, []string{"a", "b", "a"})
	ti.put(1, []string{"b"})
	ti.put(3, []string{"c"})
	ti.put(5, nil)
	ti.remove(1)
	ti.remove(1)
	ti.remove(7)
	if ti.docs != 1 || ti.totalLen != 1 {
		t.Errorf("docs, totalLen = %d, %d, want 1, 1", ti.docs, ti.totalLen)
	}
	if len(ti.postings) != 1 || ti.postings["c"] == nil || !slices.Equal(ti.postings["c"].ords, []int32{3}) {
		t.Errorf("postings = %v, want only c -> [3]", ti.postings)
	}
	// The lists of a and b emptied: their ids are free, and a new term
	// takes one of them rather than growing the lists.
	n := len(ti.lists)
	ti.put(7, []string{"d"})
	d := ti.postings["d"]
	if len(ti.lists) != n || d == nil || ti.lists[d.id] != d || !slices.Equal(ti.docLists[7], []int32{d.id}) {
		t.Errorf("after put(7, d): %d lists (was %d), d = %+v, docLists[7] = %v", len(ti.lists), n, d, ti.docLists[7])
	}
	for id, pl := range ti.lists {
		if pl != nil && ti.postings[pl.term] != pl {
			t.Errorf("list %d (%q) is not the one filed under its term", id, pl.term)
		}
	}
}

// TestAccumulatorTop: the best k of random sums, some ordinals dropped on
// the way, against a map.
func TestAccumulatorTop(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var acc accumulator
	for round := 0; round < 200; round++ {
		size := 1 + r.IntN(300)
		acc.reset(size)
		want := map[int32]float64{}
		for i := r.IntN(2 * size); i > 0; i-- {
			ord := int32(r.IntN(size))
			s := float64(r.IntN(8)) // small integers: many ties
			acc.add(ord, s)
			want[ord] += s
			if r.IntN(8) == 0 { // dropped, and perhaps added again later
				drop := int32(r.IntN(size + 2))
				acc.drop(drop)
				delete(want, drop)
			}
		}
		var ref []Hit
		for ord, s := range want {
			ref = append(ref, Hit{Ord: ord, Score: s})
		}
		slices.SortFunc(ref, compareHits)
		k := r.IntN(len(ref) + 3)
		if k < len(ref) {
			ref = ref[:k]
		}
		got := append([]Hit(nil), acc.top(k)...)
		if !slices.Equal(got, ref) && !(len(got) == 0 && len(ref) == 0) {
			t.Fatalf("top(%d) in round %d = %v, want %v", k, round, got, ref)
		}
	}
}

func TestAccumulatorBeyondSize(t *testing.T) {
	var acc accumulator
	acc.reset(3)
	acc.add(5, 1) // an ordinal given out after the reset: ignored
	acc.add(1, 2)
	if got := acc.top(10); !slices.Equal(got, []Hit{{Ord: 1, Score: 2}}) {
		t.Errorf("top(10) = %v, want [{1 2}]", got)
	}
}

func TestAccumulatorGenerationWrap(t *testing.T) {
	acc := accumulator{gen: ^uint32(0) - 1}
	for i := 0; i < 4; i++ {
		acc.reset(4)
		acc.add(2, 1)
		acc.add(2, 1)
		if got := acc.top(10); len(got) != 1 || got[0] != (Hit{Ord: 2, Score: 2}) {
			t.Fatalf("top(10) after reset %d (gen %d) = %v, want [{2 2}]", i, acc.gen, got)
		}
	}
}

// Search results are cached; every catalog change must show in the next
// search, and a caller writing to its results must not change the cache.
func TestSearchCacheFollowsCatalog(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x, Item{ID: "a", Title: "desk lamp"})
	if got := searchIDs(x, "lamp", 10); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Search(lamp) = %q, want [a]", got)
	}
	hits := x.Search(AppendTerms(nil, "lamp"), 10, nil)
	hits[0].Ord = -1
	if got := searchIDs(x, "lamp", 10); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Search(lamp) after the caller changed its results = %q, want [a]", got)
	}
	mustUpsert(t, x, Item{ID: "b", Title: "lamp"})
	if got := searchIDs(x, "lamp", 10); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("Search(lamp) after an upsert = %q, want [b a]", got)
	}
	mustUpsert(t, x, Item{ID: "b", Title: "chair"})
	if got := searchIDs(x, "lamp", 10); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Search(lamp) after a retitle = %q, want [a]", got)
	}
	if err := x.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(x, "lamp", 10); len(got) != 0 {
		t.Fatalf("Search(lamp) after a delete = %q, want none", got)
	}
}
