package eval

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tailor-dev/tailor/datasets"
)

// plantedLog has 300 users who each view a few random items, then A, then
// (a minute later) B: B always follows A.
func plantedLog() *datasets.Log {
	r := rand.New(rand.NewPCG(1, 2))
	l := &datasets.Log{Name: "planted"}
	for i := 0; i < 60; i++ {
		cat := []string{"Cat", fmt.Sprint(i % 6)}
		l.Items = append(l.Items, datasets.CatalogItem{ID: fmt.Sprintf("i%02d", i), Title: fmt.Sprintf("item %d", i), Category: cat})
	}
	l.Items = append(l.Items, datasets.CatalogItem{ID: "A", Title: "the A", Category: []string{"Cat", "A"}},
		datasets.CatalogItem{ID: "B", Title: "the B", Category: []string{"Cat", "B"}})
	ts := int64(1_700_000_000_000)
	for u := 0; u < 300; u++ {
		user := fmt.Sprintf("u%03d", u)
		for k := 0; k < 3; k++ {
			ts += 1000
			l.Events = append(l.Events, datasets.Interaction{User: user, Item: fmt.Sprintf("i%02d", r.IntN(60)), TS: ts, Type: "view"})
		}
		ts += 1000
		l.Events = append(l.Events, datasets.Interaction{User: user, Item: "A", TS: ts, Type: "view"})
		ts += 60_000
		l.Events = append(l.Events, datasets.Interaction{User: user, Item: "B", TS: ts, Type: "view"})
		ts += 3_600_000
	}
	return l
}

// TestPlantedPattern replays a log where B always follows A: once a few
// users have shown it, tailor puts B first for everyone who has just seen A.
func TestPlantedPattern(t *testing.T) {
	l := plantedLog()
	var asked, firstB int
	rec, err := newTailor("tailor", l, &Options{TempDir: t.TempDir()}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for i := range l.Events {
		e := &l.Events[i]
		if e.Item == "B" && i > 200 {
			q := &Query{User: e.User, TS: e.TS, K: 5}
			if err := rec.prepare(q); err != nil {
				t.Fatal(err)
			}
			list, err := rec.Recommend(q)
			if err != nil {
				t.Fatal(err)
			}
			asked++
			if len(list) > 0 && list[0] == "B" {
				firstB++
			}
		}
		if err := rec.Observe(l.Events[i:i+1], nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if asked == 0 || float64(firstB) < 0.95*float64(asked) {
		t.Errorf("B first in %d of %d lists after A, want nearly all", firstB, asked)
	}

	// Through Replay, every recommender that learns from sequences finds it.
	rep, err := Replay(l, Options{K: 5, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		t.Logf("%s: HR@5 %.3f", r.Name, r.HR)
		if !strings.HasPrefix(r.Name, "popularity") && r.HR < 0.2 {
			t.Errorf("%s: HR@5 = %.3f, want at least the B after every A (a fifth of the targets)", r.Name, r.HR)
		}
	}
}

// leakProbe answers with the user's latest event as the recommenders would
// see it if the replay leaked: each point's own events are new items never
// seen before anywhere, so any hit means the point was revealed before it
// was asked about.
type leakProbe struct {
	last map[string][]string
	t    *testing.T
}

func (p *leakProbe) Name() string { return "probe" }
func (p *leakProbe) Recommend(q *Query) ([]string, error) {
	return p.last[q.User], nil
}
func (p *leakProbe) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for _, e := range events {
		p.last[e.User] = append([]string{e.Item}, p.last[e.User]...)
	}
	return nil
}
func (p *leakProbe) Close() error { return nil }

// TestNoFutureLeaks replays a log whose every point brings items no one has
// seen before: a recommender can only hit one if the replay showed it the
// event before asking. Every recommender, tailor included, must score zero,
// while the same recommenders asked after the reveal would hit.
func TestNoFutureLeaks(t *testing.T) {
	l := &datasets.Log{Name: "fresh"}
	ts := int64(1_700_000_000_000)
	for i := 0; i < 400; i++ {
		user := fmt.Sprintf("u%d", i%20)
		id := fmt.Sprintf("item-%d", i)
		l.Items = append(l.Items, datasets.CatalogItem{ID: id, Title: "thing " + id, Category: []string{"All"}})
		ts += 1000
		l.Events = append(l.Events, datasets.Interaction{User: user, Item: id, TS: ts, Type: "purchase", Session: user})
	}
	rep, err := Replay(l, Options{K: 20, Recommenders: AllRecommenders, TempDir: t.TempDir(), Repeats: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Points != 380 {
		t.Fatalf("%d points scored, want 380 (each user's first is skipped)", rep.Points)
	}
	for _, r := range rep.Results {
		if r.HR != 0 {
			t.Errorf("%s hit %.3f of targets it could not have seen", r.Name, r.HR)
		}
	}
	// The harness itself: a probe that recommends everything it has been
	// shown would hit every target if a point were revealed before it was
	// asked about.
	probe := &leakProbe{last: map[string][]string{}, t: t}
	rep, err = Replay(l, Options{K: 20, Recommenders: []string{"popularity"}, Repeats: true, extra: []Recommender{probe}})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[1]; r.Name != "probe" || r.HR != 0 || r.MeanListLength == 0 {
		t.Errorf("probe: %+v, want lists without a single hit", r)
	}
}

// TestProfileNeverAhead checks tailor's own state at every point: the
// profile it ranks with never holds the point's event or anything later.
func TestProfileNeverAhead(t *testing.T) {
	l := plantedLog()
	l.Events = l.Events[:300]
	rec, err := newTailor("tailor", l, &Options{TempDir: t.TempDir()}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for i := range l.Events {
		e := &l.Events[i]
		q := &Query{User: e.User, TS: e.TS, K: 5}
		if err := rec.prepare(q); err != nil {
			t.Fatal(err)
		}
		if _, err := rec.Recommend(q); err != nil {
			t.Fatal(err)
		}
		if p := rec.req.Profile; p != nil && p.LastSeen >= e.TS {
			t.Fatalf("point %d at %d: the profile was last seen at %d", i, e.TS, p.LastSeen)
		}
		rec.Observe(l.Events[i:i+1], q, nil)
	}
}

func TestPopularityOrder(t *testing.T) {
	l := &datasets.Log{Items: []datasets.CatalogItem{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}}
	p := newPopularity("popularity", l, PopularityOptions{})
	r := rand.New(rand.NewPCG(3, 4))
	counts := map[string]int{}
	ids := []string{"a", "b", "c", "d", "e", "f"}
	for i := 0; i < 5000; i++ {
		id := ids[min(r.IntN(8), 5)]
		if r.IntN(3) == 0 {
			id = ids[r.IntN(2)]
		}
		counts[id]++
		p.Observe([]datasets.Interaction{{Item: id}}, nil, nil)
		if i%97 != 0 {
			continue
		}
		list, _ := p.Recommend(&Query{K: 6, Repeats: true})
		for j := 1; j < len(list); j++ {
			if counts[list[j-1]] < counts[list[j]] {
				t.Fatalf("after %d events: %v with counts %v is out of order", i+1, list, counts)
			}
		}
		if len(list) != len(counts) {
			t.Fatalf("list %v, want every item counted %v", list, counts)
		}
	}
	list, _ := p.Recommend(&Query{K: 3, SeenSet: map[string]struct{}{list0(p): {}}})
	if slices.Contains(list, list0(p)) {
		t.Errorf("a seen item was recommended: %v", list)
	}
}

func list0(p *popularity) string { return p.items.ids[p.rank.order[0]] }

func TestClicksOnAKnownWorld(t *testing.T) {
	ex := ClickWorld(WorldOptions{Impressions: 60000, Seed: 2})
	r, err := Clicks("world", ex, ClickOptions{Bootstrap: 50, Warmup: 6000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	t.Log(b.String())
	if !(r.GainInterval[0] > 0) || !(r.Model.AUC > 0.7) {
		t.Errorf("the model does not beat the base rate on a world it can represent: %s", b.String())
	}
	if r.Truth == nil || r.Truth.ECE > 0.25*r.Truth.MeanP {
		t.Errorf("binned calibration error against the truth %+v, want under a quarter of the mean probability", r.Truth)
	}
	if math.Abs(r.CTR-r.Truth.MeanP) > 0.1*r.Truth.MeanP {
		t.Errorf("click rate %.4f, mean true probability %.4f", r.CTR, r.Truth.MeanP)
	}
}

func TestAUC(t *testing.T) {
	p := []float64{0.1, 0.4, 0.35, 0.8}
	y := []bool{false, false, true, true}
	if got := auc(sortedBy(p), p, y, nil); got != 0.75 {
		t.Errorf("auc = %v, want 0.75", got)
	}
	if got := auc(sortedBy([]float64{1, 1, 1, 1}), []float64{1, 1, 1, 1}, y, nil); got != 0.5 {
		t.Errorf("auc of ties = %v, want 0.5", got)
	}
}

func TestReportOutputs(t *testing.T) {
	rep := &Report{Dataset: "d <x>", K: 3, NDCGAt: 2, Results: []Result{
		{Name: "a", HRAt: []float64{0.1, 0.2, 0.3}, NDCGAt: []float64{0.1, 0.15, 0.17}},
		{Name: "b", HRAt: []float64{0.05, 0.1, 0.2}, NDCGAt: []float64{0.05, 0.07, 0.09}}}}
	var svg, table, js bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil || !strings.Contains(svg.String(), "d &lt;x&gt;") || strings.Count(svg.String(), "<polyline") != 4 {
		t.Errorf("svg: %v\n%s", err, svg.String())
	}
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "HR@3") {
		t.Errorf("table: %v\n%s", err, table.String())
	}
	if err := rep.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"hr_at"`) {
		t.Errorf("json: %v", err)
	}
}
