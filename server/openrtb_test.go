package server

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prebid/openrtb/v20/adcom1"
	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/auction"
)

const testPublicURL = "https://bid.tailor.test"

// testRates are the currency rates of bidding tests: units per US dollar.
var testRates = map[string]float64{"EUR": 0.9, "GBP": 0.8}

// newBidServer is a test server with a bidder configured for tests; mod may
// change the options first.
func newBidServer(t *testing.T, mod func(*Options)) *testServer {
	t.Helper()
	return startServer(t, t.TempDir(), nil, bidOptions(t, mod))
}

func bidOptions(t testing.TB, mod func(*Options)) Options {
	rates, err := auction.NewRates(testRates)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Bidder: BidderOptions{PublicURL: testPublicURL}}
	opts.Service.Bidding.NoticeKey = []byte("test notice key")
	opts.Service.Bidding.Auction.Rates = rates
	if mod != nil {
		mod(&opts)
	}
	return opts
}

// campaigns upserts campaigns and fails the test unless they are accepted.
func (ts *testServer) campaigns(body string) {
	ts.t.Helper()
	ts.mustPost("/v1/campaigns", body)
}

// rawBid posts a bid request body with extra headers.
func (ts *testServer) rawBid(body []byte, header ...string) (int, []byte) {
	ts.t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://tailor/openrtb2/bid")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	req.SetBody(body)
	if err := ts.client.Do(req, resp); err != nil {
		ts.t.Fatalf("POST /openrtb2/bid: %v", err)
	}
	checkOpenAPI(ts.t, req, resp)
	return resp.StatusCode(), append([]byte(nil), resp.Body()...)
}

// bid posts req and decodes the answer: nil for 204. Any status but 200 and
// 204 fails the test.
func (ts *testServer) bid(req *openrtb2.BidRequest) *openrtb2.BidResponse {
	ts.t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	code, out := ts.rawBid(body)
	switch code {
	case 204:
		if len(out) != 0 {
			ts.t.Errorf("204 with a body: %q", out)
		}
		return nil
	case 200:
		var resp openrtb2.BidResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			ts.t.Fatalf("bid response %s: %v", out, err)
		}
		return &resp
	}
	ts.t.Fatalf("POST /openrtb2/bid = %d %s, want 200 or 204", code, out)
	return nil
}

// onlyBid returns the single bid of resp, failing the test otherwise.
func onlyBid(t *testing.T, resp *openrtb2.BidResponse) *openrtb2.Bid {
	t.Helper()
	if resp == nil || len(resp.SeatBid) != 1 || len(resp.SeatBid[0].Bid) != 1 {
		t.Fatalf("response %+v, want exactly one bid", resp)
	}
	return &resp.SeatBid[0].Bid[0]
}

// notice fetches a notice URL of a bid the way an exchange would: macros
// filled in with the request's ids, price (empty: left as the macro) and
// loss reason.
func (ts *testServer) notice(u string, req *openrtb2.BidRequest, impID, price string) (int, string) {
	ts.t.Helper()
	if !strings.HasPrefix(u, testPublicURL+"/openrtb2/") {
		ts.t.Fatalf("notice URL %q does not point at this server", u)
	}
	u = strings.TrimPrefix(u, testPublicURL)
	r := strings.NewReplacer("${AUCTION_ID}", url.QueryEscape(req.ID), "${AUCTION_IMP_ID}", url.QueryEscape(impID), "${AUCTION_LOSS}", "102")
	u = r.Replace(u)
	if price != "" {
		u = strings.ReplaceAll(u, "${AUCTION_PRICE}", price)
	}
	return ts.do("GET", u, "", "")
}

// mustNotice is notice, failing the test unless the status is want.
func (ts *testServer) mustNotice(u string, req *openrtb2.BidRequest, impID, price, want string) {
	ts.t.Helper()
	code, out := ts.notice(u, req, impID, price)
	if code != 200 || !strings.Contains(out, `"status":"`+want+`"`) {
		ts.t.Fatalf("notice %s = %d %s, want status %s", u, code, out, want)
	}
}

type statsT struct {
	Bids, Wins, Losses, Impressions uint64
	Spend                           float64
	SpendToday                      float64 `json:"spend_today"`
	Reserved                        float64
	Pacing                          struct {
		State string
		Rate  float64
	}
}

func (ts *testServer) stats(id string) statsT {
	ts.t.Helper()
	code, out := ts.do("GET", "/v1/campaigns/"+id+"/stats", "", "")
	if code != 200 {
		ts.t.Fatalf("GET stats of %s = %d %s", id, code, out)
	}
	var st statsT
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		ts.t.Fatal(err)
	}
	return st
}

// counter returns the value of a counter (summed over children whose labels
// include all of labels) in the server's registry.
func (ts *testServer) counter(name string, labels ...string) float64 {
	ts.t.Helper()
	mfs, err := ts.srv.Registry().Gather()
	if err != nil {
		ts.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// banner is a request for one 300x250 site banner from user.
func banner(id, user string, floor float64) *openrtb2.BidRequest {
	w, h := int64(300), int64(250)
	req := &openrtb2.BidRequest{
		ID:   id,
		AT:   2,
		Cur:  []string{"USD"},
		Imp:  []openrtb2.Imp{{ID: "1", Banner: &openrtb2.Banner{W: &w, H: &h}, BidFloor: floor, BidFloorCur: "USD"}},
		Site: &openrtb2.Site{Domain: "news.example", Page: "https://news.example/today"},
		Device: &openrtb2.Device{
			DeviceType: 2, OS: "Windows", Geo: &openrtb2.Geo{Country: "USA"},
		},
	}
	if user != "" {
		req.User = &openrtb2.User{ID: "exchange-" + user, BuyerUID: user}
	}
	return req
}

// shoeAndPanCampaigns are a running-shoe campaign bought on searches for
// running shoes, and a cookware campaign bought on kitchen interest.
const shoeAndPanCampaigns = `[
{"id":"run-shoes","advertiser":"Fellstride","adomain":["fellstride.example"],
 "budget":{"daily":50,"total":500,"currency":"USD"},"pacing":"asap",
 "bid":{"strategy":"cpc","cpc":0.8,"max_cpm":6},
 "targeting":{"keywords":["running shoes"]},
 "creatives":[{"id":"rs-300","format":"banner","w":300,"h":250,"cat":["IAB17"],
   "adm":"<a href=\"https://fellstride.example/?c={{CAMPAIGN_ID}}&amp;b={{BID_ID}}\"><img src=\"https://fellstride.example/rs.png\"></a>"}]},
{"id":"cookware","advertiser":"Ironhearth","adomain":["ironhearth.example"],
 "budget":{"daily":50,"total":500,"currency":"USD"},"pacing":"asap",
 "bid":{"strategy":"cpc","cpc":0.5,"max_cpm":4},
 "targeting":{"interests":[["Home","Kitchen"]]},
 "creatives":[{"id":"pan-300","format":"banner","w":300,"h":250,"cat":["IAB8"],
   "adm":"<a href=\"https://ironhearth.example/\">Pans</a>"}]}
]`

// shoppers loads the catalog and a runner who searched for running shoes
// and a cook who looked at pans.
func (ts *testServer) shoppers() {
	ts.t.Helper()
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+strings.Join([]string{
		event("runner", "search", "trail running shoes", ts.clock.Stamp(-3*time.Minute)),
		event("runner", "view", "shoe-trail-1", ts.clock.Stamp(-2*time.Minute)),
		event("cook", "view", "pan-1", ts.clock.Stamp(-2*time.Minute)),
		event("cook", "view", "pot-1", ts.clock.Stamp(-1*time.Minute)),
	}, ",")+"]")
}

func TestRunnerWinsShoesCookDoesNot(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.shoppers()
	ts.campaigns(shoeAndPanCampaigns)

	runner := onlyBid(t, ts.bid(banner("a1", "runner", 0.5)))
	if runner.CID != "run-shoes" || runner.CrID != "rs-300" || runner.ImpID != "1" {
		t.Errorf("runner's bid: cid %q crid %q impid %q, want run-shoes rs-300 1", runner.CID, runner.CrID, runner.ImpID)
	}
	if runner.Price < 0.5 || runner.Price > 6 {
		t.Errorf("runner's price %v, want between the floor 0.5 and max_cpm 6", runner.Price)
	}
	if !strings.Contains(runner.AdM, "?c=run-shoes&amp;b=") || strings.Contains(runner.AdM, "{{") {
		t.Errorf("adm %q: macros not filled", runner.AdM)
	}

	resp := ts.bid(banner("a2", "cook", 0.5))
	if resp != nil {
		for _, b := range resp.SeatBid[0].Bid {
			if b.CID == "run-shoes" {
				t.Errorf("the cook got the running-shoe campaign: %+v", b)
			}
		}
	}
	cook := onlyBid(t, resp)
	if cook.CID != "cookware" {
		t.Errorf("cook's bid is for %q, want cookware", cook.CID)
	}
	// A stranger matches neither.
	if resp := ts.bid(banner("a3", "stranger", 0.5)); resp != nil {
		t.Errorf("a user nobody knows got %+v, want no bid", resp.SeatBid)
	}
	// The runner's click model sees the search: a higher value than the cook's.
	if runner.Price <= cook.Price {
		t.Errorf("runner's price %v not above the cook's %v", runner.Price, cook.Price)
	}
}

func TestBidResponseShape(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.shoppers()
	ts.campaigns(shoeAndPanCampaigns)
	req := banner("shape-1", "runner", 0.5)
	resp := ts.bid(req)
	b := onlyBid(t, resp)
	if resp.ID != req.ID || resp.BidID == "" || resp.Cur != "USD" || resp.SeatBid[0].Seat != "tailor" {
		t.Errorf("response id %q bidid %q cur %q seat %q", resp.ID, resp.BidID, resp.Cur, resp.SeatBid[0].Seat)
	}
	if b.ID == "" || b.AdID == "" || b.W != 300 || b.H != 250 || b.MType != openrtb2.MarkupBanner ||
		len(b.ADomain) != 1 || b.ADomain[0] != "fellstride.example" || len(b.Cat) != 1 || b.Cat[0] != "IAB17" {
		t.Errorf("bid %+v", b)
	}
	for _, u := range []string{b.NURL, b.BURL, b.LURL} {
		if !strings.HasPrefix(u, testPublicURL+"/openrtb2/") || !strings.Contains(u, "${AUCTION_PRICE}") ||
			!strings.Contains(u, "${AUCTION_ID}") || !strings.Contains(u, "${AUCTION_IMP_ID}") {
			t.Errorf("notice URL %q lacks this server or the standard macros", u)
		}
	}
	if !strings.Contains(b.LURL, "${AUCTION_LOSS}") {
		t.Errorf("lurl %q lacks ${AUCTION_LOSS}", b.LURL)
	}
}

func TestPricing(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns(`[{"id":"flat","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},
	 "pacing":"asap","bid":{"strategy":"cpm","max_cpm":4},
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"<b>ad</b>"}]},
	{"id":"euro","advertiser":"E","adomain":["e.example"],"budget":{"daily":100,"currency":"EUR"},
	 "pacing":"asap","bid":{"strategy":"cpm","max_cpm":1},"targeting":{"countries":["FR"]},
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"<b>ad</b>"}]}]`)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-6 }

	// Second price: the value, 4 USD.
	if b := onlyBid(t, ts.bid(banner("p1", "", 1))); !near(b.Price, 4) {
		t.Errorf("second-price bid %v, want 4", b.Price)
	}
	// First price: shaded toward the floor, 1 + 0.7*(4-1) = 3.1.
	req := banner("p2", "", 1)
	req.AT = 1
	if b := onlyBid(t, ts.bid(req)); !near(b.Price, 3.1) {
		t.Errorf("first-price bid %v, want 3.1", b.Price)
	}
	// A floor in EUR: 3.5 EUR is 3.889 USD, still under 4.
	req = banner("p3", "", 3.5)
	req.Imp[0].BidFloorCur = "EUR"
	if b := onlyBid(t, ts.bid(req)); b.Price < 3.5/0.9 || b.Price > 4 {
		t.Errorf("bid %v over a 3.5 EUR floor, want between %v and 4", b.Price, 3.5/0.9)
	}
	// 3.7 EUR is 4.11 USD: more than the campaign may pay.
	req.ID, req.Imp[0].BidFloor = "p4", 3.7
	if resp := ts.bid(req); resp != nil {
		t.Errorf("bid over its max_cpm: %+v", resp.SeatBid)
	}
	// A floor currency not in the table: no bid.
	req.ID, req.Imp[0].BidFloor, req.Imp[0].BidFloorCur = "p5", 0.1, "XYZ"
	if resp := ts.bid(req); resp != nil {
		t.Errorf("bid over a floor in an unknown currency: %+v", resp.SeatBid)
	}
	// The response in EUR when asked: 4 USD is 3.6 EUR.
	req = banner("p6", "", 0)
	req.Cur = []string{"EUR"}
	if resp := ts.bid(req); resp == nil || resp.Cur != "EUR" || !near(onlyBid(t, resp).Price, 3.6) {
		t.Errorf("EUR response %+v, want one bid of 3.6 EUR", resp)
	}
	// Only currencies we do not trade: no bid.
	req.ID, req.Cur = "p7", []string{"JPY"}
	if resp := ts.bid(req); resp != nil {
		t.Errorf("bid in an unknown currency: %+v", resp)
	}
	// The EUR campaign (max 1 EUR = 1.11 USD) loses to the USD one in France.
	req = banner("p8", "", 0)
	req.Device.Geo.Country = "FRA"
	if b := onlyBid(t, ts.bid(req)); b.CID != "flat" {
		t.Errorf("in France %q won, want flat (higher eCPM)", b.CID)
	}
}

func TestBlockedNeverBids(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns(`[{"id":"shoes","advertiser":"Fellstride","adomain":["shop.fellstride.example"],"bundle":"com.fellstride.app",
	 "budget":{"daily":100,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpm","max_cpm":3},
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"cat":["IAB17-3"],"attr":[6],
	   "adm":"<img src=\"http://fellstride.example/plain-http.png\">"}]}]`)
	if resp := ts.bid(banner("b0", "", 0)); resp == nil {
		t.Fatalf("no bid without blocks")
	}
	tests := []struct {
		name string
		mod  func(*openrtb2.BidRequest)
	}{
		{"bcat parent", func(r *openrtb2.BidRequest) { r.BCat = []string{"IAB26", "IAB17"} }},
		{"bcat exact", func(r *openrtb2.BidRequest) { r.BCat = []string{"IAB17-3"} }},
		{"bcat other taxonomy", func(r *openrtb2.BidRequest) { r.BCat = []string{"483"}; r.CatTax = 6 }},
		{"acat without it", func(r *openrtb2.BidRequest) { r.ACat = []string{"IAB1"} }},
		{"badv", func(r *openrtb2.BidRequest) { r.BAdv = []string{"fellstride.example"} }},
		{"badv with scheme", func(r *openrtb2.BidRequest) { r.BAdv = []string{"https://www.Fellstride.example/"} }},
		{"bapp", func(r *openrtb2.BidRequest) { r.BApp = []string{"com.fellstride.app"} }},
		{"battr", func(r *openrtb2.BidRequest) { r.Imp[0].Banner.BAttr = []adcom1.CreativeAttribute{6} }},
		{"size", func(r *openrtb2.BidRequest) {
			w, h := int64(728), int64(90)
			r.Imp[0].Banner.W, r.Imp[0].Banner.H = &w, &h
		}},
		{"mimes", func(r *openrtb2.BidRequest) { r.Imp[0].Banner.MIMEs = []string{"image/png"} }},
		{"secure", func(r *openrtb2.BidRequest) { r.Imp[0].Secure = openrtb2.Int8Ptr(1) }},
		{"bseat", func(r *openrtb2.BidRequest) { r.BSeat = []string{"tailor"} }},
		{"wseat", func(r *openrtb2.BidRequest) { r.WSeat = []string{"someone-else"} }},
		{"video only", func(r *openrtb2.BidRequest) {
			r.Imp[0].Banner = nil
			r.Imp[0].Video = &openrtb2.Video{MIMEs: []string{"video/mp4"}}
		}},
	}
	ts.campaigns(`[{"id":"plain","advertiser":"P","adomain":["plain.example"],
	 "budget":{"daily":100,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpm","max_cpm":1},
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"cat":["IAB1"],"adm":"<b>ad</b>"}]}]`)
	for i, tt := range tests {
		req := banner(fmt.Sprintf("b%d", i+1), "", 0)
		tt.mod(req)
		if resp := ts.bid(req); resp != nil {
			for _, b := range resp.SeatBid[0].Bid {
				if b.CID == "shoes" {
					t.Errorf("%s: the blocked campaign bid: %+v", tt.name, b)
				}
			}
		}
	}
}

func TestPrivacyMeansContextualOnly(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.shoppers()
	// One campaign bought on the user's searches, one on the page's keywords.
	ts.campaigns(shoeAndPanCampaigns)
	ts.campaigns(`[{"id":"contextual","advertiser":"News","adomain":["runnersworld.example"],
	 "budget":{"daily":50,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpm","max_cpm":0.8},
	 "targeting":{"keywords":["marathon"]},
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"<b>ad</b>"}]}]`)
	withPage := func(id string) *openrtb2.BidRequest {
		r := banner(id, "runner", 0.1)
		r.Site.Keywords = "marathon,training"
		return r
	}
	if b := onlyBid(t, ts.bid(withPage("ok"))); b.CID != "run-shoes" {
		t.Fatalf("with consent the runner got %q, want run-shoes", b.CID)
	}
	profileReads := func() float64 {
		return ts.counter("tailor_profile_cache_hits_total") + ts.counter("tailor_profile_cache_misses_total")
	}
	gdpr1 := openrtb2.Int8Ptr(1)
	tests := []struct {
		name string
		mod  func(*openrtb2.BidRequest)
	}{
		{"coppa", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{COPPA: 1} }},
		{"gdpr without consent", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{GDPR: gdpr1} }},
		{"gdpr 2.5 ext without consent", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{Ext: json.RawMessage(`{"gdpr":1}`)} }},
		{"gdpr garbage consent", func(r *openrtb2.BidRequest) {
			r.Regs = &openrtb2.Regs{GDPR: gdpr1}
			r.User.Consent = "not-a-consent-string"
		}},
		{"gdpr consent without purposes", func(r *openrtb2.BidRequest) {
			r.Regs = &openrtb2.Regs{GDPR: gdpr1}
			r.User.Ext = json.RawMessage(`{"consent":"` + consentNoPurposes + `"}`)
		}},
		{"gdpr implied by EU geo", func(r *openrtb2.BidRequest) { r.Device.Geo.Country = "DEU" }},
		{"us privacy opt-out", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{USPrivacy: "1YYN"} }},
		{"us privacy opt-out 2.5 ext", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{Ext: json.RawMessage(`{"us_privacy":"1YYY"}`)} }},
		{"gpp uspv1 opt-out", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{GPP: "DBABTA~1YYN", GPPSID: []int8{6}} }},
		{"gpp unreadable", func(r *openrtb2.BidRequest) { r.Regs = &openrtb2.Regs{GPP: "gppString", GPPSID: []int8{7}} }},
	}
	for i, tt := range tests {
		req := withPage(fmt.Sprintf("priv-%d", i))
		tt.mod(req)
		before := profileReads()
		resp := ts.bid(req)
		if got := profileReads(); got != before {
			t.Errorf("%s: the profile was read (%v reads)", tt.name, got-before)
		}
		if resp == nil {
			t.Errorf("%s: no bid, want the contextual campaign", tt.name)
			continue
		}
		if b := onlyBid(t, resp); b.CID != "contextual" {
			t.Errorf("%s: %q bid, want only the contextual campaign", tt.name, b.CID)
		}
	}
	// GDPR applying with a consent string granting purposes 1, 3 and 4:
	// the profile is used again.
	req := withPage("consented")
	req.Regs = &openrtb2.Regs{GDPR: gdpr1}
	req.User.Consent = consentAllPurposes
	if b := onlyBid(t, ts.bid(req)); b.CID != "run-shoes" {
		t.Errorf("with TCF consent %q bid, want run-shoes", b.CID)
	}
	// A US privacy string that does not opt out changes nothing.
	req = withPage("usp-ok")
	req.Regs = &openrtb2.Regs{USPrivacy: "1YNN"}
	if b := onlyBid(t, ts.bid(req)); b.CID != "run-shoes" {
		t.Errorf("with 1YNN %q bid, want run-shoes", b.CID)
	}
}

// TCF v2 consent strings: purposes 1 to 10 consented, and only purpose 1
// (missing 3 and 4, the ones personalised ads need).
var (
	consentAllPurposes = tcfString(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	consentNoPurposes  = tcfString(1)
)

// tcfString encodes a TCF v2 core string consenting to purposes and to
// vendors 1 to 10.
func tcfString(purposes ...int) string {
	var bits []bool
	put := func(n int, v uint64) {
		for i := n - 1; i >= 0; i-- {
			bits = append(bits, v>>uint(i)&1 == 1)
		}
	}
	put(6, 2)            // version
	put(36, 17000000000) // created, deciseconds
	put(36, 17000000000) // last updated
	put(12, 7)           // CMP id
	put(12, 1)           // CMP version
	put(6, 1)            // consent screen
	put(12, 4<<6|13)     // language "EN"
	put(12, 100)         // vendor list version
	put(6, 4)            // policy version
	put(1, 1)            // service specific
	put(1, 0)            // non-standard texts
	put(12, 0)           // special features
	p := uint64(0)
	for _, id := range purposes {
		p |= 1 << uint(24-id)
	}
	put(24, p)      // purpose consents
	put(24, 0)      // purpose legitimate interests
	put(1, 0)       // purpose one treatment
	put(12, 3<<6|4) // publisher country "DE"
	put(16, 10)     // max vendor id
	put(1, 0)       // bit field
	put(10, 1<<10-1)
	put(16, 0) // max vendor id, legitimate interests
	put(1, 0)
	put(12, 0) // publisher restrictions
	raw := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		if b {
			raw[i/8] |= 0x80 >> uint(i%8)
		}
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestUnknownAndPausedCampaigns(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns(`[{"id":"paused","status":"paused","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},
	 "bid":{"strategy":"cpm","max_cpm":4},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]},
	{"id":"later","start":"2030-01-01T00:00:00Z","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},
	 "bid":{"strategy":"cpm","max_cpm":4},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}]`)
	if resp := ts.bid(banner("u1", "", 0)); resp != nil {
		t.Errorf("a paused or future campaign bid: %+v", resp.SeatBid)
	}
	if n := ts.counter("tailor_bid_nobids_total", "reason", "targeting"); n != 1 {
		t.Errorf("no-bids for targeting = %v, want 1", n)
	}
}

func TestGzipAndLimits(t *testing.T) {
	ts := newBidServer(t, func(o *Options) { o.Bidder.MaxBodyBytes = 64 << 10 })
	ts.campaigns(`[{"id":"any","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},"pacing":"asap",
	 "bid":{"strategy":"cpm","max_cpm":4},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}]`)
	good, _ := json.Marshal(banner("g1", "", 0))
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	if code, out := ts.rawBid(gz(good), "Content-Encoding", "gzip"); code != 200 {
		t.Errorf("gzip request = %d %s, want 200", code, out)
	}
	bomb := gz(make([]byte, 64<<20)) // 64 MiB of zeros in about 64 KiB
	tests := []struct {
		name   string
		body   []byte
		header []string
		want   int
	}{
		{"gzip bomb", bomb, []string{"Content-Encoding", "gzip"}, 413},
		{"past the limit", append(good[:len(good)-1:len(good)-1], []byte(`,"pad":"`+strings.Repeat("x", 64<<10)+`"}`)...), nil, 413},
		{"gzip header on a plain body", good, []string{"Content-Encoding", "gzip"}, 400},
		{"unknown encoding", good, []string{"Content-Encoding", "br"}, 415},
		{"empty", nil, nil, 400},
		{"null", []byte("null"), nil, 400},
		{"array", []byte("[]"), nil, 400},
		{"truncated", good[:len(good)/2], nil, 400},
		{"trailing garbage", append(append([]byte(nil), good...), "}}"...), nil, 400},
		{"bom", append([]byte("\xef\xbb\xbf"), good...), nil, 400},
		{"no id", []byte(`{"imp":[{"id":"1","banner":{"w":300,"h":250}}]}`), nil, 400},
		{"numeric id", []byte(`{"id":7,"imp":[{"id":"1","banner":{"w":300,"h":250}}]}`), nil, 400},
		{"no imps", []byte(`{"id":"x","imp":[]}`), nil, 400},
		{"imp object", []byte(`{"id":"x","imp":{"id":"1"}}`), nil, 400},
		{"imp without media", []byte(`{"id":"x","imp":[{"id":"1"}]}`), nil, 400},
		{"imp without id", []byte(`{"id":"x","imp":[{"banner":{"w":300,"h":250}}]}`), nil, 400},
		{"duplicate imp ids", []byte(`{"id":"x","imp":[{"id":"1","banner":{}},{"id":"1","banner":{}}]}`), nil, 400},
		{"site and app", []byte(`{"id":"x","imp":[{"id":"1","banner":{}}],"site":{},"app":{}}`), nil, 400},
		{"bidfloor string", []byte(`{"id":"x","imp":[{"id":"1","banner":{},"bidfloor":"1"}]}`), nil, 400},
		{"huge number", []byte(`{"id":"x","tmax":1e999,"imp":[{"id":"1","banner":{}}]}`), nil, 400},
		{"keywords array", []byte(`{"id":"x","imp":[{"id":"1","banner":{}}],"user":{"keywords":["a"]}}`), nil, 400},
		{"ext string is fine", []byte(`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"ext":"test-ext","regs":{"ext":"x"}}`), nil, 200},
	}
	for _, tt := range tests {
		code, out := ts.rawBid(tt.body, tt.header...)
		if code != tt.want {
			t.Errorf("%s = %d %.80s, want %d", tt.name, code, out, tt.want)
		}
		if code != 200 && len(out) != 0 {
			t.Errorf("%s: %d with a body %q, want none", tt.name, code, out)
		}
	}
	if code, _ := ts.do("GET", "/openrtb2/bid", "", ""); code != 405 {
		t.Errorf("GET /openrtb2/bid = %d, want 405", code)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestInflateStopsAtTheLimit(t *testing.T) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(make([]byte, 256<<20)) // 256 MiB of zeros
	w.Close()
	bomb := buf.Bytes()
	var zr *gzip.Reader
	out, err := inflate(nil, bomb, 1<<20, &zr)
	if err != errBodyTooLarge {
		t.Fatalf("inflate(bomb) error = %v, want errBodyTooLarge", err)
	}
	if len(out) > 1<<20+64<<10 {
		t.Errorf("inflated %d bytes before refusing, want about the 1 MiB limit", len(out))
	}
	// How much of the compressed stream was read: a small part of it.
	cr := &countingReader{r: bytes.NewReader(bomb)}
	zr2, err := gzip.NewReader(cr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := zr2.Read(make([]byte, 1<<20+1))
	_ = n
	if cr.n > len(bomb)/4 {
		t.Errorf("read %d of %d compressed bytes for the first MiB", cr.n, len(bomb))
	}
	// A stream that fits inflates whole.
	buf.Reset()
	w = gzip.NewWriter(&buf)
	w.Write([]byte(`{"id":"x"}`))
	w.Close()
	if out, err := inflate(nil, buf.Bytes(), 1<<20, &zr); err != nil || string(out) != `{"id":"x"}` {
		t.Errorf("inflate(small) = %q, %v", out, err)
	}
}

func TestTinyTmaxNoBidInTime(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns(`[{"id":"any","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},"pacing":"asap",
	 "bid":{"strategy":"cpm","max_cpm":4},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}]`)
	for _, tmax := range []int64{1, 10, 15} {
		req := banner(fmt.Sprintf("t%d", tmax), "", 0)
		req.TMax = tmax
		if resp := ts.bid(req); resp != nil {
			t.Errorf("tmax %d ms (under the 15 ms margin plus 1 ms of work): got a bid", tmax)
		}
	}
	if n := ts.counter("tailor_bid_nobids_total", "reason", "tmax"); n != 3 {
		t.Errorf("no-bids for tmax = %v, want 3", n)
	}
	req := banner("t100", "", 0)
	req.TMax = 100
	if resp := ts.bid(req); resp == nil {
		t.Errorf("tmax 100 ms: no bid")
	}
}

func TestIndexSeesCampaignChanges(t *testing.T) {
	ts := newBidServer(t, nil)
	c := `{"id":"x","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},"pacing":"asap",
	 "bid":{"strategy":"cpm","max_cpm":4},"targeting":{"countries":[%q]},
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}`
	ts.campaigns(fmt.Sprintf(c, "US"))
	if ts.bid(banner("i1", "", 0)) == nil {
		t.Fatalf("no bid in the USA for a campaign targeting US")
	}
	ts.campaigns(fmt.Sprintf(c, "CA"))
	if ts.bid(banner("i2", "", 0)) != nil {
		t.Errorf("bid in the USA after retargeting to Canada")
	}
	if code, _ := ts.do("DELETE", "/v1/campaigns/x", "", ""); code != 200 {
		t.Fatalf("DELETE = %d", code)
	}
	req := banner("i3", "", 0)
	req.Device.Geo.Country = "CAN"
	if ts.bid(req) != nil {
		t.Errorf("bid from a deleted campaign")
	}
}

// TestNoBidReasonsBeforeTargeting: a request refused for its seat or its
// currency reports that, not targeting.
func TestNoBidReasonsBeforeTargeting(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns(`[{"id":"any","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},"pacing":"asap",
	 "bid":{"strategy":"cpm","max_cpm":4},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}]`)
	req := banner("s1", "", 0)
	req.BSeat = []string{"tailor"}
	if resp := ts.bid(req); resp != nil {
		t.Fatalf("a blocked seat bid: %+v", resp.SeatBid)
	}
	req = banner("c1", "", 0)
	req.Cur = []string{"XYZ"}
	if resp := ts.bid(req); resp != nil {
		t.Fatalf("an unknown currency bid: %+v", resp.SeatBid)
	}
	for _, reason := range []string{"seat", "currency"} {
		if n := ts.counter("tailor_bid_nobids_total", "reason", reason); n != 1 {
			t.Errorf("no-bids for %s = %v, want 1", reason, n)
		}
	}
	if n := ts.counter("tailor_bid_nobids_total", "reason", "targeting"); n != 0 {
		t.Errorf("no-bids for targeting = %v, want 0", n)
	}
}
