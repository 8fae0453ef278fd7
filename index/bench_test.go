package index

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
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

// BenchmarkSimilarSessions votes with the 30 latest distinct items of a
// user of a synthetic world (100,000 items and users, or
// TAILOR_BENCH_ITEMS and TAILOR_BENCH_USERS), the ranker's default
// context, sample and neighbours, once the sessions of every user are in.
func BenchmarkSimilarSessions(b *testing.B) {
	w := synth.New(synth.Options{Items: envInt("TAILOR_BENCH_ITEMS", 100000), Users: envInt("TAILOR_BENCH_USERS", 100000), Seed: 1})
	x := newTestIndex(b, Options{})
	items := make([]Item, len(w.Items))
	for i, it := range w.Items {
		items[i] = Item{ID: it.ID, Category: it.Category, Price: it.Price, Available: ptr(it.Available)}
	}
	if err := x.Upsert(items); err != nil {
		b.Fatal(err)
	}
	// Each user's latest distinct items, newest first.
	latest := make([][]int32, 0, w.Users)
	var cur []int32
	user := ""
	err := w.EachEvent(func(e synth.Event) error {
		if e.User != user {
			if user != "" {
				latest = append(latest, lastDistinct(cur, 30))
			}
			user, cur = e.User, cur[:0]
		}
		if ord, ok := x.Ord(e.Item); ok && e.Item != "" {
			x.sess.add(e.User, ord, e.TS)
			cur = append(cur, ord)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	latest = append(latest, lastDistinct(cur, 30))
	weights := make([]float64, 30)
	for i := range weights {
		weights[i] = math.Exp(-float64(i) / 4)
	}
	qs := make([]SessionQuery, len(latest))
	for u, ctx := range latest {
		qs[u] = SessionQuery{User: w.UserID(u), Items: ctx, Weights: weights[:len(ctx)], Sample: 10, Neighbors: 100, HalfLife: 30 * 24 * 3600 * 1000}
	}
	r := rand.New(rand.NewPCG(1, 2))
	hits := make([]Hit, 0, 30)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		hits = x.SimilarSessions(&qs[r.IntN(len(qs))], 30, hits[:0])
	}
}

// lastDistinct returns up to n distinct ordinals of ords, the latest first.
func lastDistinct(ords []int32, n int) []int32 {
	var out []int32
	for i := len(ords) - 1; i >= 0 && len(out) < n; i-- {
		if !slices.Contains(out, ords[i]) {
			out = append(out, ords[i])
		}
	}
	return out
}

// envInt returns the integer in environment variable name, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkDescribe reads the facts of 340 random items, about what a
// recommend answer ranks, from a catalog of 100,000 (or TAILOR_BENCH_ITEMS)
// items of a synthetic world.
func BenchmarkDescribe(b *testing.B) {
	w := synth.New(synth.Options{Items: envInt("TAILOR_BENCH_ITEMS", 100000), Users: 1, Seed: 1})
	x := newTestIndex(b, Options{})
	items := make([]Item, len(w.Items))
	for i, it := range w.Items {
		items[i] = Item{ID: it.ID, Category: it.Category, Brand: it.Brand, Tags: it.Tags, Price: it.Price, Available: ptr(it.Available)}
	}
	if err := x.Upsert(items); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	lists := make([][]int32, 1024)
	for i := range lists {
		lists[i] = make([]int32, 340)
		for j := range lists[i] {
			lists[i][j] = int32(r.IntN(len(items)))
		}
	}
	dst := make([]Facts, 0, 340)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		dst = x.Describe(lists[i%len(lists)], dst[:0])
		i++
	}
}
