package ranker

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
)

// tunerIndex is an index of n items i0, i1, ... in one category.
func tunerIndex(t testing.TB, n int) *index.Index {
	t.Helper()
	idx := newTestIndex(t)
	var items []index.Item
	for i := range n {
		items = append(items, index.Item{ID: fmt.Sprintf("i%d", i), Title: fmt.Sprintf("Item %d", i), Category: []string{"Root"}, Price: 10})
	}
	if err := idx.Upsert(items); err != nil {
		t.Fatal(err)
	}
	return idx
}

// testCand is a candidate for item ord with the features given.
func testCand(ord int32, feats map[int]float64) cand {
	c := cand{ord: ord}
	for f, v := range feats {
		c.f[f] = v
	}
	return c
}

// TestTunerStepByHand: two candidates, i0 co-visited and boosted (score 1 +
// 1 = 2 with the default weights), i1 popular (0.3); the user then views
// i1. The softmax gives i0 p = 1/(1+e^-1.7); the step moves co_visit down
// and popularity up by the rate times p, and leaves boost, which requests
// set, and every feature neither candidate had as they were.
func TestTunerStepByHand(t *testing.T) {
	idx := tunerIndex(t, 2)
	tu := NewTuner(idx, TunerOptions{})
	o0, _ := idx.Ord("i0")
	o1, _ := idx.Ord("i1")
	const now = int64(1_760_000_000_000)
	tu.offer("u", now, []cand{
		testCand(o0, map[int]float64{fCoVisit: 1, fBoost: 1}),
		testCand(o1, map[int]float64{fPopularity: 1}),
	})
	tu.Observe(now+1000, []Event{{User: "u", Item: "i1"}})
	if got := tu.Steps(); got != 1 {
		t.Fatalf("Steps() = %d, want 1", got)
	}
	p := 1 / (1 + math.Exp(-1.7))
	want := DefaultWeights
	want.CoVisit -= 0.01 * p
	want.Popularity += 0.01 * p
	got := tu.Weights()
	for name, v := range want.ByName() {
		if g := got.ByName()[name]; math.Abs(g-v) > 1e-12 {
			t.Errorf("weight %s = %.12f, want %.12f", name, g, v)
		}
	}
	// The list has been let go: the same event again teaches nothing.
	tu.Observe(now+2000, []Event{{User: "u", Item: "i1"}})
	if got := tu.Steps(); got != 1 {
		t.Errorf("Steps() = %d after the list was answered, want 1", got)
	}
}

// TestTunerLetsListsGo: a list waits for its own user's events only, for
// MaxAge at most; a user's events that miss it let it go without a step;
// another user's list takes its slot only once it is older than Hold.
func TestTunerLetsListsGo(t *testing.T) {
	idx := tunerIndex(t, 3)
	tu := NewTuner(idx, TunerOptions{Slots: 1, MaxAge: time.Minute, Hold: 10 * time.Second})
	o0, _ := idx.Ord("i0")
	o1, _ := idx.Ord("i1")
	list := []cand{testCand(o0, map[int]float64{fCoVisit: 1}), testCand(o1, map[int]float64{fPopularity: 1})}
	const now = int64(1_760_000_000_000)
	steps := func(want uint64, what string) {
		t.Helper()
		if got := tu.Steps(); got != want {
			t.Errorf("%s: Steps() = %d, want %d", what, got, want)
		}
	}

	tu.offer("u", now, list)
	tu.Observe(now, []Event{{User: "other", Item: "i1"}})
	steps(0, "another user's event")
	tu.offer("v", now+1000, list) // the one slot still holds u's list
	tu.Observe(now+1000, []Event{{User: "v", Item: "i1"}})
	steps(0, "a list that found its slot busy")
	tu.Observe(now+2000, []Event{{User: "u", Item: "i2"}, {User: "u", Item: "nope"}})
	steps(0, "events that missed the list")
	tu.Observe(now+3000, []Event{{User: "u", Item: "i1"}})
	steps(0, "an event after the list was let go")

	tu.offer("u", now, list)
	tu.Observe(now+time.Minute.Milliseconds()+1, []Event{{User: "u", Item: "i1"}})
	steps(0, "an event after MaxAge")

	tu.offer("u", now, list)
	tu.Observe(now+30_000, []Event{{User: "u", Item: "i1"}}) // past Hold, within MaxAge
	steps(1, "a list answered after Hold, its slot untaken")

	tu.offer("u", now, list)
	tu.offer("v", now+10_000, list) // u's list has held the slot for Hold
	tu.Observe(now+10_001, []Event{{User: "u", Item: "i1"}})
	steps(1, "a list whose slot another took")
	tu.Observe(now+10_002, []Event{{User: "v", Item: "i0"}, {User: "v", Item: "i1"}})
	steps(2, "the list that took over an old one's slot")
}

// TestTunerLearnsDiscoveriesOnly: going back to an item the user saw lately
// takes no step; a list where a new item follows does, and leaves the seen
// weight as the shop set it.
func TestTunerLearnsDiscoveriesOnly(t *testing.T) {
	idx := tunerIndex(t, 2)
	tu := NewTuner(idx, TunerOptions{})
	o0, _ := idx.Ord("i0")
	o1, _ := idx.Ord("i1")
	list := []cand{testCand(o0, map[int]float64{fCoVisit: 1, fSeen: 1}), testCand(o1, map[int]float64{fPopularity: 1})}
	tu.offer("u", 0, list)
	tu.Observe(0, []Event{{User: "u", Item: "i0"}})
	if tu.Steps() != 0 {
		t.Errorf("a return to a seen item took %d steps, want 0", tu.Steps())
	}
	tu.offer("u", 0, list)
	tu.Observe(0, []Event{{User: "u", Item: "i1"}})
	if w := tu.Weights(); tu.Steps() != 1 || w.Seen != DefaultWeights.Seen || w.Popularity <= DefaultWeights.Popularity {
		t.Errorf("after a new item followed: %d steps, seen %v, popularity %v; want 1, %v and more than %v",
			tu.Steps(), w.Seen, w.Popularity, DefaultWeights.Seen, DefaultWeights.Popularity)
	}
}

// TestTunerSkipsNonNumbers: a list with a feature that is not a number
// takes no step, and the weights stay numbers.
func TestTunerSkipsNonNumbers(t *testing.T) {
	idx := tunerIndex(t, 2)
	tu := NewTuner(idx, TunerOptions{})
	o0, _ := idx.Ord("i0")
	o1, _ := idx.Ord("i1")
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		tu.offer("u", 0, []cand{testCand(o0, map[int]float64{fCoVisit: 1}), testCand(o1, map[int]float64{fPrice: bad})})
		tu.Observe(0, []Event{{User: "u", Item: "i1"}})
	}
	if tu.Steps() != 0 || tu.Weights() != DefaultWeights {
		t.Errorf("after lists with %v and %v: %d steps, weights %+v; want none and the defaults", math.NaN(), math.Inf(1), tu.Steps(), tu.Weights())
	}
}

// TestTunerBoundsWeights: a weight stops at MaxWeight however often the
// same item follows.
func TestTunerBoundsWeights(t *testing.T) {
	idx := tunerIndex(t, 2)
	tu := NewTuner(idx, TunerOptions{Rate: 10, MaxWeight: 3})
	o0, _ := idx.Ord("i0")
	o1, _ := idx.Ord("i1")
	for i := range 20 {
		now := int64(i)
		tu.offer("u", now, []cand{testCand(o0, map[int]float64{fCoVisit: 1}), testCand(o1, map[int]float64{fPopularity: 1})})
		tu.Observe(now, []Event{{User: "u", Item: "i1"}})
	}
	if w := tu.Weights(); w.Popularity != 3 || w.CoVisit != -3 {
		t.Errorf("popularity %v, co_visit %v after 20 steps of 10, want 3 and -3", w.Popularity, w.CoVisit)
	}
}

// TestRankerLearnsWhatFollows: the user viewed i1, seen together with i2,
// while i7 is the shop's most popular item. With the default weights the
// co-visited i2 leads the slot; when users keep going on to i7 instead, the
// ranker given a Tuner learns to put i7 first, and a ranker without one
// does not move.
func TestRankerLearnsWhatFollows(t *testing.T) {
	idx := tunerIndex(t, 8)
	const now = int64(1_760_000_000_000)
	for i := range 8 {
		for range i {
			idx.Observe(index.Observation{User: fmt.Sprint("shopper", i), Item: fmt.Sprintf("i%d", i), Weight: 1, TS: now - 1000})
		}
	}
	for range 3 {
		idx.Observe(index.Observation{User: "other", Item: "i2", Weight: 1, TS: now - 1000, Before: []string{"i1"}})
	}
	p := &features.Profile{User: "u", Recent: []features.Action{{Type: features.View, Target: "i1", TS: now - 500}}}
	req := &Request{Profile: p, N: 3, Now: now, Exclude: []string{"i1"}}
	tu := NewTuner(idx, TunerOptions{Rate: 0.1})
	tuned := New(idx, Options{Tuner: tu})
	fixed := New(idx, Options{})
	var res Result
	fixed.Rank(req, &res)
	if got := names(res); got[0] != "i2" {
		t.Fatalf("fixed weights rank %v, want the co-visited i2 first", got)
	}
	for range 100 {
		tuned.Rank(req, &res)
		tu.Observe(now, []Event{{User: "u", Item: "i7"}})
	}
	tuned.Rank(req, &res)
	if got := names(res); got[0] != "i7" {
		t.Errorf("after 100 lists followed by i7, the tuned ranker ranks %v (weights %+v), want i7 first", got, tu.Weights())
	}
	if tu.Steps() != 100 {
		t.Errorf("Steps() = %d, want 100", tu.Steps())
	}
	fixed.Rank(req, &res)
	if got := names(res); got[0] != "i2" {
		t.Errorf("a ranker without the tuner ranks %v, want i2 first still", got)
	}
}

// BenchmarkTuner: "keep" is what a recommend pays when its user's slot is
// free, keeping the features of its 300 candidates; "cycle" adds the step
// the user's next event teaches, which ingest pays.
func BenchmarkTuner(b *testing.B) {
	idx := tunerIndex(b, 300)
	cands := make([]cand, 300)
	for i := range cands {
		o, _ := idx.Ord(fmt.Sprintf("i%d", i))
		cands[i] = testCand(o, map[int]float64{fCoVisit: float64(i%7) / 7, fPopularity: float64(i%5) / 5, fSessions: float64(i%3) / 3})
	}
	b.Run("keep", func(b *testing.B) {
		b.ReportAllocs()
		// One slot, and every list older than Hold by the next: each list
		// takes the slot.
		tu := NewTuner(idx, TunerOptions{Slots: 1, Hold: time.Millisecond})
		for i := range b.N {
			tu.offer(fmt.Sprint("u", i&1), int64(2*i), cands)
		}
	})
	b.Run("cycle", func(b *testing.B) {
		b.ReportAllocs()
		tu := NewTuner(idx, TunerOptions{})
		events := []Event{{User: "u", Item: "i150"}}
		for i := range b.N {
			tu.offer("u", int64(i), cands)
			tu.Observe(int64(i), events)
		}
		if tu.Steps() != uint64(b.N) {
			b.Fatalf("Steps() = %d, want %d", tu.Steps(), b.N)
		}
	})
}
