package eval

import (
	"fmt"
	"testing"

	"github.com/tailor-dev/tailor/datasets"
)

// timeProbe records the latest event time it was shown and the times of the
// points it was asked about.
type timeProbe struct {
	seen  int64
	asked []int64
}

func (p *timeProbe) Name() string { return "time-probe" }
func (p *timeProbe) Recommend(q *Query) ([]string, error) {
	p.asked = append(p.asked, q.TS)
	return nil, nil
}
func (p *timeProbe) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for _, e := range events {
		p.seen = max(p.seen, e.TS)
	}
	return nil
}
func (p *timeProbe) Close() error { return nil }

// TestPeriods checks the split of a log in time: the tuning period's
// replay asks only about points before the test period and never shows a
// recommender an event of it; the test period's replay asks only about its
// points; the two together ask about every point, once.
func TestPeriods(t *testing.T) {
	l := plantedLog() // 1,500 events, one user's points apart in time
	splitTS := l.Events[len(l.Events)-300].TS
	tune := &timeProbe{}
	rep, err := Replay(l, Options{Recommenders: []string{"popularity"}, Period: PeriodTune, extra: []Recommender{tune}})
	if err != nil {
		t.Fatal(err)
	}
	if tune.seen >= splitTS {
		t.Errorf("the tuning replay showed an event of %d, at or after the test period's start %d", tune.seen, splitTS)
	}
	test := &timeProbe{}
	rep2, err := Replay(l, Options{Recommenders: []string{"popularity"}, Period: PeriodTest, extra: []Recommender{test}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range test.asked {
		if ts < splitTS {
			t.Fatalf("the test replay asked about a point at %d, before the test period's start %d", ts, splitTS)
		}
	}
	all, err := Replay(l, Options{Recommenders: []string{"popularity"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Points+rep2.Points != all.Points || rep2.Points == 0 || rep.Points == 0 {
		t.Errorf("tune %d + test %d points, want both and %d in all", rep.Points, rep2.Points, all.Points)
	}
	if rep2.TestFrom == "" || rep2.TestShare != 0.2 {
		t.Errorf("test report: from %q share %v, want the split named", rep2.TestFrom, rep2.TestShare)
	}
}

// TestTune tunes popularity's half-life on a log where a new pair of items
// is in fashion every four hours: the tries are the grid's (the default
// first), the choice is the try with the best HR (then MRR), and it is a
// the shortest half-life tried: under longer ones the older fashions'
// larger counts stay on top.
func TestTune(t *testing.T) {
	l := &datasets.Log{Name: "fashions"}
	ts := int64(1_700_000_000_000)
	for e := range 3840 {
		ts += 60_000                              // a minute apart
		item := fmt.Sprintf("f%d", 2*(e/240)+e%2) // 16 fashions of two items, four hours each
		if e%5 == 0 {
			item = fmt.Sprintf("n%d", e%20) // and some noise
		}
		l.Events = append(l.Events, datasets.Interaction{User: fmt.Sprintf("u%d", e%97), Item: item, TS: ts, Type: "view"})
	}
	for f := range 32 {
		l.Items = append(l.Items, datasets.CatalogItem{ID: fmt.Sprintf("f%d", f)})
	}
	for n := range 20 {
		l.Items = append(l.Items, datasets.CatalogItem{ID: fmt.Sprintf("n%d", n)})
	}
	choices, err := Tune(l, Options{K: 1, Recommenders: []string{"popularity-decayed"}}, TuneOptions{Budget: 5})
	if err != nil {
		t.Fatal(err)
	}
	c := choices[0]
	if len(c.Tries) != 5 || c.Tries[0].Params["half_life_hours"] != 48 {
		t.Fatalf("tries = %+v, want 5 with the default (48 h) first", c.Tries)
	}
	best := c.Tries[0]
	for _, try := range c.Tries {
		if try.HR > best.HR || try.HR == best.HR && try.MRR > best.MRR {
			best = try
		}
	}
	if c.Params.String() != best.Params.String() {
		t.Errorf("chose %s, but %s scored best (%+v)", c.Params, best.Params, c.Tries)
	}
	shortest := c.Tries[0].Params["half_life_hours"]
	for _, try := range c.Tries {
		shortest = min(shortest, try.Params["half_life_hours"])
	}
	if h := c.Params["half_life_hours"]; h != shortest {
		t.Errorf("chose a half-life of %g h for fashions of 4 h, not the shortest tried, %g h (tries %+v)", h, shortest, c.Tries)
	}
}
