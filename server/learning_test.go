package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/service"
)

// learningOptions keep the tests deterministic: no background sweeps, and a
// model that warms after a few labels.
func learningOptions() Options {
	return Options{Service: service.Options{Learning: service.LearningOptions{Options: learn.Options{SweepEvery: -1, Window: 10 * time.Minute,
		Model: model.Options{Bits: 16, MinLabels: 20, MinClicks: 5, PublishEvery: 1}}}}}
}

type decisionAnswer struct {
	Items []struct {
		ID string `json:"id"`
	} `json:"items"`
	RecID      string `json:"rec_id"`
	Arm        string `json:"arm"`
	Experiment string `json:"experiment"`
}

func (ts *testServer) decide(body string) decisionAnswer {
	ts.t.Helper()
	var a decisionAnswer
	if err := json.Unmarshal([]byte(ts.mustPost("/v1/recommend", body)), &a); err != nil {
		ts.t.Fatal(err)
	}
	return a
}

type experimentReport struct {
	ID     string `json:"id"`
	Active bool   `json:"active"`
	Arms   []struct {
		Name        string     `json:"name"`
		Decisions   uint64     `json:"decisions"`
		Impressions uint64     `json:"impressions"`
		Clicks      uint64     `json:"clicks"`
		CTR         float64    `json:"ctr"`
		CTRInterval [2]float64 `json:"ctr_ci95"`
		Conversions uint64     `json:"conversions"`
		Revenue     float64    `json:"revenue"`
	} `json:"arms"`
	Differences []struct {
		Arm         string     `json:"arm"`
		CTR         float64    `json:"ctr_diff"`
		CTRInterval [2]float64 `json:"ctr_diff_ci95"`
	} `json:"differences"`
}

type experimentsList struct {
	Experiments []learn.ExperimentConfig `json:"experiments"`
	Arms        []learn.ArmStats         `json:"arms"`
	Model       modelJSON                `json:"model"`
	Weights     weightsJSON              `json:"weights"`
}

func defaultArm(t *testing.T, ts *testServer) learn.ArmStats {
	t.Helper()
	var l experimentsList
	if code := ts.getJSON("/v1/experiments", &l); code != 200 {
		t.Fatalf("GET /v1/experiments = %d", code)
	}
	for _, a := range l.Arms {
		if a.Experiment == "" && a.Arm == "default" {
			return a
		}
	}
	t.Fatalf("no default arm in %+v", l.Arms)
	return learn.ArmStats{}
}

// TestDecisionLoop follows one recommendation from its answer to its
// labels: impressions, a click, a purchase, and the window closing.
func TestDecisionLoop(t *testing.T) {
	c := newClock()
	ts := startServer(t, t.TempDir(), c, learningOptions())
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+event("runner", "view", "shoe-trail-1", c.Stamp(-time.Minute))+"]")

	a := ts.decide(`{"user":"runner","n":4}`)
	if len(a.RecID) != 16 || a.Arm != "default" || a.Experiment != "" || len(a.Items) != 4 {
		t.Fatalf("answer = %+v, want a rec_id and the default arm", a)
	}
	shown := []string{a.Items[0].ID, a.Items[1].ID, a.Items[2].ID}
	imp := fmt.Sprintf(`{"type":"impression","rec_id":%q,"items":[%q,%q,%q,"not-in-it"]}`, a.RecID, shown[0], shown[1], shown[2])
	if out := ts.mustPost("/v1/events", imp); !strings.Contains(out, `"accepted":1`) {
		t.Fatalf("impression answer %s", out)
	}
	ts.mustPost("/v1/events", imp) // again: impressions are idempotent
	click := fmt.Sprintf(`{"user":"runner","type":"click","item":%q,"rec_id":%q}`, shown[1], a.RecID)
	ts.mustPost("/v1/events", click)
	ts.mustPost("/v1/events", click) // a second click on the same item is one click
	ts.mustPost("/v1/events", fmt.Sprintf(`{"user":"runner","type":"purchase","item":%q,"amount":42.5}`, shown[2]))
	// A purchase of an item not shown is no conversion.
	ts.mustPost("/v1/events", fmt.Sprintf(`{"user":"runner","type":"purchase","item":%q}`, a.Items[3].ID))

	got := defaultArm(t, ts)
	if got.Decisions != 1 || got.Impressions != 3 || got.Clicks != 1 || got.Conversions != 1 || got.Revenue != 42.5 {
		t.Errorf("default arm = %+v, want 1 decision, 3 impressions, 1 click, 1 conversion worth 42.5", got)
	}
	// The click was on one of the list's candidates: the weights took a step.
	var l experimentsList
	if code := ts.getJSON("/v1/experiments", &l); code != 200 || !l.Weights.Learning || l.Weights.Steps != 1 ||
		len(l.Weights.Values) != len(ranker.FeatureNames) || l.Weights.Values["co_visit"] == ranker.DefaultWeights.CoVisit {
		t.Errorf("GET /v1/experiments = %d, weights %+v; want learning, 1 step, every feature's weight, co_visit moved", code, l.Weights)
	}
	m := ts.srv.svc.Model()
	if s := m.Stats(); s.Labels != 1 || s.Clicks != 1 {
		t.Errorf("before the window closes the model learned %d labels (%d clicks), want the click only", s.Labels, s.Clicks)
	}
	// The window passes: the two shown items not clicked become negatives.
	c.Advance(11 * time.Minute)
	ts.mustPost("/v1/events", event("someone", "view", "pan-1", c.Stamp(0)))
	if s := m.Stats(); s.Labels != 3 || s.Clicks != 1 {
		t.Errorf("after the window the model learned %d labels (%d clicks), want 3 (1)", s.Labels, s.Clicks)
	}
	// Late impressions and clicks are not attributed.
	ts.mustPost("/v1/events", click)
	if got := defaultArm(t, ts); got.Clicks != 1 {
		t.Errorf("a click after the window counted: %+v", got)
	}
}

func openTestDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestLabelsCarryServedFeatures(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	ts := startServer(t, dir, c, learningOptions())
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+event("runner", "search", "trail shoes", c.Stamp(-2*time.Minute))+","+
		event("runner", "view", "shoe-trail-1", c.Stamp(-time.Minute))+"]")
	var req ranker.Request
	var res ranker.Result
	req.N = 3
	dec, err := ts.srv.svc.Recommend("runner", nil, nil, &req, &res)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]model.Feature(nil), res.ItemFeatures(1)...)
	want = append(want, model.Position(1))
	id := dec.RecID.String()
	ts.mustPost("/v1/events", fmt.Sprintf(`{"user":"runner","type":"click","item":%q,"rec_id":%q}`, res.Items[1].Doc.Item.ID, id))
	ts.stop()

	db := openTestDB(t, dir)
	defer db.Close()
	n := 0
	err = model.EachLabel(db, "", func(_ uint64, l *model.Label) error {
		n++
		if !l.Click || l.Item != res.Items[1].Doc.Item.ID || l.Arm != "default" || fmt.Sprint(l.Features) != fmt.Sprint(want) {
			t.Errorf("stored label %+v, want a click on %s with features %v", l, res.Items[1].Doc.Item.ID, want)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("EachLabel: %d labels, %v", n, err)
	}
	// Term crosses are among them: the user searched for trail shoes.
	if len(want) < 12 {
		t.Errorf("served features %v, want named features, crosses and terms", want)
	}
}

// TestModelTakesOverWhenWarm clicks only one item, the last of the first
// slot, wherever it is shown: once the model is warm it ranks that item
// first.
func TestModelTakesOverWhenWarm(t *testing.T) {
	c := newClock()
	ts := startServer(t, t.TempDir(), c, learningOptions())
	ts.loadCatalog()
	ts.background()
	var req ranker.Request
	var res ranker.Result
	var dec learn.Decision
	recommend := func(user string) {
		ts.mustPost("/v1/events", "["+event(user, "view", "pan-1", c.Stamp(-time.Minute))+"]")
		req = ranker.Request{N: 5, ContextItem: "pan-1"}
		var err error
		if dec, err = ts.srv.svc.Recommend(user, nil, nil, &req, &res); err != nil {
			t.Fatal(err)
		}
	}
	warmAt, liked := -1, ""
	for round := 0; round < 40; round++ {
		user := fmt.Sprintf("u%d", round)
		recommend(user)
		if liked == "" {
			liked = res.Items[len(res.Items)-1].Doc.Item.ID
		}
		if res.Model != 0 && warmAt < 0 {
			warmAt = round
		}
		id := dec.RecID.String()
		var items []string
		for _, it := range res.Items {
			items = append(items, fmt.Sprintf("%q", it.Doc.Item.ID))
		}
		body := fmt.Sprintf(`[{"type":"impression","rec_id":%q,"items":[%s]}`, id, strings.Join(items, ","))
		if strings.Contains(body, fmt.Sprintf("%q", liked)) {
			body += fmt.Sprintf(`,{"user":%q,"type":"click","item":%q,"rec_id":%q}`, user, liked, id)
		}
		ts.mustPost("/v1/events", body+"]")
		c.Advance(11 * time.Minute) // close the window: the rest are negatives
	}
	recommend("last")
	if res.Model == 0 || warmAt < 0 {
		t.Fatalf("the model never warmed: %+v", ts.srv.svc.Model().Stats())
	}
	t.Logf("warm from round %d, model %+v", warmAt, ts.srv.svc.Model().Stats())
	if res.Items[0].Doc.Item.ID != liked {
		t.Errorf("warm model ranks %s first, want %s, the only item ever clicked", res.Items[0].Doc.Item.ID, liked)
	}
}

func TestExperimentsAPI(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	ts := startServer(t, dir, c, learningOptions())
	ts.loadCatalog()
	ts.background()
	for _, bad := range []struct{ body, want, field string }{
		{`{"experiments":[{"id":"x","arms":[]}]}`, "1 to 16 arms", "experiments[0].arms"},
		{`{"experiments":[{"id":"x","arms":[{"name":"a","ranker":{"sources":["psychic"]}}]}]}`, "unknown source", "experiments[0].arms[0].ranker"},
		{`{"experiments":[{"id":"x","arms":[{"name":"a","ranker":{"weights":{"colour":1}}}]}]}`, "unknown feature", "experiments[0].arms[0].ranker"},
		{`{"experiments":[{"id":"x","traffic":0.7,"arms":[{"name":"a"}]},{"id":"y","traffic":0.7,"arms":[{"name":"a"}]}]}`, "more than 1", "experiments"},
		{`{"experiments":[{"id":"x y","arms":[{"name":"a"}]}]}`, "letters, digits", "experiments[0].id"},
		{`{"experiments":[],"extra":1}`, "unknown field", ""},
	} {
		code, out := ts.do("PUT", "/v1/experiments", "", bad.body)
		if code != 400 || !strings.Contains(out, bad.want) {
			t.Errorf("PUT %s = %d %s, want 400 with %q", bad.body, code, out, bad.want)
		}
		if bad.field != "" {
			wantError(t, "PUT "+bad.body, code, out, 400, "invalid_request", bad.field)
		}
	}
	cfg := `{"experiments":[{"id":"ranker-v2","arms":[
		{"name":"hand","ranker":{"model":false}},
		{"name":"lean","ranker":{"sources":["trending"],"max_per_leaf":1}}]}]}`
	if code, out := ts.do("PUT", "/v1/experiments", "", cfg); code != 200 {
		t.Fatalf("PUT = %d %s", code, out)
	}
	arms := map[string]int{}
	for i := 0; i < 40; i++ {
		a := ts.decide(fmt.Sprintf(`{"user":"user-%d","n":3}`, i))
		if a.Experiment != "ranker-v2" || (a.Arm != "hand" && a.Arm != "lean") {
			t.Fatalf("answer %+v, want an arm of ranker-v2", a)
		}
		arms[a.Arm]++
		ts.mustPost("/v1/events", fmt.Sprintf(`{"type":"impression","rec_id":%q,"items":[%q]}`, a.RecID, a.Items[0].ID))
		if a.Arm == "lean" || i%4 == 0 {
			ts.mustPost("/v1/events", fmt.Sprintf(`{"user":"user-%d","type":"click","item":%q,"rec_id":%q}`, i, a.Items[0].ID, a.RecID))
		}
	}
	if arms["hand"] == 0 || arms["lean"] == 0 {
		t.Fatalf("arms %v, want both used", arms)
	}
	var rep experimentReport
	if code := ts.getJSON("/v1/experiments/ranker-v2", &rep); code != 200 {
		t.Fatalf("GET /v1/experiments/ranker-v2 = %d", code)
	}
	if !rep.Active || len(rep.Arms) != 2 || rep.Arms[0].Name != "hand" || len(rep.Differences) != 1 {
		t.Fatalf("report %+v", rep)
	}
	lean := rep.Arms[1]
	if lean.Impressions != uint64(arms["lean"]) || lean.Clicks != lean.Impressions || lean.CTR != 1 {
		t.Errorf("lean arm %+v, want every impression clicked (%d)", lean, arms["lean"])
	}
	d := rep.Differences[0]
	if !(d.CTRInterval[0] < d.CTR && d.CTR < d.CTRInterval[1] && d.CTR > 0) {
		t.Errorf("difference %+v, want a positive difference inside its interval", d)
	}
	if code := ts.getJSON("/v1/experiments/nope", &rep); code != 404 {
		t.Errorf("GET an unknown experiment = %d, want 404", code)
	}
	// The configuration and the counters survive a restart.
	ts.stop()
	ts = startServer(t, dir, c, learningOptions())
	var rep2 experimentReport
	ts.getJSON("/v1/experiments/ranker-v2", &rep2)
	if fmt.Sprint(rep2.Arms) != fmt.Sprint(rep.Arms) {
		t.Errorf("after restart %+v, want %+v", rep2.Arms, rep.Arms)
	}
	if a := ts.decide(`{"user":"user-1","n":3}`); a.Experiment != "ranker-v2" {
		t.Errorf("after restart user-1 is in %+v", a)
	}
	// Removing the experiment keeps its counters readable.
	ts.do("PUT", "/v1/experiments", "", `{"experiments":[]}`)
	var rep3 experimentReport
	if code := ts.getJSON("/v1/experiments/ranker-v2", &rep3); code != 200 || rep3.Active {
		t.Errorf("a removed experiment: %d %+v, want its counters, inactive", code, rep3)
	}
}

func TestAttributionValidation(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, learningOptions())
	for _, c := range []struct{ body, field string }{
		{`{"type":"impression","items":["a"]}`, "rec_id"},
		{`{"type":"impression","rec_id":"00000100000000ff"}`, "items"},
		{`{"type":"impression","rec_id":"00000100000000ff","items":[]}`, "items"},
		{`{"type":"impression","rec_id":"00000100000000ff","items":[""]}`, "items[0]"},
		{`{"type":"impression","rec_id":"xyz","items":["a"]}`, "rec_id"},
		{`{"type":"impression","rec_id":"0000010000000000","items":["a"]}`, "rec_id"},
		{`{"user":"u","type":"click","item":"a","rec_id":"not-hex-at-all!!"}`, "rec_id"},
		{`{"user":"u","type":"view","item":"a","items":["b"]}`, "items"},
		// The existing types keep their rules.
		{`{"type":"view","item":"a"}`, "user"},
		{`{"user":"u","type":"click"}`, "item"},
		{`{"user":"u","type":"bogus","item":"a"}`, "type"},
	} {
		code, out := ts.post("/v1/events", c.body)
		if code != 400 || !strings.Contains(out, `"field":"`+c.field+`"`) {
			t.Errorf("POST %s = %d %s, want 400 on %s", c.body, code, out, c.field)
		}
	}
	// An impression of an unknown recommendation is accepted and ignored.
	if code, out := ts.post("/v1/events", `{"type":"impression","rec_id":"00000100000000ff","items":["a"]}`); code != 200 {
		t.Errorf("impression of an unknown rec_id = %d %s", code, out)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"user":"u","type":"view","item":"a","ts":1700000000000}`,
		`{"user":"u","type":"search","query":"trail shoes"}`,
		`{"type":"impression","rec_id":"00000100000000ff","items":["a","b"]}`,
		`{"user":"u","type":"click","item":"a","rec_id":"00000100000000ff"}`,
		`{"user":"u","type":"purchase","item":"a","amount":-1}`,
		`[]`, `{"items":7}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p fastjson.Parser
		v, err := p.Parse(s)
		if err != nil {
			return
		}
		var ev features.Event
		if e := decodeEvent(v, 1_700_000_000_000, &ev); e != nil {
			if e.status != 400 || e.field == "" && e.message == "" {
				t.Fatalf("decodeEvent(%q) = %+v", s, e)
			}
			return
		}
		switch {
		case ev.Type == features.Impression:
			if _, ok := learn.ParseRecID(ev.RecID); !ok || len(ev.Items) == 0 || len(ev.Items) > maxImpressionItems {
				t.Fatalf("accepted impression %+v", ev)
			}
		case ev.User == "" || ev.Type < features.Search || ev.Type > features.Purchase:
			t.Fatalf("accepted event %+v", ev)
		case ev.Type != features.Search && ev.Item == "":
			t.Fatalf("accepted item event without item: %+v", ev)
		}
	})
}
