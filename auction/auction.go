package auction

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/deadline"
	"github.com/tailor-dev/tailor/internal/fnv"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/ranker"
)

// Rates converts money between currencies. The zero value knows only USD.
type Rates struct {
	perUSD map[string]float64
}

// NewRates returns the rates of a table of units of each currency one US
// dollar buys ({"EUR": 0.92}); USD is 1 unless the table says otherwise.
func NewRates(perUSD map[string]float64) (Rates, error) {
	r := Rates{perUSD: map[string]float64{"USD": 1}}
	for cur, v := range perUSD {
		if len(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' || cur[1] > 'Z' || cur[2] < 'A' || cur[2] > 'Z' {
			return Rates{}, fmt.Errorf("auction: currency %q is not an ISO 4217 code", cur)
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return Rates{}, fmt.Errorf("auction: rate of %s must be a positive number", cur)
		}
		r.perUSD[cur] = v
	}
	return r, nil
}

func (r Rates) rate(cur string) (float64, bool) {
	if r.perUSD == nil {
		return 1, cur == "USD"
	}
	v, ok := r.perUSD[cur]
	return v, ok
}

// Known reports whether cur can be converted.
func (r Rates) Known(cur string) bool {
	_, ok := r.rate(cur)
	return ok
}

// Factor returns what one unit of from is worth in to.
func (r Rates) Factor(from, to string) (float64, bool) {
	f, ok1 := r.rate(from)
	t, ok2 := r.rate(to)
	if !ok1 || !ok2 {
		return 0, false
	}
	return t / f, true
}

// CampaignValue is a campaign's largest possible bid in US dollars CPM, the
// order campaign.Options.Value wants; 0 for an unknown currency.
func (r Rates) CampaignValue(c *campaign.Live) float64 {
	f, ok := r.Factor(c.Currency, "USD")
	if !ok {
		return 0
	}
	return float64(c.MaxCPM) / 1e6 * f
}

// Options configures an Auction. Zero fields take their defaults.
type Options struct {
	// Rates converts floors and bids between currencies. Default: USD only.
	Rates Rates
	// Seat is the seat id the bidder bids as, checked against wseat and
	// bseat. Default "tailor".
	Seat string
	// Shade is the share of its value above the floor that a first-price
	// bid offers: price = floor + Shade*(value - floor). Default 0.7.
	Shade float64
	// StrongInterest is how strong an interest must be, relative to the
	// user's strongest category, for campaigns targeting that category (or
	// an ancestor) to match. Default 0.25.
	StrongInterest float64
	// Model predicts clicks. Default DefaultCTRModel.
	Model CTRModel
	// Searches is how many of the user's latest distinct searches are
	// matched against campaign keywords. Default 10.
	Searches int
	// Runners is how many of the best candidates of an imp are kept, so that
	// the next can bid when the best one's budget cannot take the price.
	// Fewer runners let the walk over candidates stop sooner. Default 2.
	Runners int
	// Items are the ranker's weights a sponsored product is scored with for
	// the user (see bestItem). Default ranker.DefaultWeights: the same
	// weights the recommendation ranker starts from.
	Items ranker.Weights
	// Node names the node of a cluster this auction bids for; its hash
	// takes the top 16 bits of every bid id, so that the nodes' bid ids do
	// not meet (a node applies the others' notices, and releases its own
	// reservations by bid id). Default "": bid ids count from the start
	// time in nanoseconds.
	Node string
}

func (o *Options) setDefaults() {
	if o.Items == (ranker.Weights{}) {
		o.Items = ranker.DefaultWeights
	}
	if o.Seat == "" {
		o.Seat = "tailor"
	}
	if o.Shade <= 0 || o.Shade > 1 {
		o.Shade = 0.7
	}
	if o.StrongInterest <= 0 || o.StrongInterest > 1 {
		o.StrongInterest = 0.25
	}
	if o.Model == nil {
		o.Model = DefaultCTRModel
	}
	if o.Searches <= 0 {
		o.Searches = 10
	}
	if o.Runners <= 0 {
		o.Runners = 2
	}
}

// Size is a width and height in pixels.
type Size struct{ W, H int }

// BannerSlot is what a banner imp accepts.
type BannerSlot struct {
	Sizes []Size   // offered sizes; empty: any that fits the device's screen
	Mimes []string // accepted MIME types, lowercase; empty: any
	BAttr []int    // blocked creative attributes
}

// MediaSlot is what a video or audio imp accepts.
type MediaSlot struct {
	Mimes   []string // lowercase; required
	MinDur  int      // seconds; 0 = no minimum
	MaxDur  int      // seconds; 0 = no maximum
	RqdDurs []int    // exact durations allowed, when set
	PodDur  int      // seconds the whole pod may last; 0 = no limit
	W, H    int      // player size, when known
	BAttr   []int
}

// NativeSlot is what a native imp accepts.
type NativeSlot struct {
	BAttr []int
}

// Deal is a private marketplace deal offered with an imp, already filtered
// to those open to our seat.
type Deal struct {
	ID       string
	Floor    float64
	FloorCur string // "" = the imp's
	AT       int    // 0 = the request's
}

// Imp is one impression of a bid request.
type Imp struct {
	ID           string
	Floor        float64 // CPM
	FloorCur     string  // "" = USD
	Secure       bool
	Interstitial bool
	Banner       *BannerSlot
	Video        *MediaSlot
	Audio        *MediaSlot
	Native       *NativeSlot
	Deals        []Deal
	Private      bool  // only through Deals
	Exp          int64 // seconds the impression may take to show; 0 = unknown
}

// BidRequest is what the auction needs of an OpenRTB bid request, as plain
// values. Strings may point into the request body: the auction keeps none
// beyond Run except in its result.
type BidRequest struct {
	ID   string
	Test bool
	AT   int      // 1 first price, 2 second price, 3 fixed price
	Cur  []string // acceptable currencies, in order of preference; empty = USD
	Imps []Imp
	// Profile is the user's profile, nil when there is none or privacy
	// rules forbid reading it. User is the id frequency caps count under,
	// "" under the same conditions.
	Profile  *features.Profile
	User     string
	Segments []string // the user's segments, as campaigns name them
	// Where the ad would show.
	Country    string // ISO 3166-1 alpha-3
	Region     string // ISO 3166-2
	DeviceType int
	OS         string // campaign.CanonicalOS
	Site       string // campaign.CanonicalDomain
	App        string // lowercase bundle
	DeviceW    int
	DeviceH    int
	PageTerms  []string // terms of the page's, app's and content's keywords
	// Blocks.
	BCat   []string
	ACat   []string
	CatTax int      // taxonomy of BCat and ACat; 0 = 1
	BAdv   []string // canonical domains
	BApp   []string // lowercase bundles
	WSeat  []string
	BSeat  []string
	// Now is the business clock: pacing, flights, hours of the week.
	Now      time.Time
	Deadline deadline.Deadline
}

// NoBidReason says why a request got no bid: the furthest stage any imp
// reached.
type NoBidReason uint8

// No-bid reasons, in the order of the stages of an auction.
const (
	NoBidNone NoBidReason = iota
	NoBidSeat
	NoBidCurrency
	NoBidTargeting
	NoBidCreative
	NoBidFrequency
	NoBidPacing
	NoBidBudget
	NoBidFloor
	NoBidDeadline
	NumNoBidReasons
)

var noBidNames = [NumNoBidReasons]string{"none", "seat", "currency", "targeting", "creative", "frequency", "pacing", "budget", "floor", "deadline"}

// String names the reason as metrics label it.
func (r NoBidReason) String() string {
	if r < NumNoBidReasons {
		return noBidNames[r]
	}
	return "unknown"
}

// Bid is one bid of a result.
type Bid struct {
	Imp      int    // index into BidRequest.Imps
	ID       uint64 // unique; the budget reservation is held under it
	Campaign *campaign.Live
	Creative *campaign.LiveCreative
	Item     *index.Doc // the sponsored product, or nil
	Price    float64    // CPM in BidResult.Cur
	// PriceCampaign is the same CPM in micros of the campaign's currency.
	PriceCampaign int64
	DealID        string
	W, H          int
	Dur           int
	PCTR          float64
	Reserved      bool
	account       *ledger.Account
}

// BidResult is the outcome of an auction. Reuse one across calls.
type BidResult struct {
	ID      uint64 // unique, when there are bids: the response's bidid
	Cur     string
	Bids    []Bid
	NoBid   NoBidReason // when Bids is empty
	Matched int         // campaigns the targeting index matched, summed over imps
}

// Auction picks, for each imp of a bid request, the campaign whose ad is
// worth most there, and prices the bid. It is safe for concurrent use.
type Auction struct {
	idx     *index.Index
	camps   *campaign.Store
	ledger  *ledger.Ledger
	opts    Options
	scratch sync.Pool
	seq     atomic.Uint64
	accts   atomic.Pointer[accountCache]
	acctMu  sync.Mutex
}

// accountCache holds the ledger account of each campaign of one set, by
// ordinal, so that the bid path does no map lookups.
type accountCache struct {
	set   *campaign.Set
	accts []*ledger.Account
}

// New returns an auction over the catalog idx (for sponsored
// products), the campaigns and the ledger.
func New(idx *index.Index, camps *campaign.Store, l *ledger.Ledger, opts Options) *Auction {
	opts.setDefaults()
	a := &Auction{idx: idx, camps: camps, ledger: l, opts: opts}
	a.seq.Store(firstBidID(opts.Node, time.Now()))
	a.scratch.New = func() any { return newAuctionScratch() }
	return a
}

// Rates returns the auction's currency rates.
func (a *Auction) Rates() Rates { return a.opts.Rates }

func (a *Auction) accounts(set *campaign.Set) []*ledger.Account {
	if c := a.accts.Load(); c != nil && c.set == set {
		return c.accts
	}
	a.acctMu.Lock()
	defer a.acctMu.Unlock()
	if c := a.accts.Load(); c != nil && c.set == set {
		return c.accts
	}
	c := &accountCache{set: set, accts: make([]*ledger.Account, set.Len())}
	for i := range c.accts {
		c.accts[i] = a.ledger.Account(set.At(i).ID)
	}
	a.accts.Store(c)
	return c.accts
}

// Limits returns the ledger limits of a campaign.
func Limits(c *campaign.Live) ledger.Limits {
	return ledger.Limits{Daily: c.Daily, Total: c.Total, Even: c.Even, Loc: c.Loc, FreqImps: c.FreqImps, FreqPer: c.FreqPer}
}

// adCand is a campaign that can bid on an imp, with its value.
type adCand struct {
	ord       int
	c         *campaign.Live
	cr        *campaign.LiveCreative
	item      *index.Doc
	deal      string
	floor     float64 // in the response currency
	at        int
	value     float64 // CPM in the response currency
	factor    float64 // response currency per unit of the campaign's
	pctr      float64
	itemScore float64
	w, h, du  int
}

// Run holds the auction for req into res. Bids it returns hold budget
// reservations (unless req.Test); give them back with Release when the
// answer is not sent.
//
// The steps: check the request may get a bid from us at all (seat,
// currency, time); match the campaigns the request's targeting allows; then
// for each imp, settle its floors and deals, walk the campaigns that match
// it in decreasing order of their largest possible bid, keeping the best
// few that fit, pass their budget, pacing and frequency cap and clear the
// floor, and bid with the best of them whose budget takes the price. When
// nothing bids, res.NoBid says the furthest stage any imp reached.
func (a *Auction) Run(req *BidRequest, res *BidResult) {
	res.Bids = res.Bids[:0]
	res.NoBid = NoBidNone
	res.Matched = 0
	res.Cur = ""
	var why reasons
	defer func() {
		if len(res.Bids) == 0 {
			res.NoBid = why.final()
		} else {
			res.ID = a.seq.Add(1)
		}
	}()
	if r := a.admit(req, res); r != NoBidNone {
		why.worse(r)
		return
	}

	sc := a.scratch.Get().(*auctionScratch)
	defer a.scratch.Put(sc)
	sc.reset(a, req)
	set := a.camps.Snapshot()
	sc.q = campaign.Query{
		Country: req.Country, Region: req.Region, DeviceType: req.DeviceType, OS: req.OS,
		Site: req.Site, App: req.App, Segments: req.Segments, Interests: sc.strong, Terms: sc.terms,
		BlockedDomains: req.BAdv, BlockedApps: req.BApp, Now: req.Now,
	}
	set.MatchRequest(&sc.q, &sc.m)
	accts := a.accounts(set)
	sc.accts, sc.userHash = accts, HashUser(req.User)
	for ii := range req.Imps {
		if req.Deadline.Exceeded() {
			why.worse(NoBidDeadline)
			break
		}
		if !a.rank(sc, req, ii, set, res, &why) {
			continue
		}
		a.award(sc, req, ii, accts, res, &why)
	}
}

// reasons keeps the furthest stage a no-bid reached.
type reasons struct{ r NoBidReason }

func (w *reasons) worse(r NoBidReason) {
	if r > w.r {
		w.r = r
	}
}

// final is the reason reported: an auction that met no obstacle found no
// campaign to match.
func (w *reasons) final() NoBidReason {
	if w.r == NoBidNone {
		return NoBidTargeting
	}
	return w.r
}

// admit checks that req may get a bid from us at all: our seat is allowed,
// we trade one of its currencies (res.Cur is set to the first), and there is
// time left. It returns why not, or NoBidNone.
func (a *Auction) admit(req *BidRequest, res *BidResult) NoBidReason {
	if slices.Contains(req.BSeat, a.opts.Seat) || len(req.WSeat) > 0 && !slices.Contains(req.WSeat, a.opts.Seat) {
		return NoBidSeat
	}
	rates := a.opts.Rates
	if len(req.Cur) == 0 {
		if rates.Known("USD") {
			res.Cur = "USD"
		}
	} else {
		for _, c := range req.Cur {
			if rates.Known(c) {
				res.Cur = c
				break
			}
		}
	}
	if res.Cur == "" {
		return NoBidCurrency
	}
	if req.Deadline.Exceeded() {
		return NoBidDeadline
	}
	return NoBidNone
}

// floors settles imp's floor and its deals open to us, each in the response
// currency, into sc.dealIDs and sc.dealFloors. It returns the imp's floor
// and the least floor any campaign may bid at (the imp's, unless only deals
// may bid, and each deal's), and false when no campaign may bid.
func (a *Auction) floors(sc *auctionScratch, imp *Imp, cur string, why *reasons) (impFloor, minFloor float64, ok bool) {
	impFloor, ok = a.convert(imp.Floor, imp.FloorCur, cur)
	if !ok {
		why.worse(NoBidCurrency)
		return 0, 0, false
	}
	sc.dealIDs = sc.dealIDs[:0]
	sc.dealFloors = sc.dealFloors[:0]
	minFloor = impFloor
	if imp.Private {
		minFloor = math.Inf(1)
	}
	for _, d := range imp.Deals {
		dcur := d.FloorCur
		if dcur == "" {
			dcur = imp.FloorCur
		}
		f, ok := a.convert(d.Floor, dcur, cur)
		if !ok {
			continue
		}
		sc.dealIDs = append(sc.dealIDs, d.ID)
		sc.dealFloors = append(sc.dealFloors, f)
		minFloor = math.Min(minFloor, f)
	}
	if imp.Private && len(sc.dealIDs) == 0 {
		why.worse(NoBidTargeting)
		return 0, 0, false
	}
	return impFloor, minFloor, true
}

// formats returns the bits of the creative formats imp accepts.
func formats(imp *Imp) uint8 {
	f := uint8(0)
	if imp.Banner != nil {
		f |= campaign.FormatBanner.Bit()
	}
	if imp.Video != nil {
		f |= campaign.FormatVideo.Bit()
	}
	if imp.Audio != nil {
		f |= campaign.FormatAudio.Bit()
	}
	if imp.Native != nil {
		f |= campaign.FormatNative.Bit()
	}
	return f
}

// deadlineEvery is how many campaigns the walk of one imp considers between
// two looks at the deadline.
const deadlineEvery = 16

// rank walks the campaigns that match imp ii, in decreasing order of their
// largest possible bid, and keeps in sc.top the best Runners of those that
// can bid on it. It reports whether any was kept.
func (a *Auction) rank(sc *auctionScratch, req *BidRequest, ii int, set *campaign.Set, res *BidResult, why *reasons) bool {
	imp := &req.Imps[ii]
	impFloor, minFloor, ok := a.floors(sc, imp, res.Cur, why)
	if !ok {
		return false
	}
	set.MatchImp(formats(imp), sc.dealIDs, !imp.Private, &sc.m)
	matched := sc.m.Matched()
	res.Matched += matched
	if matched == 0 {
		why.worse(NoBidTargeting)
		return false
	}
	sc.top = sc.top[:0]
	ordered := set.Ordered()
	n := 0
	for ord := sc.m.Next(-1); ord >= 0; ord = sc.m.Next(ord) {
		if n++; n%deadlineEvery == 0 && req.Deadline.Exceeded() {
			why.worse(NoBidDeadline)
			break
		}
		c := set.At(ord)
		factor, ok := a.opts.Rates.Factor(c.Currency, res.Cur)
		if !ok {
			why.worse(NoBidCurrency)
			continue
		}
		upper := float64(c.MaxCPM) / 1e6 * factor
		if ordered && (upper < minFloor || len(sc.top) == a.opts.Runners && upper <= sc.top[len(sc.top)-1].value) {
			// Campaigns come in decreasing upper bound: none after this
			// one can clear the floor or beat the runners kept.
			why.worse(NoBidFloor)
			break
		}
		cd := adCand{ord: ord, c: c, factor: factor, floor: impFloor, at: req.AT}
		if ok, r := a.value(sc, req, imp, &cd, upper); !ok {
			why.worse(r)
			continue
		}
		sc.keep(cd, a.opts.Runners)
	}
	return len(sc.top) > 0
}

// value decides whether campaign cd.c can bid on imp and, if it can, sets
// its deal, floor, creative, sponsored item, pCTR and value (its eCPM in the
// response currency). When it cannot, it says why (NoBidNone for a deal
// campaign none of the imp's deals is for: not a reason worth a no-bid).
func (a *Auction) value(sc *auctionScratch, req *BidRequest, imp *Imp, cd *adCand, upper float64) (bool, NoBidReason) {
	c := cd.c
	if !c.Flight(req.Now.UnixMilli()) {
		return false, NoBidTargeting
	}
	if len(c.Targeting.Deals) > 0 {
		cd.deal = campaign.DealFor(c, sc.dealIDs)
		if cd.deal == "" {
			return false, NoBidNone
		}
		for k, id := range sc.dealIDs {
			if id == cd.deal {
				cd.floor = sc.dealFloors[k]
				if at := imp.Deals[dealIndex(imp.Deals, id)].AT; at != 0 {
					cd.at = at
				}
				break
			}
		}
	}
	if upper < cd.floor {
		return false, NoBidFloor
	}
	if !a.fitCreative(cd, imp, req) {
		return false, NoBidCreative
	}
	if len(c.Items) > 0 {
		if cd.item, cd.itemScore = a.bestItem(sc, req, c); cd.item == nil {
			return false, NoBidCreative
		}
	}
	lim := Limits(c)
	switch a.ledger.Admit(sc.accts[cd.ord], &lim, sc.userHash, sc.pending[int32(cd.ord)], hash64(hash64(0, req.ID, imp.ID), c.ID)) {
	case ledger.OverBudget:
		return false, NoBidBudget
	case ledger.Paced:
		return false, NoBidPacing
	case ledger.Capped, ledger.NoUser:
		return false, NoBidFrequency
	}
	a.features(sc, req, imp, cd)
	cd.pctr = a.opts.Model.PCTR(&sc.f)
	value := float64(c.MaxCPM)
	if c.CPC > 0 {
		value = math.Min(cd.pctr*float64(c.CPC)*1000, value)
	}
	cd.value = value / 1e6 * cd.factor
	if cd.value < cd.floor || cd.value <= 0 {
		return false, NoBidFloor
	}
	return true, NoBidNone
}

// award bids on imp ii with the best candidate in sc.top whose budget takes
// the price, reserving it (unless req.Test).
func (a *Auction) award(sc *auctionScratch, req *BidRequest, ii int, accts []*ledger.Account, res *BidResult, why *reasons) {
	imp := &req.Imps[ii]
	for k := range sc.top {
		cd := &sc.top[k]
		price := a.price(cd)
		bid := Bid{Imp: ii, ID: a.seq.Add(1), Campaign: cd.c, Creative: cd.cr, Item: cd.item, Price: price,
			PriceCampaign: int64(math.Ceil(price / cd.factor * 1e6)), DealID: cd.deal, W: cd.w, H: cd.h, Dur: cd.du,
			PCTR: cd.pctr, account: accts[cd.ord]}
		if !req.Test {
			lim := Limits(cd.c)
			// A CPM is per thousand impressions: one costs a thousandth.
			amount := (bid.PriceCampaign + 999) / 1000
			if !a.ledger.Reserve(bid.account, &lim, bid.ID, amount, a.ledger.ReserveUntil(imp.Exp)) {
				why.worse(NoBidBudget)
				continue
			}
			bid.Reserved = true
		}
		sc.pending[int32(cd.ord)]++
		res.Bids = append(res.Bids, bid)
		return
	}
}

// Release gives back the reservations of res's bids, for an answer that was
// not sent.
func (a *Auction) Release(res *BidResult) {
	for i := range res.Bids {
		b := &res.Bids[i]
		if b.Reserved {
			a.ledger.Release(b.account, b.ID)
			b.Reserved = false
		}
	}
}

// price turns a candidate's value into its bid: the value itself in a second
// price auction, shaded toward the floor in a first price one, the floor in a
// fixed price deal. It is rounded to micros and never below the floor nor
// above the value.
func (a *Auction) price(cd *adCand) float64 {
	p := cd.value
	switch cd.at {
	case 1:
		p = cd.floor + a.opts.Shade*(cd.value-cd.floor)
	case 3:
		p = cd.floor
	}
	p = math.Round(p*1e6) / 1e6
	if p > cd.value {
		p = math.Floor(cd.value*1e6) / 1e6
	}
	if p < cd.floor {
		p = math.Ceil(cd.floor*1e6) / 1e6
	}
	return p
}

// convert converts amount from cur ("" = USD) to the response currency.
func (a *Auction) convert(amount float64, cur, to string) (float64, bool) {
	if cur == "" {
		cur = "USD"
	}
	if amount <= 0 || math.IsNaN(amount) {
		return 0, a.opts.Rates.Known(cur)
	}
	f, ok := a.opts.Rates.Factor(cur, to)
	return amount * f, ok
}

func dealIndex(deals []Deal, id string) int {
	for i := range deals {
		if deals[i].ID == id {
			return i
		}
	}
	return 0
}

// keep inserts cd among the best k candidates, best first; ties go to the
// lower ordinal (the campaign with the higher maximum, then the smaller id).
func (sc *auctionScratch) keep(cd adCand, k int) {
	i := sort.Search(len(sc.top), func(i int) bool { return sc.top[i].value < cd.value })
	if i >= k {
		return
	}
	if len(sc.top) < k {
		sc.top = append(sc.top, adCand{})
	}
	copy(sc.top[i+1:], sc.top[i:])
	sc.top[i] = cd
}

// hash64 is FNV-1a over the strings, each followed by a zero byte, continuing
// from h (0 to start).
func hash64(h uint64, ss ...string) uint64 {
	if h == 0 {
		h = fnv.Offset
	}
	for _, s := range ss {
		h = fnv.Byte(fnv.String(h, s), 0)
	}
	return h
}

// HashUser is the hash frequency caps count a user under; 0 for no user.
func HashUser(user string) uint64 {
	if user == "" {
		return 0
	}
	if h := hash64(0, user); h != 0 {
		return h
	}
	return 1
}

// HashAuction is the hash notices of one auction's imp are idempotent by.
func HashAuction(auctionID, impID string) uint64 { return hash64(0, auctionID, impID) }

// firstBidID returns where an auction's bid ids start: the start time in
// nanoseconds, or, for a node of a cluster, the node name's hash in the top
// 16 bits and the start time in microseconds (wrapping every 8.9 years)
// below.
func firstBidID(node string, now time.Time) uint64 {
	if node == "" {
		return uint64(now.UnixNano())
	}
	return fnv.String(fnv.Offset, node)<<48 | uint64(now.UnixMicro())&(1<<48-1)
}
