package index

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const minute = int64(time.Minute / time.Millisecond)

// sessionEvent is one item event of a user, for the session tests.
type sessionEvent struct {
	user, item string
	ts         int64
}

// observeAll feeds events to x in their order.
func observeAll(x *Index, events []sessionEvent) {
	for _, e := range events {
		x.Observe(Observation{User: e.user, Item: e.item, Weight: 1, TS: e.ts})
	}
}

// votes asks x for the items the sessions most like ctx vote for, as
// "id=vote" with 4 decimals, best first.
func votes(t *testing.T, x *Index, q SessionQuery, ctx ...string) []string {
	t.Helper()
	q.Items, q.Weights = nil, nil
	for _, id := range ctx {
		o, ok := x.Ord(id)
		if !ok {
			t.Fatalf("Ord(%q) = _, false", id)
		}
		q.Items = append(q.Items, o)
		q.Weights = append(q.Weights, 1)
	}
	var out []string
	for _, h := range x.SimilarSessions(&q, 10, nil) {
		out = append(out, fmt.Sprintf("%s=%.4f", x.cat.ids[h.Ord], h.Score))
	}
	return out
}

// TestSimilarSessionsHandWorked: b's session holds x and y, c's x, z and
// w; u asks with x. b is as similar as 1/sqrt(2) = 0.7071, c 1/sqrt(3) =
// 0.5774, and d's first session, x alone, 1: d's next event, an hour later,
// starts a session that holds only q. Each votes its similarity for its
// items but the context's: y 0.7071, then z and w 0.5774 (ties by ordinal:
// z came first). u's own session, which holds x and v, is no neighbour.
func TestSimilarSessionsHandWorked(t *testing.T) {
	x := newTestIndex(t, Options{})
	observeAll(x, []sessionEvent{
		{"b", "x", base}, {"b", "y", base + minute},
		{"c", "x", base}, {"c", "z", base}, {"c", "w", base + 2*minute},
		{"u", "x", base}, {"u", "v", base},
		{"d", "x", base - 60*minute}, {"d", "q", base},
	})
	got := votes(t, x, SessionQuery{User: "u", Neighbors: 10}, "x")
	want := []string{"y=0.7071", "z=0.5774", "w=0.5774"}
	if !slices.Equal(got, want) {
		t.Errorf("votes for u = %v, want %v", got, want)
	}
	// With one neighbour, only d's session of x alone votes, for nothing
	// new; with two, b joins.
	if got := votes(t, x, SessionQuery{User: "u", Neighbors: 1}, "x"); len(got) != 0 {
		t.Errorf("votes of 1 neighbour = %v, want none", got)
	}
	if got, want := votes(t, x, SessionQuery{User: "u", Neighbors: 2}, "x"), []string{"y=0.7071"}; !slices.Equal(got, want) {
		t.Errorf("votes of 2 neighbours = %v, want %v", got, want)
	}
	// A user who shares nothing gets nothing.
	if got := votes(t, x, SessionQuery{User: "u", Neighbors: 10}, "v"); len(got) != 0 {
		t.Errorf("votes for v, held only by u's own session = %v, want none", got)
	}
}

// TestSimilarSessionsDecayAndSample: two neighbours alike but for their age
// vote 1 and 1/2 when the older is one half-life older; Sample 1 keeps only
// the newest session holding the context item.
func TestSimilarSessionsDecayAndSample(t *testing.T) {
	x := newTestIndex(t, Options{})
	observeAll(x, []sessionEvent{
		{"old", "x", base}, {"old", "a", base},
		{"new", "x", base + 120*minute}, {"new", "b", base + 120*minute},
	})
	q := SessionQuery{User: "u", Neighbors: 10, HalfLife: 120 * minute}
	// Each similar by 1/sqrt(2); old halved.
	want := []string{"b=0.7071", "a=0.3536"}
	if got := votes(t, x, q, "x"); !slices.Equal(got, want) {
		t.Errorf("decayed votes = %v, want %v", got, want)
	}
	q.Sample = 1
	want = []string{"b=0.7071"}
	if got := votes(t, x, q, "x"); !slices.Equal(got, want) {
		t.Errorf("votes sampling 1 session per item = %v, want %v", got, want)
	}
}

// TestSessionsBounded: with 4 sessions kept, a fifth overwrites the first,
// whose items no longer vote, and an item keeps only its latest sessions.
func TestSessionsBounded(t *testing.T) {
	x := newTestIndex(t, Options{SessionsKept: 3, SessionsPerItem: 2, SessionLength: 2}) // 3 rounds up to 4
	var ev []sessionEvent
	for i := range 5 {
		u := fmt.Sprint("u", i)
		ev = append(ev, sessionEvent{u, "x", base + int64(i)}, sessionEvent{u, fmt.Sprint("i", i), base + int64(i)},
			sessionEvent{u, "beyond-length", base + int64(i)})
	}
	observeAll(x, ev)
	// x's latest two sessions are u3's and u4's; u0's was overwritten.
	want := []string{"i3=0.7071", "i4=0.7071"}
	if got := votes(t, x, SessionQuery{User: "q", Neighbors: 10}, "x"); !slices.Equal(got, want) {
		t.Errorf("votes = %v, want %v", got, want)
	}
	if got := votes(t, x, SessionQuery{User: "q", Neighbors: 10}, "i0"); len(got) != 0 {
		t.Errorf("votes for an overwritten session's item = %v, want none", got)
	}
	if got := votes(t, x, SessionQuery{User: "q", Neighbors: 10}, "i1"); !slices.Equal(got, []string{"x=0.7071"}) {
		t.Errorf("votes for i1 = %v, want u1's session, still kept", got)
	}
	x.sess.mu.RLock()
	defer x.sess.mu.RUnlock()
	if len(x.sess.ring) != 4 || len(x.sess.open) > 4 {
		t.Errorf("ring of %d, %d open sessions; want 4 and at most 4", len(x.sess.ring), len(x.sess.open))
	}
}

// TestSessionsRingsGrowByDoubling: the rings grow in a few doublings to the
// sessions kept and no further, so that filling them allocates less than
// twice their final size.
func TestSessionsRingsGrowByDoubling(t *testing.T) {
	const kept, length = 1 << 14, 2
	x := newTestIndex(t, Options{SessionsKept: kept, SessionLength: length})
	var caps []int
	for i := range kept + 10 {
		x.sess.add(fmt.Sprint("u", i), int32(i%7), base+int64(i))
		if c := cap(x.sess.ring); len(caps) == 0 || caps[len(caps)-1] != c {
			caps = append(caps, c)
		}
	}
	if want := []int{1024, 2048, 4096, 8192, kept}; !slices.Equal(caps, want) {
		t.Errorf("the ring's capacities as it filled: %v, want %v", caps, want)
	}
	if len(x.sess.ring) != kept || cap(x.sess.items) != kept*length || len(x.sess.items) != kept*length {
		t.Errorf("full rings: %d sessions, %d of %d items' room; want %d, %d and %d",
			len(x.sess.ring), len(x.sess.items), cap(x.sess.items), kept, kept*length, kept*length)
	}
}

// TestSessionsRebuildTakesFullRoom: a rebuilt index, about to serve, takes
// the rings' full room and room for every item of its catalog at once, so
// that serving fills them without a step of growth: at the defaults a step
// is tens of megabytes allocated at a time the traffic chooses.
func TestSessionsRebuildTakesFullRoom(t *testing.T) {
	const kept, perItem, length, items = 1 << 12, 4, 3, 300
	x := newTestIndex(t, Options{SessionsKept: kept, SessionsPerItem: perItem, SessionLength: length})
	for i := range items {
		mustUpsert(t, x, Item{ID: fmt.Sprint("i", i)})
	}
	err := x.Rebuild(func(observe func(Observation)) error {
		observe(Observation{User: "u", Item: "i0", Weight: 1, TS: base})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	x.sess.mu.RLock()
	ring, itemsRoom, entries := cap(x.sess.ring), cap(x.sess.items), cap(x.sess.itemSeqs)
	x.sess.mu.RUnlock()
	if ring != kept || itemsRoom != kept*length || entries < items*perItem {
		t.Fatalf("after a rebuild: room for %d sessions, %d of their items, %d item entries; want %d, %d and at least %d",
			ring, itemsRoom, entries, kept, kept*length, items*perItem)
	}
	for i := range kept + 10 {
		x.Observe(Observation{User: fmt.Sprint("u", i), Item: fmt.Sprint("i", i%items), Weight: 1, TS: base + int64(i)})
	}
	x.sess.mu.RLock()
	defer x.sess.mu.RUnlock()
	if cap(x.sess.ring) != ring || cap(x.sess.items) != itemsRoom || cap(x.sess.itemSeqs) != entries {
		t.Errorf("serving grew the rings: room for %d sessions, %d items, %d entries; want %d, %d and %d as after the rebuild",
			cap(x.sess.ring), cap(x.sess.items), cap(x.sess.itemSeqs), ring, itemsRoom, entries)
	}
}

// TestSessionsRebuildKeepsLatest: a stored history replayed user by user
// leaves the sessions that feeding it in time order leaves, when fewer
// are kept than there are: the latest, not those of the users replayed
// last.
func TestSessionsRebuildKeepsLatest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ev []sessionEvent
	for i := range 300 {
		// A user comes back every 40 moments, long after the gap: every
		// moment is a session, and no two overlap.
		u := fmt.Sprint("u", i%40)
		ts := base + int64(i)*7*minute
		for range 1 + r.IntN(3) {
			ev = append(ev, sessionEvent{u, fmt.Sprint("i", r.IntN(25)), ts})
		}
	}
	opts := Options{SessionsKept: 64, SessionsPerItem: 8}
	live := newTestIndex(t, opts)
	observeAll(live, ev)

	byUser := slices.Clone(ev)
	slices.SortStableFunc(byUser, func(a, b sessionEvent) int {
		if a.user != b.user {
			return -cmp.Compare(a.user, b.user) // any order of users
		}
		return 0
	})
	rebuilt := newTestIndex(t, opts)
	mustUpsert(t, rebuilt, Item{ID: "i0"}) // ordinals are given out in another order
	err := rebuilt.Rebuild(func(observe func(Observation)) error {
		for _, e := range byUser {
			observe(Observation{User: e.user, Item: e.item, Weight: 1, TS: e.ts})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		item := fmt.Sprint("i", i)
		q := SessionQuery{User: "u0", Neighbors: 5, HalfLife: 600 * minute} // no two neighbours alike
		// Ties are ordered by ordinal, which differ: compare as sets.
		got, want := votes(t, rebuilt, q, item), votes(t, live, q, item)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("after a rebuild, votes for %s = %v, want %v as before", item, got, want)
		}
	}
}

// TestSessionsForgetUser: an erased user's sessions vote no more, and the
// user's next event starts a session of its own.
func TestSessionsForgetUser(t *testing.T) {
	x := newTestIndex(t, Options{})
	observeAll(x, []sessionEvent{{"gone", "x", base}, {"gone", "y", base}, {"kept", "x", base}, {"kept", "z", base}})
	x.ForgetUser("gone")
	want := []string{"z=0.7071"}
	if got := votes(t, x, SessionQuery{User: "u", Neighbors: 10}, "x"); !slices.Equal(got, want) {
		t.Errorf("votes after forgetting = %v, want %v", got, want)
	}
	observeAll(x, []sessionEvent{{"gone", "x", base + minute}, {"gone", "w", base + minute}})
	want = []string{"z=0.7071", "w=0.7071"}
	if got := votes(t, x, SessionQuery{User: "u", Neighbors: 10}, "x"); !slices.Equal(got, want) {
		t.Errorf("votes after the user came back = %v, want %v (a new session of x and w)", got, want)
	}
}

// TestSessionsConcurrent reads while sessions are written, for the race
// detector.
func TestSessionsConcurrent(t *testing.T) {
	x := newTestIndex(t, Options{SessionsKept: 64, SessionsPerItem: 4})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			x.Observe(Observation{User: fmt.Sprint("u", i%50), Item: fmt.Sprint("i", i%30), Weight: 1, TS: base + int64(i)*minute})
		}
	}()
	q := SessionQuery{User: "u1", Items: []int32{0, 1, 2}, Weights: []float64{1, 1, 1}, Neighbors: 10, HalfLife: minute}
	var hits []Hit
	for range 500 {
		hits = x.SimilarSessions(&q, 5, hits[:0])
		for _, h := range hits {
			if math.IsNaN(h.Score) || h.Score <= 0 {
				t.Fatalf("vote %v", h)
			}
		}
	}
	<-done
}

// TestSessionsFollowTimeNotArrival: two cluster nodes read the partitions
// of one log (each user's events in order) interleaved differently; their
// item lists, kept shorter than the sessions holding an item, and their
// votes are the same.
func TestSessionsFollowTimeNotArrival(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var parts [2][]sessionEvent // by user, each user's events in time order
	for i := range 400 {
		u := r.IntN(30)
		ts := base + int64(i)*11*minute
		for range 1 + r.IntN(3) {
			parts[u%2] = append(parts[u%2], sessionEvent{fmt.Sprint("u", u), fmt.Sprint("i", r.IntN(12)), ts})
		}
	}
	opts := Options{SessionsPerItem: 4}
	oneThenOther, interleaved := newTestIndex(t, opts), newTestIndex(t, opts)
	observeAll(oneThenOther, append(slices.Clone(parts[1]), parts[0]...))
	var mixed []sessionEvent
	for i := 0; i < max(len(parts[0]), len(parts[1])); i++ {
		for _, p := range parts {
			if i < len(p) {
				mixed = append(mixed, p[i])
			}
		}
	}
	observeAll(interleaved, mixed)
	for i := range 12 {
		item := fmt.Sprint("i", i)
		q := SessionQuery{User: "u0", Sample: 3, Neighbors: 2}
		got, want := votes(t, interleaved, q, item), votes(t, oneThenOther, q, item)
		slices.Sort(got) // ordinals differ: compare as sets
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("votes for %s = %v read interleaved, %v read one partition after the other", item, got, want)
		}
	}
}
