package server

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prebid/openrtb/v20/openrtb2"
)

// flatCampaign is a CPM campaign on every 300x250 banner.
func flatCampaign(id string, maxCPM float64, budget string, extra string) string {
	return fmt.Sprintf(`{"id":%q,"advertiser":"A","adomain":["%s.example"],"budget":%s,
	 "bid":{"strategy":"cpm","max_cpm":%v}%s,
	 "creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"<b>ad</b>"}]}`, id, id, budget, maxCPM, extra)
}

func TestNoticesAreIdempotent(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns("[" + flatCampaign("n", 5, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap"`) + "]")
	req := banner("auction-1", "u1", 1)
	b := onlyBid(t, ts.bid(req))
	if st := ts.stats("n"); st.Bids != 1 || st.Reserved != 0.005 {
		t.Errorf("after a bid: %+v, want 1 bid holding 0.005 (a 5 CPM impression)", st)
	}
	ts.mustNotice(b.NURL, req, "1", "4.2", "applied")
	ts.mustNotice(b.NURL, req, "1", "4.2", "duplicate")
	if st := ts.stats("n"); st.Wins != 1 || st.Reserved != 0.0042 || st.Spend != 0 {
		t.Errorf("after the win: %+v, want 1 win, 0.0042 held, nothing spent", st)
	}
	ts.mustNotice(b.BURL, req, "1", "4.2", "applied")
	ts.mustNotice(b.BURL, req, "1", "4.2", "duplicate")
	ts.mustNotice(b.BURL, req, "1", "3", "duplicate")
	st := ts.stats("n")
	if st.Impressions != 1 || st.Spend != 0.0042 || st.SpendToday != 0.0042 || st.Reserved != 0 || st.Wins != 1 {
		t.Errorf("after billing: %+v, want 1 impression, 0.0042 spent, nothing held", st)
	}
	// A loss after the billing cannot undo it: a conflict, nothing changes.
	ts.mustNotice(b.LURL, req, "1", "", "conflict")
	ts.mustNotice(b.LURL, req, "1", "", "conflict")
	if st := ts.stats("n"); st.Losses != 0 || st.Spend != 0.0042 || st.Wins != 1 {
		t.Errorf("after a late loss: %+v, want no loss, the spend and the win kept", st)
	}
	if got := ts.counter("tailor_spend_micros_total", "currency", "USD"); got != 4200 {
		t.Errorf("spend metric = %v micros, want 4200", got)
	}

	// Billing without a win: books the win too; the price macro left as is
	// charges the bid; a price above the bid, or one that is not a price, is
	// refused and charges nothing.
	req = banner("auction-2", "u1", 1)
	b = onlyBid(t, ts.bid(req))
	ts.mustNotice(b.BURL, req, "1", "", "applied")
	ts.mustNotice(b.NURL, req, "1", "", "duplicate")
	st = ts.stats("n")
	if st.Wins != 2 || st.Impressions != 2 || math.Abs(st.Spend-0.0092) > 1e-9 {
		t.Errorf("after a billing with the macro unfilled: %+v, want 2 wins, 0.0092 spent", st)
	}
	req = banner("auction-3", "u1", 1)
	b = onlyBid(t, ts.bid(req))
	for _, p := range []string{"9.99", "-5", "NaN", "abc", "Inf", "1e308"} {
		if code, out := ts.notice(b.BURL, req, "1", p); code != 400 || !strings.Contains(out, `"field":"p"`) {
			t.Errorf("billing with p=%s = %d %s, want 400 naming p", p, code, out)
		}
	}
	ts.mustNotice(b.BURL, req, "1", "5", "applied")
	if st := ts.stats("n"); math.Abs(st.Spend-0.0142) > 1e-9 {
		t.Errorf("after refused prices and a billing at the bid: %v spent in all, want 0.0142", st.Spend)
	}

	// A forged token, or one used for another auction, is refused.
	req = banner("auction-4", "u1", 1)
	b = onlyBid(t, ts.bid(req))
	forged := strings.Replace(b.BURL, "t=", "t=A", 1)
	if code, out := ts.notice(forged, req, "1", "1"); code != 400 || !strings.Contains(out, "invalid_notice") {
		t.Errorf("forged token = %d %s, want 400 invalid_notice", code, out)
	}
	other := *req
	other.ID = "auction-other"
	if code, _ := ts.notice(b.BURL, &other, "1", "1"); code != 400 {
		t.Errorf("token replayed for another auction = %d, want 400", code)
	}
	if code, _ := ts.do("GET", "/openrtb2/billing", "", ""); code != 400 {
		t.Errorf("notice without a token = %d, want 400", code)
	}
	if st := ts.stats("n"); st.Impressions != 3 {
		t.Errorf("refused notices changed the counters: %+v", st)
	}
	if code, _ := ts.do("DELETE", "/openrtb2/win", "", ""); code != 405 {
		t.Errorf("DELETE /openrtb2/win = %d, want 405", code)
	}
}

func TestTestRequestsAreNeverCharged(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns("[" + flatCampaign("t", 5, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap"`) + "]")
	req := banner("test-1", "u1", 0)
	req.Test = 1
	b := onlyBid(t, ts.bid(req))
	ts.mustNotice(b.NURL, req, "1", "5", "test")
	ts.mustNotice(b.BURL, req, "1", "5", "test")
	if st := ts.stats("t"); st.Bids != 0 || st.Wins != 0 || st.Impressions != 0 || st.Spend != 0 || st.Reserved != 0 {
		t.Errorf("a test request touched the money: %+v", st)
	}
}

func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	ts := newBidServer(t, nil)
	// 5 CPM: an impression costs 0.005; 0.1 buys exactly 20.
	ts.campaigns("[" + flatCampaign("b", 5, `{"total":0.1,"currency":"USD"}`, `,"pacing":"asap"`) + "]")
	const clients = 8
	var won, sent atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				req := banner(fmt.Sprintf("c%d-%d", c, i), fmt.Sprintf("u%d", c), 0)
				body, _ := jsonMarshal(req)
				code, out := ts.rawBid(body)
				sent.Add(1)
				if code == 204 {
					continue
				}
				resp := decodeResponse(t, code, out)
				if resp == nil {
					return
				}
				b := &resp.SeatBid[0].Bid[0]
				won.Add(1)
				// Alternate: bill half the bids at their price, lose the
				// others, so that budget keeps coming back.
				u := b.BURL
				if i%2 == 1 {
					u = b.LURL
				}
				if code, out := ts.notice(u, req, "1", "5"); code != 200 {
					t.Errorf("notice = %d %s", code, out)
				}
			}
		}(c)
	}
	wg.Wait()
	st := ts.stats("b")
	if st.Spend > 0.1+1e-9 {
		t.Errorf("spent %v of a 0.1 budget", st.Spend)
	}
	if st.Impressions != 20 || math.Abs(st.Spend-0.1) > 1e-9 {
		t.Errorf("%d impressions for %v, want all 20 the budget buys (%d bids of %d requests)", st.Impressions, st.Spend, won.Load(), sent.Load())
	}
	if st.Reserved != 0 || st.Pacing.State != "exhausted" {
		t.Errorf("stats %+v, want nothing held and the budget exhausted", st)
	}
	if resp := ts.bid(banner("after", "u", 0)); resp != nil {
		t.Errorf("bid with the budget spent")
	}
}

func TestReservationsHoldAndExpire(t *testing.T) {
	ts := newBidServer(t, nil)
	// 0.01 buys two 5 CPM impressions.
	ts.campaigns("[" + flatCampaign("r", 5, `{"total":0.01,"currency":"USD"}`, `,"pacing":"asap"`) + "]")
	for i := 0; i < 2; i++ {
		if ts.bid(banner(fmt.Sprintf("r%d", i), "", 0)) == nil {
			t.Fatalf("bid %d: no bid with budget left", i)
		}
	}
	// Both impressions are promised: no third bid, though nothing is spent.
	if ts.bid(banner("r2", "", 0)) != nil {
		t.Errorf("a third bid while two hold the whole budget")
	}
	if n := ts.counter("tailor_bid_nobids_total", "reason", "budget"); n != 1 {
		t.Errorf("no-bids for budget = %v, want 1", n)
	}
	// Unanswered bids give their budget back after the reservation timeout.
	ts.clock.Advance(3 * time.Minute)
	if ts.bid(banner("r3", "", 0)) == nil {
		t.Errorf("no bid after the reservations expired")
	}
}

func TestFrequencyCap(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns("[" + flatCampaign("f", 5, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap","frequency_cap":{"impressions":2,"per":"24h"}`) + "]")
	for i := 0; i < 2; i++ {
		req := banner(fmt.Sprintf("f%d", i), "capped", 0)
		b := onlyBid(t, ts.bid(req))
		ts.mustNotice(b.BURL, req, "1", "5", "applied")
	}
	if resp := ts.bid(banner("f2", "capped", 0)); resp != nil {
		t.Errorf("a third impression within 24h: %+v", resp.SeatBid)
	}
	if ts.counter("tailor_bid_nobids_total", "reason", "frequency") != 1 {
		t.Errorf("the no-bid was not counted as frequency")
	}
	// Another user is not capped; a user without an id cannot be capped, so
	// the campaign stays out.
	if ts.bid(banner("f3", "other", 0)) == nil {
		t.Errorf("another user got no bid")
	}
	if ts.bid(banner("f4", "", 0)) != nil {
		t.Errorf("a capped campaign bid for a request without a user")
	}
	// Wins that are not billed do not count: only impressions do.
	req := banner("f5", "winner", 0)
	b := onlyBid(t, ts.bid(req))
	ts.mustNotice(b.NURL, req, "1", "5", "applied")
	req = banner("f6", "winner", 0)
	b = onlyBid(t, ts.bid(req))
	ts.mustNotice(b.NURL, req, "1", "5", "applied")
	if ts.bid(banner("f7", "winner", 0)) == nil {
		t.Errorf("won but unbilled bids counted toward the cap")
	}
	// One request with two imps: the cap counts the first bid.
	two := banner("f8", "twice", 0)
	two.Imp = append(two.Imp, two.Imp[0])
	two.Imp[1].ID = "2"
	ts.campaigns("[" + flatCampaign("f", 5, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap","frequency_cap":{"impressions":1,"per":"24h"}`) + "]")
	if resp := ts.bid(two); resp == nil || len(resp.SeatBid[0].Bid) != 1 {
		t.Errorf("two imps for a user capped at one: %+v, want one bid", resp)
	}
	// The window passes.
	ts.clock.Advance(25 * time.Hour)
	if ts.bid(banner("f9", "capped", 0)) == nil {
		t.Errorf("still capped after the window")
	}
}

func TestEvenPacing(t *testing.T) {
	c := newClock()
	c.ms.Store(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC).UnixMilli()) // a quarter into the day
	ts := startServer(t, t.TempDir(), c, bidOptions(t, nil))
	// 10 a day at 5 CPM: 2000 impressions; by 06:00 the line allows 2.5 (500
	// impressions) plus a slack of 10/48.
	ts.campaigns("[" + flatCampaign("e", 5, `{"daily":10,"currency":"USD"}`, `,"pacing":"even"`) + "]")
	billed := 0
	for i := 0; i < 800; i++ {
		req := banner(fmt.Sprintf("e%d", i), "", 0)
		resp := ts.bid(req)
		if resp == nil {
			continue
		}
		ts.mustNotice(onlyBid(t, resp).BURL, req, "1", "5", "applied")
		billed++
	}
	st := ts.stats("e")
	limit := 2.5 + 10.0/48
	if st.SpendToday > limit+0.005 || st.SpendToday < 2.5 {
		t.Errorf("at 06:00 spent %v of 10, want 2.5 to %v", st.SpendToday, limit)
	}
	if st.Pacing.State != "ahead" {
		t.Errorf("pacing state %q, want ahead", st.Pacing.State)
	}
	if ts.counter("tailor_bid_nobids_total", "reason", "pacing") == 0 {
		t.Errorf("no no-bid counted as pacing")
	}
	// Six hours later the line has moved on: bidding resumes.
	c.Advance(6 * time.Hour)
	if ts.bid(banner("later", "", 0)) == nil {
		t.Errorf("no bid at noon with half the budget unspent")
	}
	// A new day starts from nothing.
	c.Advance(14 * time.Hour)
	if st := ts.stats("e"); st.SpendToday != 0 || st.Spend < 2.5 {
		t.Errorf("the next day: %+v, want nothing spent today and the total kept", st)
	}
}

func TestMoneySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ts := startServer(t, dir, c, bidOptions(t, nil))
	ts.campaigns("[" + flatCampaign("m", 5, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap","frequency_cap":{"impressions":1,"per":"24h"}`) + "]")
	req := banner("m1", "keeper", 0)
	b := onlyBid(t, ts.bid(req))
	ts.mustNotice(b.BURL, req, "1", "4", "applied")
	ts.stop()

	ts = startServer(t, dir, c, bidOptions(t, nil))
	st := ts.stats("m")
	if st.Impressions != 1 || st.Spend != 0.004 || st.Bids != 1 || st.Wins != 1 {
		t.Errorf("after a restart: %+v, want the impression, spend and counts kept", st)
	}
	ts.mustNotice(b.BURL, req, "1", "4", "duplicate")
	if ts.bid(banner("m2", "keeper", 0)) != nil {
		t.Errorf("the frequency cap was forgotten across a restart")
	}
}

// TestSponsoredProducts: a sponsored-product campaign's ad is the user's
// best of its items the catalog holds, available and not bought; an item
// the catalog gets after the campaign is a candidate at once.
func TestSponsoredProducts(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.shoppers()
	// Neither item can be shown yet: gone-1 is not available, later-1 not in
	// the catalog.
	ts.campaigns(`[{"id":"late","advertiser":"Fellstride","adomain":["fellstride.example"],
	 "budget":{"daily":50,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpm","max_cpm":5},
	 "targeting":{"interests":[["Sports"]]},"items":["gone-1","later-1"]}]`)
	if resp := ts.bid(banner("late1", "runner", 0.1)); resp != nil {
		t.Errorf("a campaign without an item to show bid: %+v", resp.SeatBid)
	}
	ts.mustPost("/v1/items", `[{"id":"later-1","title":"Trail Racing Shoes","category":["Sports","Running","Shoes"],"price":130}]`)
	if b := onlyBid(t, ts.bid(banner("late2", "runner", 0.1))); b.CrID != "sponsored:later-1" || !strings.Contains(b.AdM, "Trail Racing Shoes") {
		t.Errorf("after later-1 joined the catalog: crid %q adm %q, want later-1", b.CrID, b.AdM)
	}
	ts.campaigns(`[{"id":"late","advertiser":"Fellstride","adomain":["fellstride.example"],
	 "budget":{"daily":50,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpm","max_cpm":5},"status":"paused",
	 "targeting":{"interests":[["Sports"]]},"items":["gone-1","later-1"]}]`)
	ts.campaigns(`[{"id":"sp","advertiser":"Quickmere","adomain":["quickmere.example"],
	 "budget":{"daily":50,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpc","cpc":0.6,"max_cpm":5},
	 "targeting":{"interests":[["Sports"]]},
	 "items":["shoe-trail-2","run-jacket","shoe-cjk-1"]}]`)
	resp := ts.bid(banner("sp1", "runner", 0.1))
	b := onlyBid(t, resp)
	// The runner looked at trail shoes and searched for them: the trail shoe
	// is their best-ranked item of the campaign.
	if b.CrID != "sponsored:shoe-trail-2" || !strings.Contains(b.AdM, "Waterproof Trail Running Shoes") ||
		!strings.Contains(b.AdM, "width:300px;height:250px") {
		t.Errorf("sponsored bid crid %q adm %q, want the trail shoe at 300x250", b.CrID, b.AdM)
	}
	// Items the user bought are never advertised to them.
	ts.mustPost("/v1/events", "["+event("runner", "purchase", "shoe-trail-2", ts.clock.Stamp(0))+"]")
	b = onlyBid(t, ts.bid(banner("sp2", "runner", 0.1)))
	if b.CrID == "sponsored:shoe-trail-2" {
		t.Errorf("advertised an item the user bought")
	}
}

func TestDeals(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.campaigns("[" + flatCampaign("open", 9, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap"`) + "," +
		flatCampaign("dealer", 6, `{"daily":100,"currency":"USD"}`, `,"pacing":"asap","targeting":{"deals":["D1"]}`) + "]")
	withDeal := func(id string, private int8, wseat []string) *openrtb2.BidRequest {
		r := banner(id, "", 0.5)
		r.Imp[0].PMP = &openrtb2.PMP{PrivateAuction: private, Deals: []openrtb2.Deal{{ID: "D1", BidFloor: 4, AT: 3, WSeat: wseat}}}
		return r
	}
	b := onlyBid(t, ts.bid(withDeal("d1", 1, nil)))
	if b.CID != "dealer" || b.DealID != "D1" || b.Price != 4 {
		t.Errorf("private auction: %q deal %q price %v, want dealer through D1 at the fixed 4", b.CID, b.DealID, b.Price)
	}
	if resp := ts.bid(withDeal("d2", 1, []string{"another-seat"})); resp != nil {
		t.Errorf("a private deal for another seat: %+v", resp.SeatBid)
	}
	// Open auction: the open campaign's 9 beats the deal's 6.
	if b := onlyBid(t, ts.bid(withDeal("d3", 0, nil))); b.CID != "open" || b.DealID != "" {
		t.Errorf("open auction: %q deal %q, want open without a deal", b.CID, b.DealID)
	}
	// Several private deals: each has its own floor, and the campaign bids
	// through the one it targets even when another's floor is above its
	// maximum.
	two := banner("d5", "", 0.5)
	two.Imp[0].PMP = &openrtb2.PMP{PrivateAuction: 1, Deals: []openrtb2.Deal{{ID: "D1", BidFloor: 2}, {ID: "D9", BidFloor: 50}}}
	if b := onlyBid(t, ts.bid(two)); b.DealID != "D1" || b.Price < 2 || b.Price > 6 {
		t.Errorf("two private deals: deal %q price %v, want D1 between 2 and 6", b.DealID, b.Price)
	}
	// Without the deal, the deal campaign never bids.
	ts.campaigns("[" + flatCampaign("open", 9, `{"daily":100,"currency":"USD"}`, `,"status":"paused"`) + "]")
	if resp := ts.bid(banner("d4", "", 0.5)); resp != nil {
		t.Errorf("a deal-only campaign bid in the open auction: %+v", resp.SeatBid)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// decodeResponse decodes a 200 answer; anything else is an error (and nil).
func decodeResponse(t *testing.T, code int, out []byte) *openrtb2.BidResponse {
	var resp openrtb2.BidResponse
	if code != 200 {
		t.Errorf("bid = %d %s, want 200 or 204", code, out)
		return nil
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.SeatBid) != 1 || len(resp.SeatBid[0].Bid) != 1 {
		t.Errorf("bid response %s: %v", out, err)
		return nil
	}
	return &resp
}
