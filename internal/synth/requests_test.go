package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prebid/openrtb/v20/openrtb2"
)

// The campaign and request generators are pure functions of the options and
// their index.
func TestRequestsDeterminism(t *testing.T) {
	write := func(o Options) [][]byte {
		w := New(o)
		var c, rec, live, bid bytes.Buffer
		for _, err := range []error{
			w.WriteCampaignsNDJSON(&c, 200),
			w.WriteRecommendNDJSON(&rec, 300),
			w.WriteLiveEventsNDJSON(&live, 300),
			w.WriteBidRequestsNDJSON(&bid, 300),
		} {
			if err != nil {
				t.Fatalf("write: got error %v, want nil", err)
			}
		}
		return [][]byte{c.Bytes(), rec.Bytes(), live.Bytes(), bid.Bytes()}
	}
	names := []string{"campaigns", "recommend", "live events", "bid requests"}
	base := Options{Items: 2000, Users: 300, Seed: 4}
	a, b, other := write(base), write(base), write(Options{Items: 2000, Users: 300, Seed: 5})
	for i, name := range names {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("%s: got different bytes for equal options, want identical", name)
		}
		if bytes.Equal(a[i], other[i]) {
			t.Errorf("%s: got identical bytes for seeds 4 and 5, want different", name)
		}
	}
	// Request k does not depend on the requests before it.
	w := New(base)
	if got, want := w.BidRequest(250), New(base).BidRequest(250); !equalJSON(t, got, want) {
		t.Errorf("BidRequest(250) on a fresh world: got %+v, want %+v", got, want)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func TestCampaigns(t *testing.T) {
	w := New(Options{Items: 20000, Users: 100, Seed: 6})
	items := map[string]bool{}
	for _, it := range w.Items {
		items[it.ID] = true
	}
	leaves := map[string]bool{}
	for _, c := range w.Categories {
		leaves[strings.Join(c, "/")] = true
		leaves[strings.Join(c[:2], "/")] = true
	}
	var sponsored, paused, capped int
	const n = 2000
	for c := range n {
		camp := w.Campaign(c)
		if want := fmt.Sprintf("c%06d", c); camp.ID != want {
			t.Errorf("campaign %d: got id %s, want %s", c, camp.ID, want)
		}
		if !slices.Contains(w.Brands, camp.Advertiser) || len(camp.ADomain) != 1 {
			t.Errorf("campaign %s: got advertiser %q adomain %v, want a brand and one domain", camp.ID, camp.Advertiser, camp.ADomain)
		}
		b := camp.Budget
		if b.Daily <= 0 || b.Total < b.Daily || b.Currency != "USD" {
			t.Errorf("campaign %s: got budget %+v, want 0 < daily <= total in USD", camp.ID, b)
		}
		switch p := camp.Bid; p.Strategy {
		case "cpm":
			if p.MaxCPM <= 0 || p.CPC != 0 {
				t.Errorf("campaign %s: got cpm bid %+v, want max_cpm > 0 and no cpc", camp.ID, p)
			}
		case "cpc":
			if p.MaxCPM <= 0 || p.CPC <= 0 {
				t.Errorf("campaign %s: got cpc bid %+v, want cpc and max_cpm > 0", camp.ID, p)
			}
		default:
			t.Errorf("campaign %s: got strategy %q, want cpm or cpc", camp.ID, p.Strategy)
		}
		if (len(camp.Items) == 0) == (len(camp.Creatives) == 0) {
			t.Errorf("campaign %s: got %d items and %d creatives, want exactly one kind", camp.ID, len(camp.Items), len(camp.Creatives))
		}
		for _, id := range camp.Items {
			if !items[id] {
				t.Errorf("campaign %s: got item %q, want a catalog item", camp.ID, id)
			}
		}
		for _, cr := range camp.Creatives {
			if cr.Format != "banner" || cr.W <= 0 || cr.H <= 0 || !strings.Contains(cr.ADM, camp.ADomain[0]) || len(cr.Cat) != 1 {
				t.Errorf("campaign %s: got creative %+v, want a sized banner linking to %s with a category", camp.ID, cr, camp.ADomain[0])
			}
		}
		for _, path := range camp.Targeting.Interests {
			if !leaves[strings.Join(path, "/")] {
				t.Errorf("campaign %s: got interest %v, want a category path of the tree", camp.ID, path)
			}
		}
		if len(camp.Items) > 0 {
			sponsored++
		}
		if camp.Status == "paused" {
			paused++
		}
		if camp.FrequencyCap != nil {
			capped++
		}
	}
	for _, tt := range []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"sponsored-product share", float64(sponsored) / n, 0.25, 0.35},
		{"paused share", float64(paused) / n, 0.03, 0.07},
		{"frequency-capped share", float64(capped) / n, 0.55, 0.65},
	} {
		if tt.got < tt.min || tt.got > tt.max {
			t.Errorf("%s: got %.3f, want within [%v, %v]", tt.name, tt.got, tt.min, tt.max)
		}
	}
}

func TestRecommendRequests(t *testing.T) {
	w := New(Options{Items: 5000, Users: 1000, Seed: 2})
	items := map[string]bool{}
	for _, it := range w.Items {
		items[it.ID] = true
	}
	kinds := map[string]int{}
	const n = 5000
	for k := range n {
		req := w.Recommend(k)
		kind := "home"
		switch {
		case req.User == "":
			kind = "anonymous"
		case req.Filter != nil:
			kind = "category"
		case req.Context != nil && req.Context.Query != "":
			kind = "search"
		case req.Context != nil:
			kind = "product"
		}
		kinds[kind]++
		if req.User != "" && !strings.HasPrefix(req.User, "u") && !strings.HasPrefix(req.User, "n") {
			t.Errorf("Recommend(%d): got user %q, want u... or n...", k, req.User)
		}
		if req.N < 1 || req.N > 100 {
			t.Errorf("Recommend(%d): got n %d, want 1-100", k, req.N)
		}
		if c := req.Context; c != nil && c.Item != "" && !items[c.Item] {
			t.Errorf("Recommend(%d): got context item %q, want a catalog item", k, c.Item)
		}
	}
	for kind, want := range map[string]float64{"home": 0.45, "product": 0.25, "search": 0.10, "category": 0.10, "anonymous": 0.10} {
		if got := float64(kinds[kind]) / n; got < want-0.03 || got > want+0.03 {
			t.Errorf("share of %s requests: got %.3f, want %.2f +- 0.03", kind, got, want)
		}
	}
}

func TestLiveEvents(t *testing.T) {
	w := New(Options{Items: 3000, Users: 500, Seed: 3})
	ids := map[string]bool{}
	for k := range 2000 {
		evs := w.LiveEvents(k)
		if len(evs) == 0 || len(evs) > 9 {
			t.Fatalf("LiveEvents(%d): got %d events, want 1-9", k, len(evs))
		}
		for _, e := range evs {
			if ids[e.ID] {
				t.Errorf("LiveEvents(%d): got duplicate id %s", k, e.ID)
			}
			ids[e.ID] = true
			if e.User != evs[0].User || e.TS != 0 || e.Session != fmt.Sprintf("live-%d", k) {
				t.Errorf("LiveEvents(%d): got %+v, want one user, no ts, session live-%d", k, e, k)
			}
			if (e.Type == Search) != (e.Query != "" && e.Item == "") {
				t.Errorf("LiveEvents(%d): got %+v, want a query exactly on searches", k, e)
			}
		}
	}
}

func TestBidRequests(t *testing.T) {
	w := New(Options{Items: 3000, Users: 500, Seed: 8})
	var noUser, coppa, multi, app int
	const n = 3000
	for k := range n {
		b, err := json.Marshal(w.BidRequest(k))
		if err != nil {
			t.Fatal(err)
		}
		var req openrtb2.BidRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatalf("BidRequest(%d): got %v decoding %s, want valid OpenRTB", k, err, b)
		}
		if req.ID == "" || len(req.Imp) == 0 || req.Device == nil || req.Device.Geo == nil {
			t.Fatalf("BidRequest(%d) = %s, want an id, imps, a device and its geo", k, b)
		}
		if (req.Site == nil) == (req.App == nil) {
			t.Errorf("BidRequest(%d): got site %v app %v, want exactly one", k, req.Site != nil, req.App != nil)
		}
		seen := map[string]bool{}
		for _, imp := range req.Imp {
			if seen[imp.ID] || imp.Banner == nil || imp.BidFloor <= 0 {
				t.Errorf("BidRequest(%d): got imp %+v, want a unique id, a banner and a floor", k, imp)
			}
			seen[imp.ID] = true
		}
		if req.User == nil {
			noUser++
		} else if req.User.ID != req.User.BuyerUID {
			t.Errorf("BidRequest(%d): got user.id %q buyeruid %q, want equal", k, req.User.ID, req.User.BuyerUID)
		}
		if req.Regs != nil && req.Regs.COPPA == 1 {
			coppa++
		}
		if len(req.Imp) > 1 {
			multi++
		}
		if req.App != nil {
			app++
		}
	}
	for _, tt := range []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"requests without a user", float64(noUser) / n, 0.12, 0.18},
		{"COPPA requests", float64(coppa) / n, 0.01, 0.03},
		{"requests with several imps", float64(multi) / n, 0.16, 0.24},
		{"app requests", float64(app) / n, 0.2, 0.45},
	} {
		if tt.got < tt.min || tt.got > tt.max {
			t.Errorf("%s: got %.3f, want within [%v, %v]", tt.name, tt.got, tt.min, tt.max)
		}
	}
}
