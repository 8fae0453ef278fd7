package synth

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

func ndjson(t *testing.T, w *World) (items, events []byte) {
	t.Helper()
	var ib, eb bytes.Buffer
	if err := w.WriteItemsNDJSON(&ib); err != nil {
		t.Fatalf("WriteItemsNDJSON: got error %v, want nil", err)
	}
	if err := w.WriteEventsNDJSON(&eb); err != nil {
		t.Fatalf("WriteEventsNDJSON: got error %v, want nil", err)
	}
	return ib.Bytes(), eb.Bytes()
}

func TestDeterminism(t *testing.T) {
	base := Options{Items: 500, Users: 50, Seed: 7}
	tests := []struct {
		name string
		a, b Options
		same bool
	}{
		{"same seed", base, base, true},
		{"zero options", Options{}, Options{}, true},
		{"defaults spelled out", Options{Seed: 3}, Options{Items: 1000, Users: 1000, Seed: 3, Days: 30, SessionsPerUser: 3,
			Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"other seed", base, Options{Items: 500, Users: 50, Seed: 8}, false},
		{"negative seed", base, Options{Items: 500, Users: 50, Seed: -7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ai, ae := ndjson(t, New(tt.a))
			bi, be := ndjson(t, New(tt.b))
			if got := bytes.Equal(ai, bi); got != tt.same {
				t.Errorf("items NDJSON equal: got %v, want %v", got, tt.same)
			}
			if got := bytes.Equal(ae, be); got != tt.same {
				t.Errorf("events NDJSON equal: got %v, want %v", got, tt.same)
			}
		})
	}
}

// A user's events must not depend on which users were generated before.
func TestEventsIndependentOfOrder(t *testing.T) {
	w := New(Options{Items: 300, Users: 20, Seed: 1})
	var all []Event
	if err := w.EachEvent(func(e Event) error { all = append(all, e); return nil }); err != nil {
		t.Fatalf("EachEvent: got error %v, want nil", err)
	}
	fresh := New(w.Options)
	var backward []Event
	for u := w.Users - 1; u >= 0; u-- {
		var evs []Event
		fresh.Events(u, func(e Event) error { evs = append(evs, e); return nil })
		backward = append(evs, backward...)
	}
	if !slices.Equal(all, backward) {
		t.Errorf("events generated backward: got %d events differing from forward, want identical %d", len(backward), len(all))
	}
}

func TestEventsStopOnError(t *testing.T) {
	w := New(Options{Items: 100, Users: 10})
	stop := errors.New("stop")
	n := 0
	err := w.EachEvent(func(Event) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Errorf("got error %v after %d events, want %v after 5", err, n, stop)
	}
}

func TestEventsValid(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"defaults", Options{Users: 300}},
		{"one day, many sessions", Options{Items: 200, Users: 50, Days: 1, SessionsPerUser: 40, Seed: 2}},
		{"tiny catalog", Options{Items: 5, Users: 50, Seed: 3}},
		{"one session", Options{Items: 2000, Users: 100, SessionsPerUser: 0.5, Seed: 4,
			Start: time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(tt.opts)
			price := map[string]float64{}
			for _, it := range w.Items {
				price[it.ID] = it.Price
			}
			start := w.Start.UnixMilli()
			end := w.Start.AddDate(0, 0, w.Days).UnixMilli()
			ids := map[string]bool{}
			counts := map[string]int{}
			for u := range w.Users {
				user := w.UserID(u)
				var last int64
				err := w.Events(u, func(e Event) error {
					counts[e.Type]++
					if ids[e.ID] {
						t.Errorf("event id %s: got duplicate, want unique", e.ID)
					}
					ids[e.ID] = true
					if e.User != user || !strings.HasPrefix(e.ID, "e"+user+"-") || !strings.HasPrefix(e.Session, user+"-s") {
						t.Errorf("event %+v: got user/id/session not of %s, want all of %s", e, user, user)
					}
					if e.TS < start || e.TS > end {
						t.Errorf("event %s: got ts %d, want within [%d, %d]", e.ID, e.TS, start, end)
					}
					if e.TS < last {
						t.Errorf("event %s: got ts %d before previous %d, want time order", e.ID, e.TS, last)
					}
					last = e.TS
					switch e.Type {
					case Search:
						if e.Query == "" || e.Item != "" {
							t.Errorf("search %s: got query %q item %q, want a query and no item", e.ID, e.Query, e.Item)
						}
					case View, Click, Cart, Purchase:
						p, ok := price[e.Item]
						if !ok || e.Query != "" {
							t.Errorf("%s %s: got item %q (in catalog %v) query %q, want a catalog item and no query", e.Type, e.ID, e.Item, ok, e.Query)
						}
						if e.Type == Purchase && (e.Amount <= 0 || e.Amount != p) {
							t.Errorf("purchase %s: got amount %v, want price %v > 0", e.ID, e.Amount, p)
						}
						if e.Type != Purchase && e.Amount != 0 {
							t.Errorf("%s %s: got amount %v, want 0", e.Type, e.ID, e.Amount)
						}
					default:
						t.Errorf("event %s: got type %q, want one of search, view, click, cart, purchase", e.ID, e.Type)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("Events(%d): got error %v, want nil", u, err)
				}
			}
			for _, typ := range []string{Search, View, Click, Cart} {
				if counts[typ] == 0 {
					t.Errorf("events of type %s: got 0, want some", typ)
				}
			}
		})
	}
}

func TestEventMix(t *testing.T) {
	w := New(Options{Items: 5000, Users: 2000, Seed: 5})
	counts := map[string]int{}
	sessions := map[string]bool{}
	preferred := 0
	for u := range w.Users {
		interests := w.UserInterests(u)
		if n := len(interests); n < 1 || n > 3 {
			t.Fatalf("UserInterests(%d): got %d leaves, want 1-3", u, n)
		}
		leafOf := map[string]int{}
		w.Events(u, func(e Event) error {
			counts[e.Type]++
			sessions[e.Session] = true
			if e.Type == View {
				i := index(t, e.Item)
				leafOf[e.Item] = int(w.itemLeaf[i])
				if slices.Contains(interests, leafOf[e.Item]) {
					preferred++
				}
			}
			return nil
		})
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	s := float64(len(sessions))
	t.Logf("%d users: %.1f events/user, %.2f sessions/user, %v", w.Users, float64(total)/float64(w.Users), s/float64(w.Users), counts)
	tests := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"events per user", float64(total) / float64(w.Users), 10, 20},
		{"sessions per user", s / float64(w.Users), 2.8, 3.2},
		{"searches per session", float64(counts[Search]) / s, 0.55, 0.65},
		{"views per session", float64(counts[View]) / s, 4.5, 5.5},
		{"carts per session", float64(counts[Cart]) / s, 0.12, 0.17},
		{"purchases per session", float64(counts[Purchase]) / s, 0.035, 0.065},
		{"views in a preferred leaf", float64(preferred) / float64(counts[View]), 0.8, 0.9},
	}
	for _, tt := range tests {
		if tt.got < tt.min || tt.got > tt.max {
			t.Errorf("%s: got %.3f, want within [%v, %v]", tt.name, tt.got, tt.min, tt.max)
		}
	}
}

func index(t *testing.T, id string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(id, "i%d", &i); err != nil {
		t.Fatalf("item id %q: got error %v, want i%%06d", id, err)
	}
	return i
}

func TestCatalog(t *testing.T) {
	w := New(Options{Items: 20000, Seed: 9})
	if got, want := len(w.Items), 20000; got != want {
		t.Fatalf("items: got %d, want %d", got, want)
	}
	tops := map[string]bool{}
	for _, c := range w.Categories {
		if len(c) != 3 {
			t.Errorf("category %v: got depth %d, want 3", c, len(c))
		}
		tops[c[0]] = true
	}
	brandTops := map[string]string{}
	for _, b := range brands {
		brandTops[b.name] = b.tops
		if n := len(strings.Fields(b.tops)); n < 1 || n > 3 {
			t.Errorf("brand %s: got %d top categories, want 1-3", b.name, n)
		}
	}
	var cjk, unavailable int
	sizes := make([]int, len(w.Categories))
	for i, it := range w.Items {
		l := w.itemLeaf[i]
		sizes[l]++
		if want := fmt.Sprintf("i%06d", i); it.ID != want {
			t.Errorf("item %d: got id %s, want %s", i, it.ID, want)
		}
		if !slices.Equal(it.Category, w.Categories[l]) {
			t.Errorf("item %s: got category %v, want %v", it.ID, it.Category, w.Categories[l])
		}
		if !strings.Contains(brandTops[it.Brand], it.Category[0]) {
			t.Errorf("item %s: got brand %q for %s, want one selling in it", it.ID, it.Brand, it.Category[0])
		}
		if it.Price <= 0 || math.Abs(it.Price*100-math.Round(it.Price*100)) > 1e-6 {
			t.Errorf("item %s: got price %v, want positive whole cents", it.ID, it.Price)
		}
		if n := len(it.Tags); n < 1 || n > 4 {
			t.Errorf("item %s: got %d tags, want 1-4", it.ID, n)
		}
		for _, tag := range it.Tags {
			if tag != strings.ToLower(tag) || strings.ContainsRune(tag, ' ') {
				t.Errorf("item %s: got tag %q, want one lowercase word", it.ID, tag)
			}
		}
		if !it.Available {
			unavailable++
		}
		if isCJK(it.Title) {
			cjk++
			if noun := w.leaves[l].cjk; !strings.Contains(it.Title, noun) {
				t.Errorf("item %s: got CJK title %q, want it to contain %q", it.ID, it.Title, noun)
			}
		} else if !strings.HasPrefix(it.Title, it.Brand+" ") || !strings.HasSuffix(it.Title, " "+w.leaves[l].noun) {
			t.Errorf("item %s: got title %q, want brand %q ... noun %q", it.ID, it.Title, it.Brand, w.leaves[l].noun)
		}
	}
	slices.Sort(sizes)
	n := float64(len(w.Items))
	tests := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"top-level categories", float64(len(tops)), 8, 8},
		{"leaf categories", float64(len(w.Categories)), 50, 100},
		{"brands", float64(len(w.Brands)), 55, 65},
		{"share of CJK titles", float64(cjk) / n, 0.08, 0.12},
		{"share of unavailable items", float64(unavailable) / n, 0.02, 0.04},
		{"biggest leaf / median leaf", float64(sizes[len(sizes)-1]) / float64(sizes[len(sizes)/2]), 2, 100},
	}
	for _, tt := range tests {
		if tt.got < tt.min || tt.got > tt.max {
			t.Errorf("%s: got %.3f, want within [%v, %v]", tt.name, tt.got, tt.min, tt.max)
		}
	}
}

func isCJK(s string) bool {
	for _, c := range s {
		if unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana) {
			return true
		}
	}
	return false
}

func TestZipfSkew(t *testing.T) {
	w := New(Options{Items: 20000, Seed: 11})
	big := 0
	for l := range w.leafItems {
		if len(w.leafItems[l]) > len(w.leafItems[big]) {
			big = l
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := map[int]int{}
	for range 100000 {
		counts[w.PopularItem(r, big)]++
	}
	items := w.leafItems[big]
	top, median := counts[int(items[0])], counts[int(items[len(items)/2])]
	if top < 20*max(1, median) {
		t.Errorf("leaf of %d items: got top item %d draws and median item %d, want top >= 20x median",
			len(items), top, median)
	}
	for i := range counts {
		if int(w.itemLeaf[i]) != big {
			t.Fatalf("PopularItem(leaf %d): got item %d of leaf %d, want leaf %d", big, i, w.itemLeaf[i], big)
		}
	}
	for _, l := range []int{-1, len(w.Categories)} {
		if got := w.PopularItem(r, l); got != -1 {
			t.Errorf("PopularItem(leaf %d): got %d, want -1", l, got)
		}
	}
}

// BenchmarkNew builds a 100,000-item world and generates the events of its
// first 1000 users.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		w := New(Options{Items: 100000, Users: 100000})
		n := 0
		for u := range 1000 {
			w.Events(u, func(Event) error { n++; return nil })
		}
		b.ReportMetric(float64(n)/1000, "events/user")
	}
}
