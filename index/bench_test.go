package index

import (
	"math/rand/v2"
	"testing"

	"github.com/tailor-dev/tailor/internal/synth"
)

// synthIndex returns an index holding the 10,000 items of a synthetic world.
func synthIndex(b *testing.B) (*Index, *synth.World) {
	b.Helper()
	w := synth.New(synth.Options{Items: 10000, Users: 1, Seed: 1})
	items := make([]Item, len(w.Items))
	for i, it := range w.Items {
		items[i] = Item{ID: it.ID, Title: it.Title, Category: it.Category, Brand: it.Brand, Tags: it.Tags,
			Price: it.Price, Available: ptr(it.Available)}
	}
	x := newTestIndex(b, Options{})
	if err := x.Upsert(items); err != nil {
		b.Fatalf("Upsert(%d items) error = %v, want nil", len(items), err)
	}
	return x, w
}

func BenchmarkSearch(b *testing.B) {
	x, w := synthIndex(b)
	// Two terms of one item's title: a query that matches many items.
	terms := AppendTerms(nil, w.Items[0].Title)
	if len(terms) > 2 {
		terms = terms[len(terms)-2:]
	}
	if len(x.Search(terms, 10, nil)) == 0 {
		b.Fatalf("Search(%q) = no hits, want some", terms)
	}
	dst := make([]Hit, 0, 10)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = x.Search(terms, 10, dst[:0])
	}
}

func BenchmarkObserve(b *testing.B) {
	x, w := synthIndex(b)
	r := rand.New(rand.NewPCG(1, 2))
	obs := make([]Observation, 4096)
	for i := range obs {
		before := make([]string, r.IntN(6))
		for j := range before {
			before[j] = w.Items[r.IntN(len(w.Items))].ID
		}
		obs[i] = Observation{Item: w.Items[r.IntN(len(w.Items))].ID, Weight: 1, TS: base + int64(i)*1000, Before: before}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		x.Observe(obs[i%len(obs)])
		i++
	}
}
