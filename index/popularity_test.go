package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	base = int64(1_760_000_000_000) // a fixed time, Unix milliseconds
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour
)

type event struct {
	item int
	w    float64
	ts   int64
}

// popularityCase is a catalog of n items in categories {"c<i%10>", "s<i%20>"}
// and a random stream of events on it.
type popularityCase struct {
	x      *Index
	items  []Item
	events []event
	half   time.Duration
}

func newPopularityCase(t *testing.T, opts Options, n int, events []event) *popularityCase {
	x := newTestIndex(t, opts)
	c := &popularityCase{x: x, events: events, half: x.opts.PopularityHalfLife}
	for i := 0; i < n; i++ {
		c.items = append(c.items, Item{ID: fmt.Sprintf("p%03d", i), Category: []string{fmt.Sprint("c", i%10), fmt.Sprint("s", i%20)}})
	}
	mustUpsert(t, x, c.items...)
	for _, e := range events {
		x.Observe(Observation{Item: c.items[e.item].ID, Weight: e.w, TS: e.ts})
	}
	return c
}

// brute returns the k best items among those keep accepts, by decayed score
// as of now computed from every event, best first, ties by ordinal.
func (c *popularityCase) brute(now int64, k int, keep func(i int) bool) []Hit {
	score := make([]float64, len(c.items))
	seen := make([]bool, len(c.items))
	for _, e := range c.events {
		score[e.item] += e.w * math.Exp2(float64(e.ts-now)/float64(c.half.Milliseconds()))
		seen[e.item] = true
	}
	var hits []Hit
	for i := range c.items {
		if seen[i] && keep(i) {
			ord, _ := c.x.Ord(c.items[i].ID)
			hits = append(hits, Hit{Ord: ord, Score: score[i]})
		}
	}
	slices.SortFunc(hits, compareHits)
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// check compares Popular for the whole catalog and for every category with
// the brute-force reference.
func (c *popularityCase) check(t *testing.T, now int64, k int) {
	t.Helper()
	f := func(name string, cat int32, keep func(i int) bool) {
		t.Helper()
		got := c.x.Popular(cat, k, now, nil)
		want := c.brute(now, k, keep)
		same := len(got) == len(want)
		for i := 0; same && i < len(got); i++ {
			same = got[i].Ord == want[i].Ord && math.Abs(got[i].Score-want[i].Score) <= 1e-9*math.Abs(want[i].Score)
		}
		if !same {
			t.Errorf("Popular(%s, %d) = %v, want %v", name, k, got, want)
		}
	}
	f("all", -1, func(int) bool { return true })
	for j := 0; j < 10; j++ {
		key := fmt.Sprint("c", j)
		id, _ := c.x.CategoryID(key)
		f(key, id, func(i int) bool { return i%10 == j })
	}
	for j := 0; j < 20; j++ {
		key := fmt.Sprintf("c%d/s%d", j%10, j)
		id, ok := c.x.CategoryID(key)
		if !ok {
			t.Fatalf("CategoryID(%q) = _, false, want an id", key)
		}
		f(key, id, func(i int) bool { return i%20 == j })
	}
	// Every item's score, in or out of the lists.
	for i, it := range c.items {
		ord, _ := c.x.Ord(it.ID)
		want := 0.0
		for _, e := range c.events {
			if e.item == i {
				want += e.w * math.Exp2(float64(e.ts-now)/float64(c.half.Milliseconds()))
			}
		}
		if got := c.x.Popularity(ord, now); math.Abs(got-want) > 1e-9*want {
			t.Errorf("Popularity(%q) = %v, want %v", it.ID, got, want)
		}
	}
}

var weights = []float64{1, 2, 3, 5}

func TestPopularBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var events []event
	for i := 0; i < 2000; i++ {
		// Skewed towards low item numbers, at random times within a week.
		events = append(events, event{item: r.IntN(1 + r.IntN(300)), w: weights[r.IntN(len(weights))], ts: base + r.Int64N(7*day)})
	}
	c := newPopularityCase(t, Options{PopularKept: 10}, 300, events)
	c.check(t, base+7*day, 10)
	c.check(t, base+7*day, 3)
	c.check(t, base+30*day, 10) // later: every score fades alike, the order stays
}

// TestPopularRescale spans enough half-lives that the reference time of the
// scores must move forward.
func TestPopularRescale(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	var events []event
	const n = 2000
	for i := 0; i < n; i++ {
		ts := base + int64(i)*(40*day/n) + r.Int64N(24*hour) - 12*hour
		events = append(events, event{item: r.IntN(1 + r.IntN(300)), w: weights[r.IntN(len(weights))], ts: ts})
	}
	c := newPopularityCase(t, Options{PopularKept: 10, PopularityHalfLife: time.Hour}, 300, events)
	if c.x.pop.state.Load().t0 <= events[0].ts {
		t.Fatalf("reference time = %d after %d half-lives, want it moved forward from %d", c.x.pop.state.Load().t0, 40*24, events[0].ts)
	}
	c.check(t, base+40*day, 10)
}

func TestPopularTies(t *testing.T) {
	x := newTestIndex(t, Options{PopularKept: 2})
	mustUpsert(t, x, Item{ID: "a", Category: []string{"X"}}, Item{ID: "b", Category: []string{"X"}}, Item{ID: "c", Category: []string{"X"}})
	// Equal scores rank by ordinal (a, b, c), whatever order they arrive in.
	for _, id := range []string{"b", "c", "a"} {
		x.Observe(Observation{Item: id, Weight: 1, TS: base})
	}
	cat, _ := x.CategoryID("X")
	for _, c := range []int32{-1, cat} {
		var got []string
		for _, h := range x.Popular(c, 2, base, nil) {
			got = append(got, x.Doc(h.Ord).Item.ID)
		}
		if want := []string{"a", "b"}; !slices.Equal(got, want) {
			t.Errorf("Popular(%d, 2) = %q, want %q", c, got, want)
		}
	}
}

func TestPopularUnavailable(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x,
		Item{ID: "a", Category: []string{"X"}, Available: ptr(false)},
		Item{ID: "b", Category: []string{"X"}},
		Item{ID: "c", Category: []string{"X", "Y"}},
		Item{ID: "d", Category: []string{"Z"}},
	)
	for _, o := range []struct {
		id string
		n  int
	}{{"a", 5}, {"ghost", 4}, {"b", 3}, {"c", 2}, {"d", 1}} {
		for i := 0; i < o.n; i++ {
			x.Observe(Observation{Item: o.id, Weight: 1, TS: base})
		}
	}
	ids := func(cat int32, k int) []string {
		var out []string
		for _, h := range x.Popular(cat, k, base, nil) {
			out = append(out, x.Doc(h.Ord).Item.ID)
		}
		return out
	}
	catX, _ := x.CategoryID("X")
	catXY, _ := x.CategoryID("X/Y")
	tests := []struct {
		name string
		cat  int32
		k    int
		want []string
	}{
		{"all", -1, 10, []string{"b", "c", "d"}},
		{"all, k=1", -1, 1, []string{"b"}},
		{"all, k=0", -1, 0, nil},
		{"X", catX, 10, []string{"b", "c"}},
		{"X/Y", catXY, 10, []string{"c"}},
		{"unknown category", 1000, 10, nil},
	}
	for _, tt := range tests {
		if got := ids(tt.cat, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("Popular(%s, %d) = %q, want %q", tt.name, tt.k, got, tt.want)
		}
	}
	// Availability is read at query time.
	mustUpsert(t, x, Item{ID: "a", Category: []string{"X"}})
	if got, want := ids(-1, 10), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("Popular(all, 10) after a becomes available = %q, want %q", got, want)
	}
	if got := x.Popular(-1, 1, base, []Hit{{Ord: -1}}); len(got) != 2 || got[0].Ord != -1 || got[1].Score != 5 {
		t.Errorf("Popular(all, 1, dst) = %v, want dst and a with score 5", got)
	}
	if got := x.Popularity(1000, base); got != 0 {
		t.Errorf("Popularity(unknown ordinal) = %v, want 0", got)
	}
}

// TestPopularZeroTime checks that an event at time zero (1970, which the API
// accepts) is decayed like any other when it comes first.
func TestPopularZeroTime(t *testing.T) {
	x := newTestIndex(t, Options{PopularityHalfLife: time.Hour})
	mustUpsert(t, x, Item{ID: "old"}, Item{ID: "new"})
	x.Observe(Observation{Item: "old", Weight: 1000, TS: 0})
	x.Observe(Observation{Item: "new", Weight: 1, TS: 3 * hour})
	now := 3 * hour
	tests := []struct {
		id   string
		want float64
	}{{"old", 1000.0 / 8}, {"new", 1}}
	for _, tt := range tests {
		ord, _ := x.Ord(tt.id)
		if got := x.Popularity(ord, now); math.Abs(got-tt.want) > 1e-9*tt.want {
			t.Errorf("Popularity(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	// A 1970 event among recent ones has faded to nothing.
	x.Observe(Observation{Item: "new", Weight: 1, TS: base})
	if got := x.Popular(-1, 10, base, nil); len(got) != 2 || x.Doc(got[0].Ord).Item.ID != "new" {
		t.Errorf("Popular(all) = %v, want the recent item first", got)
	}
}

// TestPopularReadsTakeNoLock reads popularity while a writer holds the
// writers' lock: a read that waited for it would never return.
func TestPopularReadsTakeNoLock(t *testing.T) {
	c := newPopularityCase(t, Options{PopularKept: 10}, 30, []event{{1, 2, base}, {2, 1, base}, {1, 1, base + hour}})
	ord, _ := c.x.Ord(c.items[1].ID)
	cat, _ := c.x.CategoryID("c1")
	c.x.pop.mu.Lock()
	defer c.x.pop.mu.Unlock()
	if got := c.x.Popular(-1, 5, base+hour, nil); len(got) != 2 || got[0].Ord != ord {
		t.Errorf("Popular(all) = %v, want 2 items, %d first", got, ord)
	}
	if got := c.x.Popular(cat, 5, base+hour, nil); len(got) != 1 || got[0].Ord != ord {
		t.Errorf("Popular(c1) = %v, want %d alone", got, ord)
	}
	if got := c.x.Popularity(ord, base+hour); got <= 1 {
		t.Errorf("Popularity(%d) = %v, want more than 1", ord, got)
	}
	if got := c.x.pop.getAll([]int32{ord, -1}, base+hour, nil); len(got) != 2 || got[0] <= 1 || got[1] != 0 {
		t.Errorf("getAll = %v, want [>1 0]", got)
	}
}

// TestPopularConcurrent counts events while others read: every list read
// holds distinct items, at most k of them, and once the writers are done
// the lists and scores are exact.
func TestPopularConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	var events []event
	for i := 0; i < 4000; i++ {
		events = append(events, event{item: r.IntN(1 + r.IntN(300)), w: weights[r.IntN(len(weights))], ts: base + int64(i)*(3*day/4000)})
	}
	c := newPopularityCase(t, Options{PopularKept: 10, PopularityHalfLife: time.Hour}, 300, nil)
	c.events = events
	cat, _ := c.x.CategoryID("c3")
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, k := range []int32{-1, cat} {
					got := c.x.Popular(k, 8, base+3*day, nil)
					seen := map[int32]bool{}
					for _, h := range got {
						if seen[h.Ord] {
							t.Errorf("Popular(%d) = %v: %d twice", k, got, h.Ord)
							return
						}
						seen[h.Ord] = true
					}
					if len(got) > 8 {
						t.Errorf("Popular(%d) = %d items, want at most 8", k, len(got))
						return
					}
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := w; i < len(events); i += 2 {
				e := events[i]
				c.x.Observe(Observation{Item: c.items[e.item].ID, Weight: e.w, TS: e.ts})
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	c.check(t, base+3*day, 10)
}
