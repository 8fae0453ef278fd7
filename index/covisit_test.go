package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func neighborIDs(x *Index, id string, k int) []string {
	ord, ok := x.Ord(id)
	if !ok {
		return nil
	}
	var out []string
	for _, n := range x.Neighbors(ord, k, nil) {
		out = append(out, x.cat.ids[n.Ord])
	}
	return out
}

func TestNeighborsWeights(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x, Item{ID: "x"}, Item{ID: "p"})
	// "q" and "r" are not in the catalog: they get ordinals all the same.
	x.Observe(Observation{Item: "x", Weight: 1, TS: base, Before: []string{"p", "q", "r"}})
	ord := func(id string) int32 {
		o, ok := x.Ord(id)
		if !ok {
			t.Fatalf("Ord(%q) = _, false, want an ordinal", id)
		}
		return o
	}
	tests := []struct {
		item string
		want []Neighbor
	}{
		{"x", []Neighbor{{ord("p"), 1}, {ord("q"), 0.5}, {ord("r"), float32(1.0 / 3)}}},
		{"p", []Neighbor{{ord("x"), 1}}},
		{"q", []Neighbor{{ord("x"), 0.5}}},
		{"r", []Neighbor{{ord("x"), float32(1.0 / 3)}}},
	}
	for _, tt := range tests {
		if got := x.Neighbors(ord(tt.item), 10, nil); !slices.Equal(got, tt.want) {
			t.Errorf("Neighbors(%q) = %v, want %v", tt.item, got, tt.want)
		}
	}
	if got := x.Neighbors(ord("x"), 2, []Neighbor{{Ord: -1}}); len(got) != 3 || got[0].Ord != -1 || got[1].Ord != ord("p") {
		t.Errorf("Neighbors(x, 2, dst) = %v, want dst and the two nearest", got)
	}
	if got := x.Neighbors(12345, 10, nil); len(got) != 0 {
		t.Errorf("Neighbors(unknown) = %v, want none", got)
	}
	if d := x.Doc(ord("q")); d != nil {
		t.Errorf("Doc(%q) = %+v, want nil for an id seen only in events", "q", d)
	}
	if got, want := x.Ordinals(), 4; got != want {
		t.Errorf("Ordinals() = %d, want %d", got, want)
	}
}

func TestNeighborsFollow(t *testing.T) {
	x := newTestIndex(t, Options{})
	const pairs = 15
	var items []Item
	for i := 0; i < 2*pairs; i++ {
		items = append(items, Item{ID: fmt.Sprint("n", i)})
	}
	mustUpsert(t, x, items...)
	// Item pairs+perm[i] follows item i, three times in each of ten rounds;
	// between them, random items follow random histories.
	r := rand.New(rand.NewPCG(17, 18))
	perm := r.Perm(pairs)
	random := func() string { return fmt.Sprint("n", r.IntN(2*pairs)) }
	for round := 0; round < 10; round++ {
		for i := 0; i < pairs; i++ {
			a, b := fmt.Sprint("n", i), fmt.Sprint("n", pairs+perm[i])
			for j := 0; j < 3; j++ {
				x.Observe(Observation{Item: b, Weight: 1, TS: base, Before: []string{a, random(), random()}})
			}
			x.Observe(Observation{Item: random(), Weight: 1, TS: base, Before: []string{random(), random()}})
		}
	}
	for i := 0; i < pairs; i++ {
		a, b := fmt.Sprint("n", i), fmt.Sprint("n", pairs+perm[i])
		if got := neighborIDs(x, a, 1); !slices.Equal(got, []string{b}) {
			t.Errorf("Neighbors(%q, 1) = %q, want %q, which follows it most", a, got, b)
		}
		if got := neighborIDs(x, b, 1); !slices.Equal(got, []string{a}) {
			t.Errorf("Neighbors(%q, 1) = %q, want %q, which it follows most", b, got, a)
		}
	}
}

func TestNeighborsSpaceSaving(t *testing.T) {
	const kept = 4
	x := newTestIndex(t, Options{NeighborsKept: kept})
	mustUpsert(t, x, Item{ID: "a"}, Item{ID: "heavy"})
	// "heavy" is seen after "a" 300 times; 300 rare items once each, in
	// between, overflow a's list again and again.
	const n = 300
	for i := 0; i < n; i++ {
		x.Observe(Observation{Item: fmt.Sprint("rare", i), Weight: 1, TS: base, Before: []string{"a"}})
		x.Observe(Observation{Item: "heavy", Weight: 1, TS: base, Before: []string{"a"}})
	}
	a, _ := x.Ord("a")
	got := x.Neighbors(a, 10, nil)
	if len(got) != kept {
		t.Fatalf("Neighbors(%q) = %v, want %d kept", "a", got, kept)
	}
	heavy, _ := x.Ord("heavy")
	if got[0].Ord != heavy || got[0].Weight < n {
		t.Errorf("Neighbors(%q)[0] = %v, want heavy (ordinal %d) with at least its true count %d", "a", got[0], heavy, n)
	}
	// Space-Saving: the counts add up to everything counted, and the list is
	// sorted heaviest first.
	var sum float32
	for _, nb := range got {
		sum += nb.Weight
	}
	if sum != 2*n {
		t.Errorf("sum of Neighbors(%q) weights = %v, want %v", "a", sum, 2*n)
	}
	if !slices.IsSortedFunc(got, func(x, y Neighbor) int {
		if heavier(x, y) {
			return -1
		}
		if heavier(y, x) {
			return 1
		}
		return 0
	}) {
		t.Errorf("Neighbors(%q) = %v, want heaviest first", "a", got)
	}
}

// TestConcurrentUse runs the read paths against writers; run with -race.
func TestConcurrentUse(t *testing.T) {
	x := newTestIndex(t, Options{NeighborsKept: 8, PopularKept: 8})
	var items []Item
	for i := 0; i < 50; i++ {
		items = append(items, Item{ID: fmt.Sprint("c", i), Title: fmt.Sprint("word", i%5, " common"), Category: []string{fmt.Sprint("k", i%3)}})
	}
	mustUpsert(t, x, items...)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 19))
			var hits []Hit
			var nbrs []Neighbor
			for i := 0; i < 300; i++ {
				id := fmt.Sprint("c", r.IntN(60)) // some not in the catalog
				switch g {
				case 0:
					x.Observe(Observation{Item: id, Weight: 1, TS: base + int64(i), Before: []string{fmt.Sprint("c", r.IntN(60))}})
				case 1:
					if i%10 == 0 {
						it := items[r.IntN(len(items))]
						it.Title = fmt.Sprint("renamed", i)
						if err := x.Upsert([]Item{it}); err != nil {
							t.Errorf("Upsert(%q) error = %v, want nil", it.ID, err)
						}
					}
					x.Observe(Observation{Item: id, Weight: 2, TS: base + int64(i)})
				case 2:
					hits = x.Search([]string{"common", "word1"}, 5, hits[:0])
					hits = x.Popular(int32(r.IntN(3))-1, 5, base, hits[:0])
				case 3:
					if o, ok := x.Ord(id); ok {
						nbrs = x.Neighbors(o, 5, nbrs[:0])
						x.Popularity(o, base)
					}
					x.Get(id)
					x.Len()
				}
			}
		}()
	}
	wg.Wait()
	if got := x.Len(); got != 50 {
		t.Errorf("Len() = %d, want 50", got)
	}
}
