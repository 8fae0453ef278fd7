package synth

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/prebid/openrtb/v20/adcom1"
	"github.com/prebid/openrtb/v20/openrtb2"
)

// RecommendRequest is a body of POST /v1/recommend.
type RecommendRequest struct {
	User    string            `json:"user,omitempty"`
	N       int               `json:"n,omitempty"`
	Context *RecommendContext `json:"context,omitempty"`
	Exclude []string          `json:"exclude,omitempty"`
	Filter  *RecommendFilter  `json:"filter,omitempty"`
}

// RecommendContext is the page a recommendation slot is on.
type RecommendContext struct {
	Item     string   `json:"item,omitempty"`
	Query    string   `json:"query,omitempty"`
	Category []string `json:"category,omitempty"`
}

// RecommendFilter restricts the recommended items.
type RecommendFilter struct {
	Category []string `json:"category,omitempty"`
}

// Shares of the request kinds; see Recommend, LiveEvents and BidRequest.
const (
	unknownUserShare = 0.05 // requests for users not in the world
	anonymousShare   = 0.10 // recommend requests without a user
	noUserBidShare   = 0.15 // bid requests without a user id
)

// requestUser draws the user of a request: a world user (uniformly), or
// about one time in twenty a user the world never generated ("n000042").
func (w *World) requestUser(r *rand.Rand) (id string, u int) {
	if r.Float64() < unknownUserShare {
		return fmt.Sprintf("n%06d", r.IntN(1000000)), -1
	}
	u = r.IntN(w.Users)
	return w.UserID(u), u
}

// interestLeaf draws one of user u's preferred leaves, or any leaf (by
// size) for u < 0.
func (w *World) interestLeaf(r *rand.Rand, u int) int {
	if u >= 0 {
		in := w.UserInterests(u)
		return in[r.IntN(len(in))]
	}
	return int(w.itemLeaf[r.IntN(len(w.itemLeaf))])
}

// Recommend returns recommend request k, a pure function of the options and
// k. The requests model a shop's slots: the home page (45%: the user and n
// 10), a product page (25%: a popular item of one of the user's categories
// as context, the item before it excluded), a search page (10%: a query as
// context), a category page (10%: a filter on a middle category, n 20), and
// an anonymous visitor on a product page (10%).
func (w *World) Recommend(k int) RecommendRequest {
	r := newRand(w.Seed, streamRecommend, uint64(k))
	if r.Float64() < anonymousShare {
		l := w.interestLeaf(r, -1)
		req := RecommendRequest{N: 8}
		if i := w.PopularItem(r, l); i >= 0 {
			req.Context = &RecommendContext{Item: w.Items[i].ID}
		}
		return req
	}
	user, u := w.requestUser(r)
	l := w.interestLeaf(r, u)
	req := RecommendRequest{User: user, N: 10}
	switch x := r.Float64() * (1 - anonymousShare); {
	case x < 0.45:
	case x < 0.70:
		req.N = 8
		if i := w.PopularItem(r, l); i >= 0 {
			req.Context = &RecommendContext{Item: w.Items[i].ID}
			if j := w.PopularItem(r, l); j >= 0 && j != i {
				req.Exclude = []string{w.Items[j].ID}
			}
		}
	case x < 0.80:
		req.Context = &RecommendContext{Query: w.query(r, l)}
	default:
		req.N = 20
		req.Filter = &RecommendFilter{Category: w.Categories[l][:2]}
	}
	return req
}

// LiveEvents returns event batch k: one visit of one user, a POST
// /v1/events body of 1-9 events (a search in 40% of visits, 1-3 views of
// popular items of the user's categories, sometimes a click, a cart or a
// purchase). The events have no time stamp (the server stamps them on
// arrival) and ids "live-K-J", unique to the batch and event; Session is
// "live-K".
func (w *World) LiveEvents(k int) []Event {
	r := newRand(w.Seed, streamLive, uint64(k))
	user, u := w.requestUser(r)
	l := w.interestLeaf(r, u)
	session := "live-" + strconv.Itoa(k)
	var evs []Event
	add := func(e Event) {
		e.ID = session + "-" + strconv.Itoa(len(evs))
		e.User, e.Session = user, session
		evs = append(evs, e)
	}
	if r.Float64() < 0.4 {
		add(Event{Type: Search, Query: w.query(r, l)})
	}
	last := -1
	for range 1 + r.IntN(3) {
		i := w.PopularItem(r, l)
		if i < 0 {
			continue
		}
		if r.Float64() < clickShare {
			add(Event{Type: Click, Item: w.Items[i].ID})
		}
		add(Event{Type: View, Item: w.Items[i].ID})
		last = i
	}
	if last >= 0 && w.Items[last].Available && r.Float64() < cartShare {
		it := &w.Items[last]
		add(Event{Type: Cart, Item: it.ID})
		if r.Float64() < buyShare {
			add(Event{Type: Purchase, Item: it.ID, Amount: it.Price})
		}
	}
	if len(evs) == 0 { // tiny catalogs
		add(Event{Type: Search, Query: w.query(r, l)})
	}
	return evs
}

// publisher is a site or an app that sells ad space.
type publisher struct {
	name, domain string
	top          string // top-level category of its content, "" for general
	cat          string // IAB category
	app          bool
}

var publishers = []publisher{
	{"Trail News", "trailnews.example", "Sports", "IAB17", false},
	{"Kitchen Journal", "kitchenjournal.example", "Home", "IAB10", false},
	{"Gadget Daily", "gadgetdaily.example", "Electronics", "IAB19", false},
	{"Reading List", "readinglist.example", "Books", "IAB1-1", false},
	{"Glow Guide", "glowguide.example", "Beauty", "IAB18-1", false},
	{"Parent Nest", "parentnest.example", "Baby", "IAB6-1", false},
	{"Style Wire", "stylewire.example", "Fashion", "IAB18", false},
	{"Pantry Tales", "pantrytales.example", "Grocery", "IAB8", false},
	{"Daily Herald", "dailyherald.example", "", "IAB12", false},
	{"Weatherly", "weatherly.example", "", "IAB15-10", false},
	{"Run Tracker", "com.example.runtracker", "Sports", "IAB17", true},
	{"Recipe Box", "com.example.recipebox", "Grocery", "IAB8", true},
	{"Puzzle Quest", "com.example.puzzlequest", "", "IAB9-30", true},
	{"News Feed", "com.example.newsfeed", "", "IAB12", true},
	{"Shop Now", "com.example.shopnow", "Fashion", "IAB18", true},
}

// devices are the device profiles of bid requests, with their shares.
var devices = []struct {
	share  float64
	typ    adcom1.DeviceType
	os     string
	osv    string
	make   string
	model  string
	ua     string
	mobile bool
}{
	{0.30, adcom1.DevicePhone, "Android", "14", "Samsung", "SM-S918B", "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", true},
	{0.25, adcom1.DevicePhone, "iOS", "17.4", "Apple", "iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", true},
	{0.22, adcom1.DevicePC, "Windows", "10", "", "", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", false},
	{0.13, adcom1.DevicePC, "macOS", "14.4", "Apple", "Macintosh", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", false},
	{0.10, adcom1.DeviceTablet, "iOS", "17.4", "Apple", "iPad", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", true},
}

// BidRequest returns OpenRTB 2.6 bid request k, a pure function of the
// options and k. It comes from a site (about two thirds) or an app with a
// content category, offers 1-3 banner imps (80% one) with floors between
// 0.05 and 2 USD (some in EUR), and carries a device with its type, OS,
// user agent and country. 85% name a user (user.id and user.buyeruid, the
// same id as the recommend API's; some unknown to the world). The
// publisher's content matches one of that user's categories 60% of the
// time. Privacy signals: COPPA on 2%, GDPR applying without a consent string
// on half of the European traffic, a US privacy opt-out on 5% of US
// traffic. About a fifth block categories, 5% block one advertiser.
// Request k has ID "bid-K" and source.tid "tid-K".
func (w *World) BidRequest(k int) *openrtb2.BidRequest {
	r := newRand(w.Seed, streamBids, uint64(k))
	req := &openrtb2.BidRequest{
		ID:     "bid-" + strconv.Itoa(k),
		AT:     1,
		TMax:   []int64{100, 100, 100, 120, 150, 80}[r.IntN(6)],
		Cur:    []string{"USD"},
		Source: &openrtb2.Source{TID: "tid-" + strconv.Itoa(k)},
	}
	if r.Float64() < 0.2 {
		req.AT = 2
	}

	// The user, and the content they are looking at.
	var user string
	u := -1
	if r.Float64() >= noUserBidShare {
		user, u = w.requestUser(r)
	}
	l := w.interestLeaf(r, u)
	pub := publishers[r.IntN(len(publishers))]
	if r.Float64() < 0.6 {
		top := w.Categories[l][0]
		var match []publisher
		for _, p := range publishers {
			if p.top == top {
				match = append(match, p)
			}
		}
		if len(match) > 0 {
			pub = match[r.IntN(len(match))]
		}
	}
	lf := &w.leaves[l]
	keywords := lf.lowerNoun + "," + lf.tags[r.IntN(len(lf.tags))]
	p := &openrtb2.Publisher{ID: "pub-" + pub.domain, Name: pub.name}
	if pub.app {
		req.App = &openrtb2.App{
			ID: "app-" + pub.domain, Name: pub.name, Bundle: pub.domain,
			StoreURL:  "https://play.example/store/apps/details?id=" + pub.domain,
			Cat:       []string{pub.cat},
			Publisher: p, Keywords: keywords,
		}
	} else {
		slug := strings.ReplaceAll(strings.ToLower(w.Categories[l][2]), " ", "-")
		req.Site = &openrtb2.Site{
			ID: "site-" + pub.domain, Name: pub.name, Domain: pub.domain,
			Page:      fmt.Sprintf("https://%s/%s/%d", pub.domain, slug, r.IntN(10000)),
			Ref:       "https://search.example/?q=" + strings.ReplaceAll(lf.lowerNoun, " ", "+"),
			Cat:       []string{pub.cat},
			Publisher: p, Keywords: keywords,
		}
	}

	// The device and where it is.
	d := devices[len(devices)-1]
	for x, i := r.Float64(), 0; i < len(devices); i++ {
		if x -= devices[i].share; x < 0 {
			d = devices[i]
			break
		}
	}
	c := countries[len(countries)-1]
	for x, i := r.Float64(), 0; i < len(countries); i++ {
		if x -= countries[i].share; x < 0 {
			c = countries[i]
			break
		}
	}
	req.Device = &openrtb2.Device{
		UA: d.ua, DeviceType: d.typ, OS: d.os, OSV: d.osv, Make: d.make, Model: d.model,
		IP:       fmt.Sprintf("203.0.113.%d", 1+r.IntN(254)),
		Language: "en",
		Geo:      &openrtb2.Geo{Country: c.code, Type: adcom1.LocationIP},
	}
	if pub.app {
		req.Device.IFA = fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), r.Uint64()&(1<<48-1))
	}

	// The imps.
	nImps := 1
	if x := r.Float64(); x < 0.05 {
		nImps = 3
	} else if x < 0.2 {
		nImps = 2
	}
	for i := range nImps {
		size := bannerSizes[r.IntN(len(bannerSizes))]
		if d.mobile && r.IntN(2) == 0 {
			size = [2]int{320, 50}
		}
		bw, bh := int64(size[0]), int64(size[1])
		imp := openrtb2.Imp{
			ID:          strconv.Itoa(i + 1),
			TagID:       fmt.Sprintf("slot-%dx%d", bw, bh),
			Banner:      &openrtb2.Banner{W: &bw, H: &bh, Format: []openrtb2.Format{{W: bw, H: bh}}},
			BidFloor:    cents(0.05 + 1.95*r.Float64()*r.Float64()),
			BidFloorCur: "USD",
			Secure:      openrtb2.Int8Ptr(1),
		}
		if c.eu && r.IntN(2) == 0 {
			imp.BidFloorCur = "EUR"
		}
		req.Imp = append(req.Imp, imp)
	}

	// Blocks and privacy.
	if r.Float64() < 0.2 {
		req.BCat = []string{"IAB25", "IAB26"}
		if r.IntN(4) == 0 {
			req.BCat = append(req.BCat, iabCategory[w.Categories[r.IntN(len(w.Categories))][0]])
		}
	}
	if r.Float64() < 0.05 {
		req.BAdv = []string{strings.ToLower(w.Brands[r.IntN(len(w.Brands))]) + ".example"}
	}
	var regs openrtb2.Regs
	if r.Float64() < 0.02 {
		regs.COPPA = 1
	}
	if c.eu {
		regs.GDPR = openrtb2.Int8Ptr(int8(r.IntN(2)))
	}
	if c.code == "USA" {
		regs.USPrivacy = "1YNN"
		if r.Float64() < 0.05 {
			regs.USPrivacy = "1YYN"
		}
	}
	if regs.COPPA != 0 || regs.GDPR != nil || regs.USPrivacy != "" {
		req.Regs = &regs
	}
	if user != "" {
		req.User = &openrtb2.User{ID: user, BuyerUID: user}
	}
	return req
}

// WriteRecommendNDJSON writes recommend requests 0..n-1 to out, one JSON
// body per line.
func (w *World) WriteRecommendNDJSON(out io.Writer, n int) error {
	return writeLines(out, n, w.Recommend)
}

// WriteLiveEventsNDJSON writes event batches 0..n-1 to out, one JSON array
// (a POST /v1/events body) per line.
func (w *World) WriteLiveEventsNDJSON(out io.Writer, n int) error {
	return writeLines(out, n, w.LiveEvents)
}

// WriteBidRequestsNDJSON writes bid requests 0..n-1 to out, one JSON
// OpenRTB request per line.
func (w *World) WriteBidRequestsNDJSON(out io.Writer, n int) error {
	return writeLines(out, n, w.BidRequest)
}
