package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prebid/openrtb/v20/adcom1"
	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/internal/synth"
	"github.com/tailor-dev/tailor/ledger"
)

// The bid benchmarks' world: TAILOR_BENCH_BID_ITEMS items, TAILOR_BENCH_BID_USERS
// users and TAILOR_BENCH_CAMPAIGNS campaigns (by default 20,000 items and
// 5,000 users, or the smaller TAILOR_BENCH_ITEMS and TAILOR_BENCH_USERS, and
// 10,000 campaigns).
var (
	benchBidItems  = envInt("TAILOR_BENCH_BID_ITEMS", min(benchItems, 20000))
	benchBidUsers  = envInt("TAILOR_BENCH_BID_USERS", min(benchUsers, 5000))
	benchCampaigns = envInt("TAILOR_BENCH_CAMPAIGNS", 10000)
)

var benchSizes = [][2]int{{300, 250}, {728, 90}, {320, 50}, {160, 600}, {300, 600}}

// benchCampaign draws campaign c of a world: an advertiser of the catalog
// buying the categories it sells in, by interest, keywords, country, device
// and lifecycle stage; three in ten sell their own items.
func benchCampaign(w *synth.World, c int) campaign.Campaign {
	r := rand.New(rand.NewPCG(uint64(c), 7))
	it := &w.Items[r.IntN(len(w.Items))]
	domain := strings.ToLower(strings.ReplaceAll(it.Brand, " ", "")) + ".example"
	out := campaign.Campaign{
		ID: fmt.Sprintf("c%06d", c), Advertiser: it.Brand, ADomain: []string{domain}, Pacing: "even",
		Budget: campaign.Budget{Daily: 1e6, Currency: "USD"},
	}
	if r.IntN(5) == 0 {
		out.Pacing = "asap"
	}
	maxCPM := float64(50+r.IntN(750)) / 100
	out.Bid = campaign.BidSpec{Strategy: "cpm", MaxCPM: maxCPM}
	if r.IntN(2) == 0 {
		out.Bid = campaign.BidSpec{Strategy: "cpc", CPC: float64(20+r.IntN(180)) / 100, MaxCPM: maxCPM}
	}
	if r.Float64() < 0.6 {
		out.FrequencyCap = &campaign.FrequencyCap{Impressions: 3 + r.IntN(18), Per: "24h"}
	}
	t := &out.Targeting
	if r.Float64() < 0.7 {
		t.Interests = [][]string{it.Category[:1+r.IntN(len(it.Category))]}
	}
	if r.Float64() < 0.3 {
		terms := index.AppendTerms(nil, it.Title)
		t.Keywords = []string{terms[len(terms)-1]}
	}
	if r.Float64() < 0.5 {
		t.Countries = []string{[]string{"USA", "GBR", "DEU", "FRA", "JPN", "CAN"}[r.IntN(6)]}
	}
	if r.Float64() < 0.15 {
		t.DeviceTypes = campaign.DeviceTypes{[]string{"mobile", "desktop", "phone"}[r.IntN(3)]}
	}
	if r.Float64() < 0.1 {
		t.Segments = []string{[]string{"new", "active", "at_risk", "lapsed", "prospect"}[r.IntN(5)]}
	}
	if r.Float64() < 0.3 {
		for _, other := range w.Items[r.IntN(len(w.Items)-20):][:20] {
			out.Items = append(out.Items, other.ID)
		}
		out.Items = append(out.Items, it.ID)
		return out
	}
	for k, s := range r.Perm(len(benchSizes))[:1+r.IntN(3)] {
		wh := benchSizes[s]
		out.Creatives = append(out.Creatives, campaign.Creative{ID: fmt.Sprintf("cr%d", k), Format: "banner", W: wh[0], H: wh[1],
			Cat: []string{"IAB22"}, Adm: `<a href="https://` + domain + `/?b={{BID_ID}}"><img src="https://` + domain + `/b.png"></a>`})
	}
	return out
}

// benchBidRequest is request k: a site banner (or nImps of them) for a
// world user, on a page whose keywords come from one of their categories.
func benchBidRequest(w *synth.World, k, nImps int) []byte {
	r := rand.New(rand.NewPCG(uint64(k), 11))
	u := r.IntN(benchBidUsers)
	user := w.UserID(u)
	in := w.UserInterests(u)
	leaf := w.Categories[in[r.IntN(len(in))]]
	req := openrtb2.BidRequest{
		ID: fmt.Sprintf("bench-%d", k), AT: 1, TMax: 100, Cur: []string{"USD"},
		Site: &openrtb2.Site{Domain: "shop.example", Page: "https://shop.example/" + strings.ToLower(leaf[1]),
			Keywords: strings.ToLower(leaf[2])},
		Device: &openrtb2.Device{DeviceType: []adcom1.DeviceType{2, 4, 5}[r.IntN(3)], OS: []string{"Windows", "iOS", "Android"}[r.IntN(3)],
			Geo: &openrtb2.Geo{Country: []string{"USA", "GBR", "DEU", "FRA", "JPN", "CAN"}[r.IntN(6)]}},
		User: &openrtb2.User{ID: user, BuyerUID: user},
	}
	for i := 0; i < nImps; i++ {
		wh := benchSizes[r.IntN(len(benchSizes))]
		bw, bh := int64(wh[0]), int64(wh[1])
		req.Imp = append(req.Imp, openrtb2.Imp{ID: fmt.Sprint(i + 1), Banner: &openrtb2.Banner{W: &bw, H: &bh},
			BidFloor: float64(5+r.IntN(150)) / 100, BidFloorCur: "USD", Secure: openrtb2.Int8Ptr(1)})
	}
	b, err := json.Marshal(&req)
	if err != nil {
		panic(err)
	}
	return b
}

// loadBidWorld loads a generated world and its campaigns into a server.
func loadBidWorld(b *testing.B, mod func(*Options)) (*Server, *synth.World) {
	b.Helper()
	w := synth.New(synth.Options{Items: benchBidItems, Users: benchBidUsers, Seed: 1})
	now := w.Start.AddDate(0, 0, w.Days).Add(12 * time.Hour)
	opts := bidOptions(b, mod)
	opts.Service.Now = func() time.Time { return now }
	opts.Service.Logger = log.New(io.Discard, "", 0)
	opts.Service.Storage.MinFreeBytes = -1
	srv, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	items := make([]index.Item, 0, len(w.Items))
	for _, it := range w.Items {
		avail := it.Available
		items = append(items, index.Item{ID: it.ID, Title: it.Title, Category: it.Category, Brand: it.Brand, Tags: it.Tags, Price: it.Price, Available: &avail})
	}
	if err := srv.UpsertItems(items); err != nil {
		b.Fatal(err)
	}
	events := make([]features.Event, 0, 1000)
	flush := func() {
		if _, err := srv.svc.Ingest(events); err != nil {
			b.Fatal(err)
		}
		events = events[:0]
	}
	if err := w.EachEvent(func(e synth.Event) error {
		events = append(events, toEvent(e))
		if len(events) == cap(events) {
			flush()
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	flush()
	camps := make([]campaign.Campaign, benchCampaigns)
	for c := range camps {
		camps[c] = benchCampaign(w, c)
	}
	if err := srv.UpsertCampaigns(camps); err != nil {
		b.Fatal(err)
	}
	return srv, w
}

// benchBid runs the bid handler in process (decode, privacy, profile,
// targeting, auction, budget reservation, encode) over 1,000 requests. With
// shared, the campaigns' budgets are shared through a bank (a Pebble one,
// in process), as on the nodes of a cluster: bids reserve against leases.
func benchBid(b *testing.B, nImps int, shared bool) {
	var mod func(*Options)
	if shared {
		db, err := kv.Open(b.TempDir(), kv.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		bk, err := bank.NewPebble(db, nil)
		if err != nil {
			b.Fatal(err)
		}
		mod = func(o *Options) {
			o.Service.Bidding.Ledger.Shared = ledger.SharedOptions{Bank: bk, Node: "bench"}
		}
	}
	srv, w := loadBidWorld(b, mod)
	h := srv.Handler()
	bodies := make([][]byte, 1000)
	for k := range bodies {
		bodies[k] = benchBidRequest(w, k, nImps)
	}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/openrtb2/bid")
	ctx.Init(&req, nil, nil)
	bids := 0
	run := func(i int) {
		ctx.Request.SetBody(bodies[i%len(bodies)])
		ctx.Response.Reset()
		h(&ctx)
		switch ctx.Response.StatusCode() {
		case 200:
			bids++
		case 204:
		default:
			b.Fatalf("bid = %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	for i := range bodies { // warm the profile cache and the pools
		run(i)
	}
	if shared { // lease every campaign's budget the warm-up bid for, and warm again
		if err := srv.svc.Ledger().Refill(context.Background()); err != nil {
			b.Fatal(err)
		}
		for i := range bodies {
			run(i)
		}
	}
	bids = 0
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		run(i)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(bids)/float64(b.N), "bids/op")
	lat.report(b)
}

// BenchmarkBid measures the bid handler against 10,000 active campaigns.
func BenchmarkBid(b *testing.B) {
	b.Run("1imp", func(b *testing.B) { benchBid(b, 1, false) })
	b.Run("3imp", func(b *testing.B) { benchBid(b, 3, false) })
	b.Run("1imp-shared-budgets", func(b *testing.B) { benchBid(b, 1, true) })
}
