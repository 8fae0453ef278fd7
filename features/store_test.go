package features

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatalf("kv.Open(%q) error = %v, want nil", dir, err)
	}
	return db
}

// newTestStore returns a store over a new database in a temporary directory;
// both are closed when the test ends.
func newTestStore(t testing.TB, opts Options) (*Store, *pebble.DB) {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	s, err := New(db, opts, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	t.Cleanup(s.Close)
	return s, db
}

func mustApply(t testing.TB, s *Store, events ...Event) Result {
	t.Helper()
	res, err := s.Apply(events)
	if err != nil {
		t.Fatalf("Apply(%d events) error = %v, want nil", len(events), err)
	}
	return res
}

func mustGet(t testing.TB, s *Store, user string) *Profile {
	t.Helper()
	p, err := s.Get(user)
	if err != nil {
		t.Fatalf("Get(%q) error = %v, want nil", user, err)
	}
	return p
}

func history(t testing.TB, s *Store, user string) []HistoryEvent {
	t.Helper()
	var out []HistoryEvent
	if err := s.History(user, func(h HistoryEvent) error { out = append(out, h); return nil }); err != nil {
		t.Fatalf("History(%q) error = %v, want nil", user, err)
	}
	return out
}

func TestStoreApplyGet(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	if p, err := s.Get("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(%q) = %v, %v, want ErrNotFound", "nobody", p, err)
	}
	if res, err := s.Apply(nil); err != nil || !reflect.DeepEqual(res, Result{}) {
		t.Errorf("Apply(nil) = %+v, %v, want an empty result", res, err)
	}
	events := []Event{
		{ID: "e1", User: "bob", Type: View, Item: "i1", TS: t0, Category: []string{"A"}},
		{ID: "e2", User: "alice", Type: Search, Query: "red shoes", TS: t0, Terms: []string{"red", "shoe"}},
		{ID: "e3", User: "bob", Type: Purchase, Item: "i2", TS: t0 + 1000, Price: 7},
		{User: "alice", Type: Click, Item: "i1", TS: t0 + 2000},
	}
	res := mustApply(t, s, events...)
	want := Result{Accepted: 4, Applied: []Applied{
		{Index: 0}, {Index: 1}, {Index: 2, Before: []string{"i1"}}, {Index: 3},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Apply() = %+v, want %+v", res, want)
	}
	bob := mustGet(t, s, "bob")
	if bob.User != "bob" || bob.Events != 2 || bob.Purchases != 1 || bob.Monetary != 7 || !bob.HasPurchased("i2") {
		t.Errorf("Get(%q) = %+v, want 2 events and a purchase of i2 for 7", "bob", bob)
	}
	alice := mustGet(t, s, "alice")
	if alice.Events != 2 || alice.Counts[Search] != 1 || alice.Counts[Click] != 1 || Interest(alice.Terms, "shoe") == 0 {
		t.Errorf("Get(%q) = %+v, want a search and a click", "alice", alice)
	}
	hist := history(t, s, "alice")
	wantHist := []HistoryEvent{
		{ID: "e2", Type: Search, Target: "red shoes", TS: t0},
		{Type: Click, Target: "i1", TS: t0 + 2000},
	}
	if !reflect.DeepEqual(hist, wantHist) {
		t.Errorf("History(%q) = %+v, want %+v", "alice", hist, wantHist)
	}
}

// TestStoreProfilesAreTheCallersOwn changes the profile a read returned, on
// the path that caches it from a write and on the one that loads it from
// Pebble: no later read sees the change.
func TestStoreProfilesAreTheCallersOwn(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	mustApply(t, s, Event{User: "u", Type: View, Item: "i1", TS: t0, Category: []string{"A", "B"}, Session: "s1"})
	want := mustGet(t, s, "u")
	for _, path := range []string{"cached by the write", "loaded from Pebble"} {
		if path == "loaded from Pebble" {
			s.cache.Del("u")
		}
		s.cache.Wait()
		p := mustGet(t, s, "u")
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("%s: Get(%q) = %+v, want %+v", path, "u", p, want)
		}
		p.Events = 99
		p.Recent[0].Target = "changed"
		p.Categories[0].Weight = -1
		p.Purchased = append(p.Purchased, "i9")
		s.cache.Wait()
		if got := mustGet(t, s, "u"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Get(%q) after the caller changed its copy = %+v, want %+v", path, "u", got, want)
		}
	}
}

// GetInto reads each profile into the same memory and gives what Get gives,
// a long profile after a short one and a short one after a long one, from
// the cache and from Pebble; a missing user is ErrNotFound.
func TestStoreGetIntoReusesOneProfile(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	for i := range 30 {
		mustApply(t, s, Event{User: "long", Type: View, Item: fmt.Sprint("i", i), TS: t0 + int64(i),
			Category: []string{"A", fmt.Sprint("B", i%4)}, Brand: fmt.Sprint("b", i%3), Session: "s1"})
	}
	mustApply(t, s, Event{User: "long", Type: Purchase, Item: "i3", Amount: 10, TS: t0 + 40})
	mustApply(t, s, Event{User: "short", Type: Search, Query: "red shoes", TS: t0})
	var p Profile
	for _, path := range []string{"cached by the write", "loaded from Pebble"} {
		for _, u := range []string{"long", "short", "long"} {
			if path == "loaded from Pebble" {
				s.cache.Del(u)
				s.cache.Wait()
			}
			if err := s.GetInto(u, &p); err != nil {
				t.Fatalf("%s: GetInto(%q): %v", path, u, err)
			}
			if got, want := string(AppendEncoded(nil, &p)), string(AppendEncoded(nil, mustGet(t, s, u))); got != want {
				t.Fatalf("%s: GetInto(%q) after another user's profile differs from Get:\n got %+v\nwant %+v", path, u, p, *mustGet(t, s, u))
			}
		}
	}
	if err := s.GetInto("nobody", &p); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetInto(nobody) = %v, want ErrNotFound", err)
	}
}

func TestStoreReadYourWrites(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	mustApply(t, s, Event{User: "u", Type: View, Item: "i0", TS: t0})
	for i := 1; i <= 200; i++ {
		// Cache the current profile, then make it stale.
		if p := mustGet(t, s, "u"); p.Events != uint64(i) {
			t.Fatalf("Get(%q) before apply %d: Events = %d, want %d", "u", i, p.Events, i)
		}
		mustApply(t, s, Event{User: "u", Type: View, Item: fmt.Sprint("i", i), TS: t0 + int64(i)})
		if p := mustGet(t, s, "u"); p.Events != uint64(i+1) {
			t.Fatalf("Get(%q) after apply %d: Events = %d, want %d", "u", i, p.Events, i+1)
		}
	}
}

// TestStoreReadYourWritesConcurrent has two users write and read at once: each
// read must see every write of its user that returned before it, whatever the
// other user's writes do to the cache.
func TestStoreReadYourWritesConcurrent(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	const n = 100
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("user", g)
			for i := 1; i <= n; i++ {
				if _, err := s.Apply([]Event{{User: user, Type: Click, Item: "i", TS: t0 + int64(i)}}); err != nil {
					t.Errorf("Apply(%q, %d) error = %v, want nil", user, i, err)
					return
				}
				p, err := s.Get(user)
				if err != nil || p.Events != uint64(i) {
					t.Errorf("Get(%q) after apply %d = %v, %v, want %d events", user, i, p, err, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestStoreDuplicates(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	e := Event{ID: "e1", User: "u", Type: Purchase, Item: "i1", TS: t0, Amount: 3}
	res := mustApply(t, s, e, e, Event{ID: "e2", User: "u", Type: View, Item: "i2", TS: t0 + 1})
	if res.Accepted != 2 || res.Duplicates != 1 || len(res.Applied) != 2 || res.Applied[1].Index != 2 {
		t.Errorf("Apply(e1, e1, e2) = %+v, want 2 accepted (0 and 2), 1 duplicate", res)
	}
	p := mustGet(t, s, "u")
	if p.Events != 2 || p.Purchases != 1 || p.Monetary != 3 {
		t.Errorf("Get(%q) = %+v, want 2 events and one purchase of 3", "u", p)
	}

	// Replayed in later batches, alone or with a new event, and for another
	// user: the id is known, nothing changes.
	res = mustApply(t, s, e)
	if res.Accepted != 0 || res.Duplicates != 1 || len(res.Applied) != 0 {
		t.Errorf("Apply(e1) again = %+v, want 1 duplicate", res)
	}
	other := e
	other.User = "v"
	res = mustApply(t, s, other, Event{ID: "e3", User: "u", Type: View, Item: "i3", TS: t0 + 2})
	if res.Accepted != 1 || res.Duplicates != 1 || len(res.Applied) != 1 || res.Applied[0].Index != 1 {
		t.Errorf("Apply(e1 for v, e3) = %+v, want e3 accepted, 1 duplicate", res)
	}
	if p, err := s.Get("v"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(%q) after only a duplicate = %v, %v, want ErrNotFound", "v", p, err)
	}
	p2 := mustGet(t, s, "u")
	if p2.Events != 3 || p2.Purchases != 1 || p2.Version != p.Version+1 {
		t.Errorf("Get(%q) = %+v, want 3 events, one purchase, version %d", "u", p2, p.Version+1)
	}
	if h := history(t, s, "u"); len(h) != 3 {
		t.Errorf("History(%q) = %+v, want 3 events", "u", h)
	}

	// Events without an id are never duplicates.
	anon := Event{User: "w", Type: View, Item: "i", TS: t0}
	if res := mustApply(t, s, anon, anon); res.Accepted != 2 || res.Duplicates != 0 {
		t.Errorf("Apply(two events without id) = %+v, want both accepted", res)
	}
}

func TestStoreDelete(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	// Users whose ids extend or prefix one another must not share history.
	users := []string{"a", "ab", "a\x00", "\xff", "\xff\xff"}
	for i, u := range users {
		mustApply(t, s,
			Event{ID: fmt.Sprint("v", i), User: u, Type: View, Item: "i1", TS: t0},
			Event{User: u, Type: Purchase, Item: "i2", TS: t0 + 1})
	}
	mustGet(t, s, "a") // cached before the delete
	for _, u := range []string{"a", "\xff"} {
		if err := s.Delete(u); err != nil {
			t.Fatalf("Delete(%q) error = %v, want nil", u, err)
		}
		if p, err := s.Get(u); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) after Delete = %+v, %v, want ErrNotFound", u, p, err)
		}
		if h := history(t, s, u); len(h) != 0 {
			t.Errorf("History(%q) after Delete = %+v, want none", u, h)
		}
		if err := s.Delete(u); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%q) twice = %v, want ErrNotFound", u, err)
		}
	}
	for _, u := range []string{"ab", "a\x00", "\xff\xff"} {
		if p, err := s.Get(u); err != nil || p.Events != 2 {
			t.Errorf("Get(%q) after deleting others = %v, %v, want 2 events", u, p, err)
		}
		if h := history(t, s, u); len(h) != 2 {
			t.Errorf("History(%q) after deleting others = %+v, want 2 events", u, h)
		}
	}
	if err := s.Delete("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(%q) = %v, want ErrNotFound", "nobody", err)
	}
	var all []string
	if err := s.EachHistory(func(u string, _ HistoryEvent) error { all = append(all, u); return nil }); err != nil {
		t.Fatalf("EachHistory() error = %v, want nil", err)
	}
	if want := []string{"a\x00", "a\x00", "ab", "ab", "\xff\xff", "\xff\xff"}; !slices.Equal(all, want) {
		t.Errorf("EachHistory() users = %q, want %q", all, want)
	}

	// A deleted user starts again from nothing.
	mustApply(t, s, Event{User: "a", Type: Click, Item: "i3", TS: t0 + 5})
	if p := mustGet(t, s, "a"); p.Events != 1 || p.Purchases != 0 {
		t.Errorf("Get(%q) after Delete and a new event = %+v, want 1 event", "a", p)
	}
}

func TestStoreReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	var events []Event
	for i := 0; i < 100; i++ {
		typ := EventType(1 + r.IntN(5))
		e := Event{ID: fmt.Sprint("e", i), User: fmt.Sprint("u", r.IntN(3)), Type: typ, Item: fmt.Sprint("i", r.IntN(20)),
			TS: t0 + r.Int64N(10*day), Category: []string{"A", fmt.Sprint("B", r.IntN(4))}, Brand: "C", Price: 2}
		if typ == Search {
			e.Item, e.Query, e.Terms = "", "q", []string{"q"}
		}
		events = append(events, e)
	}
	mustApply(t, s, events[:50]...)
	mustApply(t, s, events[50:]...)
	want := map[string]*Profile{}
	wantHist := map[string][]HistoryEvent{}
	for _, u := range []string{"u0", "u1", "u2"} {
		want[u] = mustGet(t, s, u)
		wantHist[u] = history(t, s, u)
	}
	s.Close()
	if err := db.Close(); err != nil {
		t.Fatalf("Close() error = %v, want nil", err)
	}

	db = openDB(t, dir)
	defer db.Close()
	s, err = New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() after reopening error = %v, want nil", err)
	}
	defer s.Close()
	for u, p := range want {
		if got := mustGet(t, s, u); !reflect.DeepEqual(got, p) {
			t.Errorf("Get(%q) after reopening = %+v, want %+v", u, got, p)
		}
		if got := history(t, s, u); !reflect.DeepEqual(got, wantHist[u]) {
			t.Errorf("History(%q) after reopening = %+v, want %+v", u, got, wantHist[u])
		}
	}
	if res := mustApply(t, s, events[3]); res.Duplicates != 1 || res.Accepted != 0 {
		t.Errorf("Apply(%q) after reopening = %+v, want a duplicate", events[3].ID, res)
	}
}

func TestStoreConcurrentApply(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := Event{ID: fmt.Sprintf("g%d-%d", g, i), User: "u", Type: EventType(1 + (g+i)%5),
					Item: fmt.Sprint("i", i%7), TS: t0 + int64(i), Category: []string{"A"}, Price: 1}
				if e.Type == Search {
					e.Item, e.Query = "", "q"
				}
				if _, err := s.Apply([]Event{e}); err != nil {
					t.Errorf("Apply(%q) error = %v, want nil", e.ID, err)
					return
				}
				if i%50 == 0 {
					if _, err := s.Get("u"); err != nil {
						t.Errorf("Get(%q) error = %v, want nil", "u", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	p := mustGet(t, s, "u")
	var want [numEventTypes]uint32
	for g := 0; g < goroutines; g++ {
		for i := 0; i < each; i++ {
			want[1+(g+i)%5]++
		}
	}
	if p.Events != goroutines*each || p.Counts != want || p.Purchases != want[Purchase] || p.Monetary != float64(want[Purchase]) {
		t.Errorf("Get(%q) = Events %d, Counts %v, Purchases %d, Monetary %v, want %d, %v, %d, %d",
			"u", p.Events, p.Counts, p.Purchases, p.Monetary, goroutines*each, want, want[Purchase], want[Purchase])
	}
	if h := history(t, s, "u"); len(h) != goroutines*each {
		t.Errorf("len(History(%q)) = %d, want %d", "u", len(h), goroutines*each)
	}
}

func TestStoreReplay(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	r := rand.New(rand.NewPCG(9, 10))
	type key struct {
		user string
		ts   int64
	}
	want := map[key][]string{}
	var order []key
	for _, user := range []string{"alice", "bob", "carol"} {
		ts := t0
		for i := 0; i < 120; i++ {
			// Mostly within the co-visit window, sometimes far beyond it; more
			// than Limits.Recent events within one window at times.
			switch r.IntN(10) {
			case 0:
				ts += 2 * hour
			case 1, 2:
				ts += 10 * 60_000
			default:
				ts += 1 + r.Int64N(30_000)
			}
			e := Event{User: user, Type: EventType(1 + r.IntN(5)), Item: fmt.Sprint("i", r.IntN(12)), TS: ts}
			if e.Type == Search {
				e.Item, e.Query = "", fmt.Sprint("q", r.IntN(3))
			}
			// One event a batch, in time order.
			res := mustApply(t, s, e)
			if e.Type != Search {
				k := key{user, ts}
				want[k] = res.Applied[0].Before
				order = append(order, k)
			}
		}
	}
	got := map[key][]string{}
	var gotOrder []key
	err := s.Replay(func(user string, h HistoryEvent, before []string) {
		if h.Type == Search {
			t.Errorf("Replay() yielded search %+v, want item events only", h)
		}
		k := key{user, h.TS}
		got[k] = append([]string(nil), before...)
		gotOrder = append(gotOrder, k)
	})
	if err != nil {
		t.Fatalf("Replay() error = %v, want nil", err)
	}
	// Users come one after another (in key order, not name order), each
	// user's events in time order.
	byUser := func(keys []key) map[string][]int64 {
		m := map[string][]int64{}
		for _, k := range keys {
			m[k.user] = append(m[k.user], k.ts)
		}
		return m
	}
	if gotBy, wantBy := byUser(gotOrder), byUser(order); !reflect.DeepEqual(gotBy, wantBy) {
		t.Fatalf("Replay() times by user = %v, want %v", gotBy, wantBy)
	}
	for i := 1; i < len(gotOrder); i++ {
		if u := gotOrder[i].user; u != gotOrder[i-1].user && slices.ContainsFunc(gotOrder[:i], func(k key) bool { return k.user == u }) {
			t.Fatalf("Replay() returned to user %q after another user", u)
		}
	}
	nonEmpty := 0
	for _, k := range order {
		if len(want[k]) > 0 {
			nonEmpty++
		}
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("Replay() before of %s at %d = %q, want %q as Apply returned", k.user, k.ts, got[k], want[k])
		}
	}
	if nonEmpty < len(order)/2 {
		t.Errorf("only %d of %d events had items before them, want a test that exercises co-visitation", nonEmpty, len(order))
	}
}

func TestCoVisited(t *testing.T) {
	recent := []Action{
		{Type: View, Target: "old", TS: 0},
		{Type: View, Target: "a", TS: 2 * hour},
		{Type: Search, Target: "query", TS: 2*hour + 1},
		{Type: Click, Target: "b", TS: 2*hour + 2},
		{Type: View, Target: "a", TS: 2*hour + 3},
		{Type: View, Target: "self", TS: 2*hour + 4},
		{Type: Cart, Target: "c", TS: 2*hour + 5},
		{Type: View, Target: "later", TS: 3 * hour},
	}
	tests := []struct {
		ts   int64
		max  int
		want []string
	}{
		{2*hour + 10, 5, []string{"c", "a", "b"}},
		{2*hour + 10, 2, []string{"c", "a"}},
		{3*hour + 3, 5, []string{"later", "c", "a"}}, // "a" at 2h+3 is exactly an hour old
		{3*hour + 4, 5, []string{"later", "c"}},      // "a" is older than an hour, "self" is skipped
		{3*hour + 5, 5, []string{"later", "c"}},      // "c" is exactly an hour old
		{2*hour + 4, 5, []string{"a", "b"}},          // the event's own time: "self" is skipped
		{hour - 1, 5, []string{"old"}},               // before everything else
		{-1, 5, nil},                                 // before everything
		{10 * hour, 5, nil},                          // nothing within the hour
	}
	for _, tt := range tests {
		if got := coVisited(recent, "self", tt.ts, hour, tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("coVisited(%d, %d) = %q, want %q", tt.ts, tt.max, got, tt.want)
		}
	}
}
