package learn

import (
	"fmt"
	"math"
	"testing"

	"github.com/tailor-dev/tailor/ranker"
)

func TestRecIDRoundTrip(t *testing.T) {
	for _, id := range []RecID{1, 0xabcdef<<recSeqBits | 12345, math.MaxUint64} {
		s := id.String()
		if got, ok := ParseRecID(s); !ok || got != id || len(s) != 16 {
			t.Errorf("ParseRecID(%q) = %x, %v; want %x", s, got, ok, id)
		}
	}
	for _, s := range []string{"", "0000000000000000", "abcdef0000000000", "xyz", "00000100000000fg", "00000100000000ff0"} {
		if _, ok := ParseRecID(s); ok {
			t.Errorf("ParseRecID(%q) = ok", s)
		}
	}
}

func TestArmsSplitStablyAndEvenly(t *testing.T) {
	cfg, err := ParseExperiments([]byte(`{"experiments":[
		{"id":"half","traffic":0.5,"arms":[{"name":"a"},{"name":"b"}]},
		{"id":"quarter","traffic":0.25,"arms":[{"name":"x","weight":1},{"name":"y","weight":3}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	reg := &armRegistry{stats: map[[2]string]*armStats{}}
	def := &Arm{name: defaultArmName}
	build := func() *experimentSet {
		set, err := compileExperiments(cfg, nil, ranker.Options{}, false, def, reg)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	// compileExperiments needs an index only for its rankers: none here.
	set1, set2 := build(), build()
	const n = 100000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("user-%d", i)
		a1, a2 := set1.assign(u), set2.assign(u)
		if a1.exp != a2.exp || a1.name != a2.name {
			t.Fatalf("%s: %s/%s then %s/%s", u, a1.exp, a1.name, a2.exp, a2.name)
		}
		counts[a1.exp+"/"+a1.name]++
	}
	for key, share := range map[string]float64{"half/a": 0.25, "half/b": 0.25, "quarter/x": 0.0625, "quarter/y": 0.1875, "/default": 0.25} {
		got := float64(counts[key]) / n
		if math.Abs(got-share) > 0.03*share {
			t.Errorf("%s has %.4f of users, want %.4f within 3%%", key, got, share)
		}
	}
	if set1.assign("").name != defaultArmName {
		t.Error("an anonymous visitor is in an experiment")
	}
	// A known assignment pins the hash: changing it would move users
	// between arms of a running experiment.
	if a := set1.assign("user-1"); a.exp+"/"+a.name != pinnedArm {
		t.Errorf("user-1 is in %s/%s, want %s", a.exp, a.name, pinnedArm)
	}
}

const pinnedArm = "quarter/y"

func TestNewcombe(t *testing.T) {
	// Newcombe (1998), table II, example (a): 56/70 vs 48/80 gives
	// 0.2 with the interval (0.0524, 0.3339).
	d, lo, hi := newcombe(48, 80, 56, 70, 1.96)
	if math.Abs(d-0.2) > 1e-9 || math.Abs(lo-0.0524) > 5e-4 || math.Abs(hi-0.3339) > 5e-4 {
		t.Errorf("newcombe = %.4f (%.4f, %.4f), want 0.2 (0.0524, 0.3339)", d, lo, hi)
	}
	// Wilson for 0 of 10: (0, 0.2775).
	if lo, hi := wilson(0, 10, 1.96); lo != 0 || math.Abs(hi-0.2775) > 5e-4 {
		t.Errorf("wilson(0, 10) = (%.4f, %.4f), want (0, 0.2775)", lo, hi)
	}
}

func FuzzParseExperiments(f *testing.F) {
	f.Add(`{"experiments":[{"id":"x","traffic":0.5,"arms":[{"name":"a","weight":2,"ranker":{"model":true,"weights":{"co_visit":2},"sources":["co_visit"],"max_per_leaf":0.3}}]}]}`)
	f.Add(`{"experiments":[]}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseExperiments([]byte(s))
		if err != nil {
			return
		}
		reg := &armRegistry{stats: map[[2]string]*armStats{}}
		set, err := compileExperiments(c, nil, ranker.Options{}, false, &Arm{name: defaultArmName}, reg)
		if err != nil {
			t.Fatalf("valid configuration %s does not compile: %v", s, err)
		}
		for i := 0; i < 50; i++ {
			if a := set.assign(fmt.Sprint(i)); a == nil {
				t.Fatal("no arm")
			}
		}
	})
}

// TestArmsWithWeightsAreNotTuned: an arm that sets weights ranks with them
// as set; one that sets none shares the server's tuner.
func TestArmsWithWeightsAreNotTuned(t *testing.T) {
	base := ranker.Options{Tuner: ranker.NewTuner(nil, ranker.TunerOptions{})}
	o, err := (&RankerConfig{Weights: map[string]float64{"popularity": 2}}).Apply(base)
	if err != nil || o.Tuner != nil || o.Weights.Popularity != 2 {
		t.Errorf("arm with weights: tuner %v, popularity %v, %v; want no tuner and 2", o.Tuner, o.Weights.Popularity, err)
	}
	o, err = (&RankerConfig{Sources: []string{"co_visit"}}).Apply(base)
	if err != nil || o.Tuner != base.Tuner {
		t.Errorf("arm without weights: tuner %v, %v; want the server's", o.Tuner, err)
	}
}
