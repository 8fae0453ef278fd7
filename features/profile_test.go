package features

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	t0   = int64(1_760_000_000_000) // a fixed time, Unix milliseconds
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour
)

func defaultLimits() *Limits {
	var lim Limits
	lim.setDefaults()
	return &lim
}

// applyAll folds events into a new profile with the given limits.
func applyAll(lim *Limits, events ...Event) *Profile {
	p := &Profile{User: "u"}
	for i := range events {
		p.apply(&events[i], lim)
	}
	return p
}

func near(got, want float32, tol float64) bool {
	return math.Abs(float64(got)-float64(want)) <= tol
}

func TestApplyDecay(t *testing.T) {
	lim := defaultLimits()
	half := lim.HalfLife.Milliseconds()
	p := applyAll(lim,
		Event{Type: View, Item: "i1", TS: t0, Category: []string{"A"}, Brand: "B", Terms: []string{"t"}},
		Event{Type: View, Item: "i2", TS: t0 + half, Category: []string{"C"}},
	)
	tests := []struct {
		list []Weighted
		key  string
		want float32
	}{
		{p.Categories, "A", 0.5},
		{p.Categories, "C", 1},
		{p.Brands, "B", 0.5},
		{p.Terms, "t", 0.5},
	}
	for _, tt := range tests {
		if got := Interest(tt.list, tt.key); !near(got, tt.want, 1e-4) {
			t.Errorf("Interest(%q) after one half-life = %v, want %v", tt.key, got, tt.want)
		}
	}
	if p.DecayedAt != t0+half {
		t.Errorf("DecayedAt = %d, want %d", p.DecayedAt, t0+half)
	}

	// An event older than DecayedAt is decayed to DecayedAt before it is added.
	p.apply(&Event{Type: View, Item: "i3", TS: t0, Category: []string{"A"}}, lim)
	if got := Interest(p.Categories, "A"); !near(got, 1, 1e-4) {
		t.Errorf("Interest(%q) after a late event = %v, want %v", "A", got, 1.0)
	}
	if p.DecayedAt != t0+half {
		t.Errorf("DecayedAt after a late event = %d, want %d", p.DecayedAt, t0+half)
	}

	// Two half-lives: a quarter.
	p.apply(&Event{Type: View, Item: "i4", TS: t0 + 3*half}, lim)
	if got := Interest(p.Categories, "C"); !near(got, 0.25, 1e-4) {
		t.Errorf("Interest(%q) after two more half-lives = %v, want %v", "C", got, 0.25)
	}
}

func TestDecayFactor(t *testing.T) {
	week := 7 * 24 * time.Hour
	tests := []struct {
		from, to int64
		want     float64
	}{
		{0, 0, 1},
		{10, 5, 1},
		{t0, t0 + week.Milliseconds(), 0.5},
		{t0, t0 + 2*week.Milliseconds(), 0.25},
		{-week.Milliseconds(), 0, 0.5},
	}
	for _, tt := range tests {
		if got := DecayFactor(tt.from, tt.to, week); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("DecayFactor(%d, %d, %v) = %v, want %v", tt.from, tt.to, week, got, tt.want)
		}
	}
}

func TestApplyCategoryLevels(t *testing.T) {
	lim := defaultLimits()
	p := applyAll(lim, Event{Type: Click, Item: "i", TS: t0, Category: []string{"Sports", "Running", "Shoes"}})
	w := Click.IntentWeight()
	for _, key := range []string{"Sports", "Sports/Running", "Sports/Running/Shoes"} {
		if got := Interest(p.Categories, key); got != w {
			t.Errorf("Interest(%q) = %v, want %v", key, got, w)
		}
	}
	if len(p.Categories) != 3 {
		t.Errorf("Categories = %v, want 3 entries", p.Categories)
	}

	// A search spreads half its weight over the paths of its matches.
	p = applyAll(lim, Event{Type: Search, Query: "shoes", TS: t0, Terms: []string{"shoe"},
		Matches: [][]string{{"Sports", "Running"}, {"Sports", "Hiking"}}})
	share := Search.IntentWeight() / 2 / 2
	tests := []struct {
		key  string
		want float32
	}{
		{"Sports", 2 * share},
		{"Sports/Running", share},
		{"Sports/Hiking", share},
	}
	for _, tt := range tests {
		if got := Interest(p.Categories, tt.key); !near(got, tt.want, 1e-6) {
			t.Errorf("Interest(%q) after a search = %v, want %v", tt.key, got, tt.want)
		}
	}
	if got := Interest(p.Terms, "shoe"); got != Search.IntentWeight() {
		t.Errorf("Interest(%q) after a search = %v, want %v", "shoe", got, Search.IntentWeight())
	}
}

func TestApplyIntentOrder(t *testing.T) {
	lim := defaultLimits()
	weight := func(typ EventType) float32 {
		p := applyAll(lim, Event{Type: typ, Item: "i", TS: t0, Category: []string{"A"}, Brand: "B"})
		return Interest(p.Categories, "A")
	}
	types := []EventType{View, Click, Cart, Purchase}
	for i := 1; i < len(types); i++ {
		lo, hi := weight(types[i-1]), weight(types[i])
		if !(hi > lo) {
			t.Errorf("weight(%v) = %v, want more than weight(%v) = %v", types[i], hi, types[i-1], lo)
		}
	}
	if s, v := Search.IntentWeight(), View.IntentWeight(); s > v {
		t.Errorf("Search.IntentWeight() = %v, want at most View.IntentWeight() = %v", s, v)
	}
	if got := EventType(0).IntentWeight(); got != 0 {
		t.Errorf("EventType(0).IntentWeight() = %v, want 0", got)
	}
}

func TestApplyCaps(t *testing.T) {
	lim := defaultLimits()
	// One event per key, a minute apart: earlier keys have faded a little
	// more, so the first is the weakest.
	f := func(n int, set func(e *Event, i int)) *Profile {
		p := &Profile{User: "u"}
		for i := 0; i < n; i++ {
			e := Event{Type: View, Item: "i", TS: t0 + int64(i)*60_000}
			set(&e, i)
			p.apply(&e, lim)
		}
		return p
	}
	tests := []struct {
		name string
		max  int
		list func(*Profile) []Weighted
		set  func(e *Event, i int)
	}{
		{"Categories", lim.Categories, func(p *Profile) []Weighted { return p.Categories },
			func(e *Event, i int) { e.Category = []string{fmt.Sprintf("c%02d", i)} }},
		{"Brands", lim.Brands, func(p *Profile) []Weighted { return p.Brands },
			func(e *Event, i int) { e.Brand = fmt.Sprintf("b%02d", i) }},
		{"Terms", lim.Terms, func(p *Profile) []Weighted { return p.Terms },
			func(e *Event, i int) { e.Type = Search; e.Item = ""; e.Terms = []string{fmt.Sprintf("t%02d", i)} }},
	}
	for _, tt := range tests {
		p := f(tt.max+1, tt.set)
		list := tt.list(p)
		if len(list) != tt.max {
			t.Errorf("len(%s) after %d distinct keys = %d, want %d", tt.name, tt.max+1, len(list), tt.max)
		}
		var first, last Event
		tt.set(&first, 0)
		tt.set(&last, tt.max)
		for _, key := range []string{CategoryKey(first.Category), first.Brand} {
			if key != "" && Interest(list, key) != 0 {
				t.Errorf("%s keeps the weakest key %q, want it dropped", tt.name, key)
			}
		}
		if len(first.Terms) > 0 && Interest(list, first.Terms[0]) != 0 {
			t.Errorf("%s keeps the weakest key %q, want it dropped", tt.name, first.Terms[0])
		}
		if !slices.IsSortedFunc(list, func(a, b Weighted) int {
			switch {
			case a.Weight > b.Weight:
				return -1
			case a.Weight < b.Weight:
				return 1
			}
			return 0
		}) {
			t.Errorf("%s = %v, want heaviest first", tt.name, list)
		}
		if list[0].Weight != View.IntentWeight() && list[0].Weight != Search.IntentWeight() {
			t.Errorf("%s[0] = %v, want the newest key at full weight", tt.name, list[0])
		}
	}
}

func TestApplyRecent(t *testing.T) {
	lim := defaultLimits()
	r := rand.New(rand.NewPCG(5, 6))
	const n = 80
	times := make([]int64, n)
	for i := range times {
		times[i] = t0 + int64(i)*1000
	}
	r.Shuffle(n, func(i, j int) { times[i], times[j] = times[j], times[i] })
	p := &Profile{User: "u"}
	for _, ts := range times {
		p.apply(&Event{Type: View, Item: fmt.Sprint(ts), TS: ts, Session: "s"}, lim)
	}
	if len(p.Recent) != lim.Recent {
		t.Fatalf("len(Recent) after %d events = %d, want %d", n, len(p.Recent), lim.Recent)
	}
	for i, a := range p.Recent {
		want := t0 + int64(n-lim.Recent+i)*1000
		if a.TS != want || a.Target != fmt.Sprint(want) || a.Type != View || a.Session != "s" {
			t.Errorf("Recent[%d] = %+v, want the view of %d at %d", i, a, want, want)
		}
	}
	if p.FirstSeen != t0 || p.LastSeen != t0+(n-1)*1000 {
		t.Errorf("FirstSeen, LastSeen = %d, %d, want %d, %d", p.FirstSeen, p.LastSeen, t0, t0+(n-1)*1000)
	}
	if p.Events != n || p.Version != n || p.Counts[View] != n {
		t.Errorf("Events, Version, Counts[View] = %d, %d, %d, want %d each", p.Events, p.Version, p.Counts[View], n)
	}

	// A search is recorded with its query as the target.
	p.apply(&Event{Type: Search, Query: "red shoes", TS: t0 + n*1000}, lim)
	if last := p.Recent[len(p.Recent)-1]; last.Type != Search || last.Target != "red shoes" {
		t.Errorf("Recent[last] after a search = %+v, want the search for %q", last, "red shoes")
	}
}

func TestApplyPurchased(t *testing.T) {
	lim := defaultLimits()
	buy := func(item string, ts int64) Event { return Event{Type: Purchase, Item: item, TS: ts, Amount: 1} }
	p := applyAll(lim, buy("i1", t0), buy("i2", t0+1), buy("i3", t0+2), buy("i1", t0+3),
		Event{Type: View, Item: "i4", TS: t0 + 4})
	if want := []string{"i2", "i3", "i1"}; !slices.Equal(p.Purchased, want) {
		t.Errorf("Purchased = %q, want %q", p.Purchased, want)
	}
	for _, tt := range []struct {
		item string
		want bool
	}{{"i1", true}, {"i3", true}, {"i4", false}, {"", false}} {
		if got := p.HasPurchased(tt.item); got != tt.want {
			t.Errorf("HasPurchased(%q) = %v, want %v", tt.item, got, tt.want)
		}
	}

	small := *lim
	small.Purchased = 3
	p = applyAll(&small, buy("a", t0), buy("b", t0+1), buy("c", t0+2), buy("a", t0+3), buy("d", t0+4))
	if want := []string{"c", "a", "d"}; !slices.Equal(p.Purchased, want) {
		t.Errorf("Purchased with a cap of 3 = %q, want %q", p.Purchased, want)
	}
}

func TestApplyRFM(t *testing.T) {
	lim := defaultLimits()
	p := applyAll(lim,
		Event{Type: View, Item: "i1", TS: t0, Price: 99},
		Event{Type: Purchase, Item: "i1", TS: t0 + 2*day, Price: 10},             // amount from price
		Event{Type: Purchase, Item: "i2", TS: t0 + day, Amount: 5, Price: 100},   // amount wins, earlier
		Event{Type: Purchase, Item: "i3", TS: t0 + 3*day, Amount: 2.5, Price: 1}, // latest
		Event{Type: Cart, Item: "i4", TS: t0 + 4*day, Amount: 1000},
	)
	want := struct {
		Purchases                   uint32
		Monetary                    float64
		FirstPurchase, LastPurchase int64
	}{3, 17.5, t0 + day, t0 + 3*day}
	got := want
	got.Purchases, got.Monetary, got.FirstPurchase, got.LastPurchase = p.Purchases, p.Monetary, p.FirstPurchase, p.LastPurchase
	if got != want {
		t.Errorf("RFM = %+v, want %+v", got, want)
	}
	if p.Counts[Purchase] != 3 || p.Counts[View] != 1 || p.Counts[Cart] != 1 {
		t.Errorf("Counts = %v, want 3 purchases, 1 view, 1 cart", p.Counts)
	}

	p = applyAll(lim, Event{Type: View, Item: "i1", TS: t0})
	if p.Purchases != 0 || p.Monetary != 0 || p.FirstPurchase != 0 || p.LastPurchase != 0 || p.Purchased != nil {
		t.Errorf("RFM without purchases = %d, %v, %d, %d, %q, want zeros", p.Purchases, p.Monetary, p.FirstPurchase, p.LastPurchase, p.Purchased)
	}
}

// TestApplyZeroTime checks that time zero (1970, which the API accepts) and
// negative times are times like any other, not "unset".
func TestApplyZeroTime(t *testing.T) {
	lim := defaultLimits()
	half := lim.HalfLife.Milliseconds()
	p := applyAll(lim,
		Event{Type: Purchase, Item: "i1", TS: 0, Category: []string{"A"}, Amount: 1},
		Event{Type: Purchase, Item: "i2", TS: half, Category: []string{"B"}, Amount: 1},
	)
	if got, want := Interest(p.Categories, "A"), Purchase.IntentWeight()/2; !near(got, want, 1e-4) {
		t.Errorf("Interest(%q) of an event at 0, one half-life later = %v, want %v", "A", got, want)
	}
	type times struct{ FirstSeen, LastSeen, DecayedAt, FirstPurchase, LastPurchase int64 }
	tests := []struct {
		name string
		p    *Profile
		want times
	}{
		{"0 then half-life", p, times{0, half, half, 0, half}},
		{"negative", applyAll(lim, Event{Type: Purchase, Item: "i", TS: -9}, Event{Type: Purchase, Item: "j", TS: -5}),
			times{-9, -5, -5, -9, -5}},
		{"negative, later first", applyAll(lim, Event{Type: Purchase, Item: "i", TS: -5}, Event{Type: Purchase, Item: "j", TS: -9}),
			times{-9, -5, -5, -9, -5}},
	}
	for _, tt := range tests {
		got := times{tt.p.FirstSeen, tt.p.LastSeen, tt.p.DecayedAt, tt.p.FirstPurchase, tt.p.LastPurchase}
		if got != tt.want {
			t.Errorf("times after %s = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestAddCategoryPath checks the one-pass update of every level of a path
// against joining each level's key and looking it up, on lists holding
// some of the levels' keys and keys that share their prefixes.
func TestAddCategoryPath(t *testing.T) {
	paths := [][]string{nil, {""}, {"a"}, {"a", "b"}, {"a/b"}, {"a", "b", "c"}, {"a/b", "c"}, {"a", "b/c"}, {"a", ""}, {"", "a"}, {"ab"}, {"a", "bc"},
		{"r", "s", "t", "u", "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8"}} // deeper than the buffers on the stack
	keys := []string{"", "a", "a/", "/a", "a/b", "ab", "a/b/c", "a/bc", "a/b/c/", "b", "r/s", "r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/6/7"}
	want := func(list []Weighted, path []string, w float32) []Weighted {
		for i := 1; i <= len(path); i++ {
			key := CategoryKey(path[:i])
			if k := slices.IndexFunc(list, func(x Weighted) bool { return x.Key == key }); k >= 0 {
				list[k].Weight += w
			} else {
				list = append(list, Weighted{Key: key, Weight: w})
			}
		}
		return list
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, path := range paths {
		for trial := 0; trial < 20; trial++ {
			var list []Weighted
			for _, k := range r.Perm(len(keys))[:r.IntN(len(keys))] {
				list = append(list, Weighted{Key: keys[k], Weight: float32(r.IntN(10))})
			}
			got := addCategoryPath(slices.Clone(list), path, 1.5)
			if exp := want(slices.Clone(list), path, 1.5); !slices.Equal(got, exp) {
				t.Fatalf("addCategoryPath(%v, %q) = %v, want %v", list, path, got, exp)
			}
		}
	}
}

// TestPruneOrdersLikeASort checks prune's insertion sort against a sort of
// the whole list, on lists nearly sorted (as an event leaves them) and not.
func TestPruneOrdersLikeASort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 500; trial++ {
		n := r.IntN(80)
		list := make([]Weighted, n)
		for i := range list {
			// Few distinct weights, so that ties fall back to the key.
			list[i] = Weighted{Key: fmt.Sprint("k", r.IntN(1000), "-", i), Weight: float32(r.IntN(20))}
		}
		if trial%2 == 0 {
			list = prune(list, 1000) // sorted, then a few entries changed
			for k := 0; k < 3 && len(list) > 0; k++ {
				list[r.IntN(len(list))].Weight += float32(r.IntN(5))
			}
			list = append(list, Weighted{Key: "new", Weight: float32(r.IntN(20))})
		}
		want := slices.Clone(list)
		slices.SortFunc(want, func(a, b Weighted) int {
			return cmp.Or(cmp.Compare(b.Weight, a.Weight), strings.Compare(a.Key, b.Key))
		})
		max := 1 + r.IntN(70)
		want = want[:min(len(want), max)]
		if len(want) > 0 {
			floor := want[0].Weight * 1e-4
			for len(want) > 0 && want[len(want)-1].Weight <= floor {
				want = want[:len(want)-1]
			}
		}
		if got := prune(slices.Clone(list), max); !slices.Equal(got, want) {
			t.Fatalf("prune(%v, %d) = %v, want %v", list, max, got, want)
		}
	}
}
