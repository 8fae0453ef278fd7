package index

import (
	"math"
	"slices"
	"testing"
)

// TestDescribeFollowsCatalog checks that the dense facts agree with the
// documents through upserts that move, retag, reprice and withdraw items,
// deletes, reopening, and ordinals that only events gave out.
func TestDescribeFollowsCatalog(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	x, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, x,
		Item{ID: "a", Category: []string{"Home", "Kitchen"}, Brand: "Acme", Price: 10, Tags: []string{"SALE"}},
		Item{ID: "b", Category: []string{"Home", "Kitchen"}, Price: 20, Tags: []string{"Warranty", "steel"}},
		Item{ID: "c", Category: []string{"Home", "Kitchen"}, Price: 60},
		Item{ID: "d", Category: []string{"Garden"}, Available: ptr(false)},
	)
	x.Observe(Observation{Item: "ghost", Weight: 1, TS: 1})

	// check compares Describe against the documents themselves.
	check := func(t *testing.T, x *Index, ids ...string) {
		t.Helper()
		ords := make([]int32, len(ids))
		for i, id := range ids {
			ords[i] = mustOrd(t, x, id)
		}
		got := x.Describe(ords, nil)
		if len(got) != len(ids) {
			t.Fatalf("Describe(%d ords) = %d facts", len(ids), len(got))
		}
		for i, id := range ids {
			f := &got[i]
			d := x.Doc(ords[i])
			if f.Doc != d {
				t.Errorf("%s: Doc = %p, want %p", id, f.Doc, d)
			}
			if d == nil {
				if f.Available || f.Depth != 0 {
					t.Errorf("%s: no entry but facts %+v", id, f)
				}
				continue
			}
			if f.Available != d.Available || f.Brand != d.Brand || f.Price != d.Item.Price ||
				!slices.Equal(f.Path(), d.Categories) || f.Leaf() != d.Leaf() {
				t.Errorf("%s: facts %+v disagree with doc %+v", id, f, d)
			}
			med := medianOfDocs(x, d.Leaf())
			if got := x.MedianPrice(d.Leaf()); got != med {
				t.Errorf("%s: MedianPrice(its leaf) = %v, want %v, the median of the documents' prices", id, got, med)
			}
			want := 0.0
			if med > 0 && d.Item.Price > 0 {
				want = d.Item.Price / med
			}
			if math.Abs(f.PriceRatio-want) > 1e-12 {
				t.Errorf("%s: PriceRatio = %v, want %v", id, f.PriceRatio, want)
			}
		}
	}
	check(t, x, "a", "b", "c", "d", "ghost")
	f := x.Describe([]int32{mustOrd(t, x, "a"), mustOrd(t, x, "b")}, nil)
	if !f[0].Deal || f[0].Service || f[1].Deal || !f[1].Service {
		t.Errorf("tag classes: a deal=%v service=%v, b deal=%v service=%v; want a a deal, b service-rich",
			f[0].Deal, f[0].Service, f[1].Deal, f[1].Service)
	}
	if f[0].PriceRatio != 0.5 { // median of 10, 20, 60 is 20
		t.Errorf("a: PriceRatio = %v, want 0.5", f[0].PriceRatio)
	}

	// Move, retag and withdraw; delete another; the ghost gets an entry.
	mustUpsert(t, x,
		Item{ID: "a", Category: []string{"Garden", "Tools"}, Price: 10, Available: ptr(false)},
		Item{ID: "ghost", Category: []string{"Home"}, Price: 5, Tags: []string{"luxury"}},
	)
	if err := x.Delete("c"); err != nil {
		t.Fatal(err)
	}
	check(t, x, "a", "b", "c", "d", "ghost")
	if g := x.Describe([]int32{mustOrd(t, x, "a")}, nil)[0]; g.Deal {
		t.Error("a keeps its deal class after its tags were dropped")
	}
	if !x.availableLocked(mustOrd(t, x, "ghost"), -1) || x.availableLocked(mustOrd(t, x, "a"), -1) {
		t.Error("available disagrees with the facts")
	}

	// Out of range ordinals describe as nothing.
	if g := x.Describe([]int32{-1, 1 << 30}, nil); g[0].Doc != nil || g[1].Doc != nil || g[1].Available {
		t.Errorf("Describe(out of range) = %+v", g)
	}

	// Reopened, the facts are rebuilt from the stored items.
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	if x, err = New(db, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	check(t, x, "a", "b", "d", "ghost")
}

func TestPopularities(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x, Item{ID: "a"}, Item{ID: "b"})
	for i := range 3 {
		x.Observe(Observation{Item: "a", Weight: 1, TS: int64(i) * 3_600_000})
	}
	x.Observe(Observation{Item: "b", Weight: 2, TS: 7_200_000})
	ords := []int32{mustOrd(t, x, "b"), -1, mustOrd(t, x, "a"), 1 << 20}
	now := int64(50 * 3_600_000)
	got := x.Popularities(ords, now, nil)
	for i, o := range ords {
		want := 0.0
		if o >= 0 && o < 1<<20 {
			want = x.Popularity(o, now)
		}
		if math.Abs(got[i]-want) > 1e-12*math.Max(1, want) {
			t.Errorf("Popularities[%d] = %v, want %v", i, got[i], want)
		}
	}
	if got[0] == 0 || got[2] == 0 {
		t.Errorf("Popularities = %v, want scores for a and b", got)
	}
}

func mustOrd(t *testing.T, x *Index, id string) int32 {
	t.Helper()
	o, ok := x.Ord(id)
	if !ok {
		t.Fatalf("Ord(%q) unknown", id)
	}
	return o
}

// medianOfDocs returns the median price of the priced documents in category
// cat or below, worked out from the documents alone.
func medianOfDocs(x *Index, cat int32) float64 {
	var prices []float64
	x.cat.mu.RLock()
	for _, d := range x.cat.docs {
		if d != nil && d.Item.Price > 0 && slices.Contains(d.Categories, cat) {
			prices = append(prices, d.Item.Price)
		}
	}
	x.cat.mu.RUnlock()
	slices.Sort(prices)
	switch n := len(prices); {
	case n == 0:
		return 0
	case n%2 == 0:
		return (prices[n/2-1] + prices[n/2]) / 2
	default:
		return prices[n/2]
	}
}
