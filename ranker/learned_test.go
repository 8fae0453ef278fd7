package ranker

import (
	"fmt"
	"io"
	"log"
	"slices"
	"testing"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/model"
)

func TestTermHashesMatchTokenizer(t *testing.T) {
	for _, text := range []string{
		"Trail Running Shoes", "Waterproof trail-running SHOES, size 42", "dress glasses bus",
		"轻量跑步鞋", "跑 shoes 鞋", "ÉCOLE Straße", "a", "", "  !! ", "日本語のテキスト", "x1y2 3z",
	} {
		var want []model.Hash
		for _, term := range index.AppendTerms(nil, text) {
			want = append(want, nsItemTerm.Str(term))
		}
		got := appendTermHashes(nil, nsItemTerm, text, 100)
		if !slices.Equal(got, want) {
			t.Errorf("appendTermHashes(%q) = %d hashes, want the %d of %q", text, len(got), len(want), index.AppendTerms(nil, text))
		}
		if got := appendTermHashes(nil, nsItemTerm, text, 2); len(got) > 2 || !slices.Equal(got, want[:len(got)]) {
			t.Errorf("appendTermHashes(%q, max 2) = %d hashes, want a prefix of at most 2", text, len(got))
		}
	}
}

// testIndex builds an index of 40 items in 4 leaves, with co-visitation from
// a few users' histories.
func testIndex(t *testing.T) *index.Index {
	t.Helper()
	db, err := kv.Open(t.TempDir(), kv.Options{CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	idx, err := index.New(db, index.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var items []index.Item
	for i := 0; i < 40; i++ {
		items = append(items, index.Item{ID: fmt.Sprintf("i%02d", i), Title: fmt.Sprintf("Item %d widget", i),
			Category: []string{"Root", fmt.Sprintf("Leaf%d", i%4)}, Price: 10})
	}
	if err := idx.Upsert(items); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		idx.Observe(index.Observation{Item: fmt.Sprintf("i%02d", i), Weight: float64(40 - i), TS: 1000})
		if i > 0 {
			idx.Observe(index.Observation{Item: fmt.Sprintf("i%02d", i), Weight: 1, TS: 1000, Before: []string{fmt.Sprintf("i%02d", i-1)}})
		}
	}
	return idx
}

func TestModelScoresWhenWarm(t *testing.T) {
	idx := testIndex(t)
	prof := &features.Profile{User: "u", Recent: []features.Action{{Type: features.View, Target: "i10", TS: 900}},
		Categories: []features.Weighted{{Key: "Root", Weight: 1}, {Key: "Root/Leaf2", Weight: 1}}}
	req := &Request{Profile: prof, N: 5, Now: 1000, Features: true}

	// A model that has learned that i33 gets clicked, and nothing else.
	m, err := model.Open(nil, model.Options{Bits: 16, MinLabels: 10, MinClicks: 1, Logger: log.New(io.Discard, "", 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hand := New(idx, Options{})
	var base Result
	hand.Rank(req, &base)
	if base.Model != 0 || len(base.Items) != 5 {
		t.Fatalf("hand-set ranking: model %d, %d items", base.Model, len(base.Items))
	}
	learned := New(idx, Options{Model: m})
	var res Result
	learned.Rank(req, &res)
	if res.Model != 0 || !slices.Equal(names(res), names(base)) {
		t.Fatalf("a cold model changed the ranking: %v (model %d), want %v", names(res), res.Model, names(base))
	}
	// Learn from the features the items were served with.
	var x []model.Feature
	for round := 0; round < 200; round++ {
		for i := range res.Items {
			x = append(append(x[:0], res.ItemFeatures(i)...), model.Position(i))
			m.Update(x, false)
		}
		x = append(x[:0], model.Bias, nsItem.Str("i33").Feature(1))
		m.Update(x, true)
	}
	snap := m.Publish()
	if !snap.Warm() {
		t.Fatal("model not warm")
	}
	// i33 is not a candidate from the profile: give it one through the
	// context category.
	req.ContextCategory = []string{"Root", "Leaf1"}
	learned.Rank(req, &res)
	if res.Model != snap.Version || len(res.Items) == 0 || res.Items[0].Doc.Item.ID != "i33" {
		t.Fatalf("warm model ranking %v (model %d), want i33 first (model %d)", names(res), res.Model, snap.Version)
	}
	for i := range res.Items {
		if len(res.ItemFeatures(i)) < 3 {
			t.Errorf("item %d carries %d features", i, len(res.ItemFeatures(i)))
		}
	}
}

func TestSources(t *testing.T) {
	idx := testIndex(t)
	prof := &features.Profile{User: "u", Recent: []features.Action{{Type: features.View, Target: "i10", TS: 900}}}
	req := &Request{Profile: prof, N: 10, Now: 1000}
	var res Result
	New(idx, Options{Sources: SourceCoVisit}).Rank(req, &res)
	for _, it := range res.Items {
		if it.Doc.Item.ID != "i09" && it.Doc.Item.ID != "i11" {
			t.Errorf("co-visitation only: got %s, want only i10's neighbours i09 and i11: %v", it.Doc.Item.ID, names(res))
		}
	}
	New(idx, Options{Sources: SourceTrending}).Rank(req, &res)
	if len(res.Items) != 10 || res.Items[0].Doc.Item.ID != "i00" {
		t.Errorf("trending only: %v, want the most popular first", names(res))
	}
	for _, s := range []string{"co_visit", "search", "category", "lifecycle", "context", "trending"} {
		src, ok := ParseSource(s)
		if !ok || src.String() != s {
			t.Errorf("ParseSource(%q) = %v, %v", s, src, ok)
		}
	}
	if _, ok := ParseSource("bogus"); ok {
		t.Error("ParseSource accepted bogus")
	}
}

func names(r Result) []string {
	var out []string
	for _, it := range r.Items {
		out = append(out, it.Doc.Item.ID)
	}
	return out
}

func TestWeightsSet(t *testing.T) {
	for f, name := range FeatureNames {
		var w Weights
		if !w.Set(name, float64(f+1)) {
			t.Fatalf("Set(%q) = false", name)
		}
		if got := *w.field(f); got != float64(f+1) {
			t.Errorf("Set(%q, %d) set %v", name, f+1, got)
		}
		var zero Weights
		*zero.field(f) = float64(f + 1)
		if w != zero {
			t.Errorf("Set(%q) changed another weight: %+v", name, w)
		}
	}
	var w Weights
	w.Set("co_visit", 1)
	w.Set("seen", -2)
	w.Set("boost", 3)
	if w != (Weights{CoVisit: 1, Seen: -2, Boost: 3}) {
		t.Errorf("Set by name = %+v", w)
	}
	w = Weights{}
	if w.Set("bogus", 1) || w != (Weights{}) {
		t.Error(`Set("bogus") changed something`)
	}
}

// TestItemKeysFollowUpserts ranks, changes an item's title and category, and
// ranks again: the features the item carries are those of its entry at the
// time, though its keys are worked out once per entry.
func TestItemKeysFollowUpserts(t *testing.T) {
	idx := testIndex(t)
	r := New(idx, Options{})
	prof := &features.Profile{User: "u", Recent: []features.Action{{Type: features.View, Target: "i10", TS: 900}}}
	req := &Request{Profile: prof, N: 40, Now: 1000, Features: true, ContextQuery: "widget"}
	featuresOf := func(id string) []model.Feature {
		t.Helper()
		var res Result
		r.Rank(req, &res)
		for i := range res.Items {
			if res.Items[i].Doc.Item.ID == id {
				return res.ItemFeatures(i)
			}
		}
		t.Fatalf("%s not ranked: %v", id, names(res))
		return nil
	}
	query := nsQueryTerm.Str("widget")
	want := func(title, leaf string) []model.Feature {
		cat := nsCategory.Str(leaf)
		out := []model.Feature{nsItem.Str("i11").Feature(1), cat.Feature(1)}
		for _, term := range index.AppendTerms(nil, title) {
			out = append(out, query.Cross(nsItemTerm.Str(term)).Feature(1))
		}
		return out
	}
	check := func(got, want []model.Feature) {
		t.Helper()
		for _, f := range want {
			if !slices.Contains(got, f) {
				t.Errorf("features %v lack %v", got, f)
			}
		}
	}
	check(featuresOf("i11"), want("Item 11 widget", "Root/Leaf3"))
	check(featuresOf("i11"), want("Item 11 widget", "Root/Leaf3")) // from the cache
	if err := idx.Upsert([]index.Item{{ID: "i11", Title: "Blue gadget", Category: []string{"Root", "Leaf0"}, Price: 10}}); err != nil {
		t.Fatal(err)
	}
	got := featuresOf("i11")
	check(got, want("Blue gadget", "Root/Leaf0"))
	if old := nsCategory.Str("Root/Leaf3").Feature(1); slices.Contains(got, old) {
		t.Errorf("features %v still carry the old category", got)
	}
}
