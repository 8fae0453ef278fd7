package eval

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

func ev(user, sess, item string, ts int64) datasets.Interaction {
	return datasets.Interaction{User: user, Item: item, TS: ts, Session: sess, Type: "view"}
}

// ask observes events through r, one moment at a time, and asks it for k
// items for user, who had the items seen.
func ask(t *testing.T, r Recommender, events []datasets.Interaction, user string, ts int64, k int) []string {
	t.Helper()
	seen := map[string]struct{}{}
	moments(events, func(m []datasets.Interaction) {
		if err := r.Observe(m, nil, nil); err != nil {
			t.Fatal(err)
		}
	})
	for _, e := range events {
		if e.User == user {
			seen[e.Item] = struct{}{}
		}
	}
	list, err := r.Recommend(&Query{User: user, TS: ts, K: k, SeenSet: seen})
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(list)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestContextTies(t *testing.T) {
	h := newHistories()
	// a@1, then the basket b, c @2, a again @3, the basket d, e @4.
	for _, e := range []histEvent{{0, 1}, {1, 2}, {2, 2}, {0, 3}, {3, 4}, {4, 4}} {
		h.add("u", e.item, e.ts)
	}
	// Latest first: the basket {d, e} is moment 0 with nothing after it;
	// a (its latest occurrence) one moment and two items back; {b, c} two
	// moments and three items back, both alike; a@1 is a repeat.
	want := []ctxItem{{4, 4, 0, 0}, {3, 4, 0, 0}, {0, 3, 1, 2}, {2, 2, 2, 3}, {1, 2, 2, 3}}
	if got := h.context("u", 0, 0, nil); !slices.Equal(got, want) {
		t.Errorf("context = %v, want %v", got, want)
	}
	if got := h.context("u", 0, 2, nil); !slices.Equal(got, want[:3]) {
		t.Errorf("context of 2 moments = %v, want %v", got, want[:3])
	}
	if got := h.context("u", 4, 0, nil); !slices.Equal(got, want[:4]) {
		t.Errorf("context of 4 items = %v, want %v", got, want[:4])
	}
	if got := h.context("nobody", 0, 0, nil); len(got) != 0 {
		t.Errorf("context of an unknown user = %v", got)
	}
}

func TestTrending(t *testing.T) {
	const hour = 3_600_000
	decayed, plain := newTrending(time.Hour), newTrending(0)
	// x twice at 0, y once two hours later: as of then x weighs 2·2^-2 =
	// 0.5 and y 1, while x counts 2 and y 1.
	for _, e := range []histEvent{{0, 0}, {0, 0}, {1, 2 * hour}} {
		decayed.add(e.item, e.ts)
		plain.add(e.item, e.ts)
	}
	ids := []string{"x", "y", "z"}
	q := &Query{K: 3}
	if got := decayed.complete(q, nil, ids); !slices.Equal(got, []string{"y", "x"}) {
		t.Errorf("decayed = %v, want [y x]", got)
	}
	if got := plain.complete(q, nil, ids); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("all time = %v, want [x y]", got)
	}
	// The fill skips what the list has and what the user had.
	q.SeenSet = map[string]struct{}{"y": {}}
	if got := plain.complete(q, []string{"z", "x"}, ids); !slices.Equal(got, []string{"z", "x"}) {
		t.Errorf("completing [z x] = %v, want it unchanged", got)
	}
}

func TestCovisit(t *testing.T) {
	events := []datasets.Interaction{
		ev("u1", "s1", "a", 1), ev("u1", "s1", "b", 2),
		ev("u2", "s2", "a", 3), ev("u2", "s2", "c", 3), ev("u2", "s2", "d", 3),
		ev("u3", "s3", "a", 4), ev("u3", "s3", "c", 5),
		ev("u6", "s6", "g", 5),
		ev("u4", "s4", "f", 6), ev("u4", "s4", "a", 7), ev("u4", "s4", "e", 7),
	}
	c := newCovisit(&datasets.Log{}, time.Hour, CovisitOptions{})
	// Counts, both ways: a-b 1 (s1); a-c, a-d, c-d 1 (the basket of s2,
	// every pair); a-c 1 more (s3); in s4 a-e (the basket) and a-f, e-f
	// (the basket with f before it). u4's context is their latest basket
	// {a, e}, both weighing 1: from a, b 1, c 2, d 1, e 1, f 1; from e,
	// a 1, f 1. Without a, e, f (seen): c 2, then b and d 1 (by id), and
	// the fill adds g, the only item left.
	if got := ask(t, c, events, "u4", 8, 5); !slices.Equal(got, []string{"c", "b", "d", "g"}) {
		t.Errorf("covisit for u4 = %v, want [c b d g]", got)
	}
	if v := c.tally.val[c.items.ord["f"]]; v != 2 {
		t.Errorf("f scored %v, want 2", v)
	}
}

func TestSR(t *testing.T) {
	events := []datasets.Interaction{
		ev("u5", "s5", "g", 1),
		ev("u1", "s1", "a", 1), ev("u1", "s1", "b", 2), ev("u1", "s1", "c", 3),
		ev("u2", "s2", "a", 4), ev("u2", "s2", "c", 5), ev("u2", "s2", "d", 5),
		ev("u4", "s4", "x", 7), ev("u4", "s4", "a", 8),
		ev("u6", "s6", "c", 9),
	}
	r := newSR(&datasets.Log{}, time.Hour, SROptions{})
	// Rules: s1 gives a->b 1, b->c 1, a->c 1/2 (two steps); s2 gives
	// a->c 1 and a->d 1, and c->d, d->c 1 (one basket); s4 x->a 1. From
	// u4's latest item a: c 1.5, b 1, d 1; x and a are seen; the fill adds
	// g.
	if got := ask(t, r, events, "u4", 10, 5); !slices.Equal(got, []string{"c", "b", "d", "g"}) {
		t.Errorf("sr for u4 = %v, want [c b d g]", got)
	}
	if v := r.tally.val[r.items.ord["c"]]; v != 1.5 {
		t.Errorf("c scored %v, want 1.5", v)
	}
	// Rules are directed: from c only d (the basket). The fill ranks by
	// popularity halving every 48 hours, which over milliseconds is the
	// count, ties to the later: a (3 events), then x@7, b@2, g@1.
	list, _ := r.Recommend(&Query{User: "u6", K: 5, SeenSet: map[string]struct{}{"c": {}}})
	if want := []string{"d", "a", "x", "b", "g"}; !slices.Equal(list, want) {
		t.Errorf("sr for u6 = %v, want %v", list, want)
	}
}

func TestIKNN(t *testing.T) {
	events := []datasets.Interaction{
		ev("u1", "s1", "a", 1), ev("u1", "s1", "b", 2),
		ev("u2", "s2", "a", 3), ev("u2", "s2", "c", 4),
		ev("u3", "s3", "a", 5), ev("u3", "s3", "b", 6), ev("u3", "s3", "d", 7),
		ev("u4", "s4", "a", 8),
	}
	k := newIKNN(&datasets.Log{}, time.Hour, IKNNOptions{Shrink: 1})
	// Sessions holding each item: a 4, b 2, c 1, d 1; together with a: b 2,
	// c 1, d 1. With shrink 1, sim(a, b) = 2/(sqrt(4·2)+1) = 0.5469,
	// sim(a, c) = sim(a, d) = 1/(sqrt(4·1)+1) = 1/3.
	if got := ask(t, k, events, "u4", 9, 3); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("iknn for u4 = %v, want [b c d]", got)
	}
	for id, want := range map[string]float64{"b": 2 / (math.Sqrt(8) + 1), "c": 1.0 / 3, "d": 1.0 / 3} {
		if v := k.tally.val[k.items.ord[id]]; !near(v, want) {
			t.Errorf("%s scored %v, want %v", id, v, want)
		}
	}
}

func TestVSKNN(t *testing.T) {
	events := []datasets.Interaction{
		ev("x", "s1", "a", 1), ev("x", "s1", "b", 2), ev("x", "s1", "c", 3),
		ev("y", "s2", "b", 4), ev("y", "s2", "d", 5),
		ev("z", "s3", "a", 6), ev("z", "s3", "e", 7),
		ev("v", "s6", "q", 7), ev("v", "s6", "f", 7),
		ev("w", "s4", "q", 8),
		ev("w", "s5", "b", 9),
	}
	v := newVSKNN(&datasets.Log{}, time.Hour, VSKNNOptions{})
	// w's context spans their two sessions: b (weight 2/2) and q (1/2),
	// L = 2. Neighbours: s1 and s2 share b (similarity 1/2), s6 shares q
	// (1/4); w's own sessions are not neighbours. s1 and s2 vote with 1/2
	// (their latest shared item is the context's last, d = 1), s6 with
	// 1/4 · 1/2 (q has one item after it, d = 2). Without q and b: a, c, d
	// 0.5, f 0.125, and the fill adds e.
	if got := ask(t, v, events, "w", 10, 5); !slices.Equal(got, []string{"a", "c", "d", "f", "e"}) {
		t.Errorf("vsknn for w = %v, want [a c d f e]", got)
	}
	if s := v.tally.val[v.items.ord["f"]]; s != 0.125 {
		t.Errorf("f scored %v, want 0.125", s)
	}
}

func TestSTAN(t *testing.T) {
	const hour = 3_600_000
	events := []datasets.Interaction{
		ev("y", "s2", "b", 0), ev("y", "s2", "e", 1),
		ev("x", "s1", "a", hour), ev("x", "s1", "c", hour+1), ev("x", "s1", "b", hour+2), ev("x", "s1", "d", hour+3),
		ev("w", "s3", "a", 2*hour), ev("w", "s3", "b", 2*hour+1),
	}
	const now = 2*hour + 2 // a time the ranking does not depend on
	s := newSTAN(&datasets.Log{}, time.Hour, STANOptions{Lambda2: time.Hour})
	// w's context: b weighs 1, a (one item after it) exp(-1/1.02); the
	// squared norm is 1 + exp(-2/1.02). s1 holds both and 4 items, its
	// latest event is now - (hour - 1); s2 holds b and 2 items, its
	// latest now - (2 hours + 1). In s1 the latest moment holding a
	// context item is b's (2), so c (1) and d (3) get exp(-1/2.05); in s2
	// b's is 0 and e (1) gets exp(-1/2.05). Ages are counted from the
	// latest neighbour, s1, so its time weight is 1 and s2's
	// exp(-(hour+2)/hour). The time decay puts the recent s1 first although
	// s2's cosine is higher.
	w3 := math.Exp(-1 / 2.05)
	norm := 1 + math.Exp(-2/1.02)
	sim1 := (1 + math.Exp(-1/1.02)) / math.Sqrt(norm*4)
	sim2 := 1 / math.Sqrt(norm*2) * math.Exp(-float64(hour+2)/hour)
	if got := ask(t, s, events, "w", now, 3); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Errorf("stan for w = %v, want [c d e]", got)
	}
	for id, want := range map[string]float64{"c": sim1 * w3, "d": sim1 * w3, "e": sim2 * w3} {
		if v := s.tally.val[s.items.ord[id]]; !near(v, want) {
			t.Errorf("%s scored %v, want %v", id, v, want)
		}
	}
	// Without the time decay s2, closer, would win.
	s = newSTAN(&datasets.Log{}, time.Hour, STANOptions{Lambda2: 1e6 * time.Hour})
	if got := ask(t, s, events, "w", now, 3); !slices.Equal(got, []string{"e", "c", "d"}) {
		t.Errorf("stan without time decay for w = %v, want [e c d]", got)
	}
}

func TestALSSolve(t *testing.T) {
	// Two items with vectors (1, 0) and (0, 1), so G = YᵀY = I. A user
	// who had the first once, with alpha 1 (confidence 2) and lambda 0,
	// solves (I + (2-1)·y1y1ᵀ) x = 2·y1, that is diag(2, 1) x = (2, 0):
	// x = (1, 0). Two conjugate gradient steps solve a 2-by-2 system.
	m := newALS(&datasets.Log{}, ALSOptions{Factors: 2, Alpha: 1, Lambda: 1e-300})
	x := []float64{0.3, -0.2}
	m.solve(x, []float64{1, 0, 0, 1}, &alsRow{idx: []int32{0}, n: []float32{1}}, []float64{1, 0, 0, 1}, 2)
	if !near(x[0], 1) || math.Abs(x[1]) > 1e-9 {
		t.Errorf("x = %v, want (1, 0)", x)
	}
}

func TestALS(t *testing.T) {
	// Three users had a and b, three c and d; u7 had a only. After a
	// training, b is u7's first item: the users like u7 had it.
	var events []datasets.Interaction
	ts := int64(0)
	for u, items := range [][]string{{"a", "b"}, {"a", "b"}, {"a", "b"}, {"c", "d"}, {"c", "d"}, {"c", "d"}, {"a"}} {
		for _, it := range items {
			ts++
			events = append(events, ev(string(rune('1'+u)), "", it, ts))
		}
	}
	run := func() []string {
		m := newALS(&datasets.Log{}, ALSOptions{Factors: 4, Every: len(events), Alpha: 10})
		return ask(t, m, events, "7", ts+1, 3)
	}
	got := run()
	if len(got) != 3 || got[0] != "b" {
		t.Errorf("als for u7 = %v, want b first", got)
	}
	if again := run(); !slices.Equal(got, again) {
		t.Errorf("als is not deterministic: %v, then %v", got, again)
	}
}

func TestRegistry(t *testing.T) {
	for _, b := range Baselines {
		n := 1
		for _, p := range b.Params {
			n *= len(p.Grid)
		}
		if g := b.Grid(); len(g) != n || n > 12 {
			t.Errorf("%s: %d settings in its grid, want %d, at most 12", b.Name, len(g), n)
		}
		if _, err := b.New(&datasets.Log{}, &Options{}, Params{"no-such": 1}); err == nil {
			t.Errorf("%s took an unknown parameter", b.Name)
		}
		r, err := b.New(&datasets.Log{}, &Options{}, nil)
		if err != nil || r.Name() != b.Name {
			t.Errorf("%s: New = %v, %v", b.Name, r, err)
		}
	}
	if !slices.Contains(AllRecommenders, "stan") || slices.Contains(DefaultRecommenders, "tailor-learned") {
		t.Errorf("AllRecommenders %v, DefaultRecommenders %v", AllRecommenders, DefaultRecommenders)
	}
}
