package auction

import (
	"math"
	"slices"

	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/ledger"
)

// auctionScratch is the working memory of one auction, pooled.
type auctionScratch struct {
	m          campaign.MatchScratch
	q          campaign.Query
	f          CTRFeatures
	top        []adCand
	dealIDs    []string
	dealFloors []float64
	pending    map[int32]int     // bids in this request by campaign ordinal
	accts      []*ledger.Account // by campaign ordinal, of the Set matched
	userHash   uint64            // the user's frequency-cap hash

	// What the profile says, read once per request.
	known       bool
	catW        map[string]float64 // interest by category key, relative to the strongest
	strong      []string           // keys of the strong interests
	search      []string           // terms of the latest distinct searches, newest first
	searchEnd   []int              // where each search's terms end in search
	page        []string           // terms of the page's keywords
	terms       []string           // search and page terms, for targeting
	recentItems []string           // latest distinct items looked at, newest first
	recentOrds  []int32            // their ordinals
	recentFacts []index.Facts      // their catalog facts
	recentCats  map[string]float64 // their categories, by recency

	// Sponsored-product signals, computed on first need.
	itemsReady bool
	purchased  map[int32]struct{} // ordinals of the items bought
	ords       []int32
	facts      []index.Facts // of a campaign's items
	pops       []float64     // their popularities
	covis      map[int32]float64
	catByID    map[int32]float64 // catW by category id, filled on first need
	catIDReady bool
	maxPop     float64
	hits       []index.Hit
	nbrs       []index.Neighbor
}

func newAuctionScratch() *auctionScratch {
	return &auctionScratch{
		pending: map[int32]int{}, catW: map[string]float64{}, recentCats: map[string]float64{},
		purchased: map[int32]struct{}{}, covis: map[int32]float64{}, catByID: map[int32]float64{},
	}
}

// recentItemsKept is how many of the user's latest items feed the history
// feature and sponsored-product scores.
const recentItemsKept = 10

func (sc *auctionScratch) reset(a *Auction, req *BidRequest) {
	clear(sc.pending)
	clear(sc.catW)
	clear(sc.recentCats)
	sc.itemsReady, sc.catIDReady = false, false
	sc.strong, sc.search, sc.searchEnd = sc.strong[:0], sc.search[:0], sc.searchEnd[:0]
	sc.recentItems, sc.top = sc.recentItems[:0], sc.top[:0]
	sc.page = req.PageTerms
	sc.terms = append(sc.terms[:0], req.PageTerms...)
	p := req.Profile
	sc.known = p != nil
	if p == nil {
		return
	}
	top := float32(0)
	for _, w := range p.Categories {
		top = max(top, w.Weight)
	}
	for _, w := range p.Categories {
		if top <= 0 {
			break
		}
		v := float64(w.Weight / top)
		sc.catW[w.Key] = v
		if v >= a.opts.StrongInterest {
			sc.strong = append(sc.strong, w.Key)
		}
	}
	searches := 0
	// Newest first, until both lists are full: a long history costs no
	// more than a short one.
	for i := len(p.Recent) - 1; i >= 0 && (searches < a.opts.Searches || len(sc.recentItems) < recentItemsKept); i-- {
		act := &p.Recent[i]
		if slices.ContainsFunc(p.Recent[i+1:], func(later features.Action) bool { return later.Target == act.Target }) {
			continue
		}
		if act.Type == features.Search {
			if searches < a.opts.Searches {
				sc.search = index.AppendTerms(sc.search, act.Target)
				sc.searchEnd = append(sc.searchEnd, len(sc.search))
				searches++
			}
			continue
		}
		if len(sc.recentItems) < recentItemsKept {
			sc.recentItems = append(sc.recentItems, act.Target)
		}
	}
	sc.terms = append(sc.terms, sc.search...)
	sc.recentOrds = a.idx.Intern(sc.recentItems, sc.recentOrds[:0])
	sc.recentFacts = a.idx.Describe(sc.recentOrds, sc.recentFacts[:0])
	w := 1.0
	for i := range sc.recentFacts {
		for _, cat := range sc.recentFacts[i].Path() {
			key := a.idx.CategoryKey(cat)
			sc.recentCats[key] = math.Max(sc.recentCats[key], w)
		}
		w *= 0.9
	}
}

// features fills sc.f for candidate cd on imp.
func (a *Auction) features(sc *auctionScratch, req *BidRequest, imp *Imp, cd *adCand) {
	f := &sc.f
	*f = CTRFeatures{}
	c := cd.c
	for _, ph := range c.Phrases {
		if subset(ph, sc.page) {
			f[FeatPage] = 1
			break
		}
	}
	if cd.item != nil {
		f[FeatItem] = cd.itemScore
	}
	switch cd.cr.Format {
	case campaign.FormatVideo:
		f[FeatVideo] = 1
	case campaign.FormatAudio:
		f[FeatAudio] = 1
	case campaign.FormatNative:
		f[FeatNative] = 1
	}
	if imp.Interstitial {
		f[FeatInterstitial] = 1
	}
	if !sc.known {
		return
	}
	f[FeatKnownUser] = 1
	if len(c.Targeting.Segments) > 0 {
		f[FeatSegment] = 1
	}
	for _, key := range c.Interests {
		f[FeatInterest] = math.Max(f[FeatInterest], sc.catW[key])
		f[FeatHistory] = math.Max(f[FeatHistory], 0.6*sc.recentCats[key])
	}
	if cd.item != nil {
		f[FeatInterest] = math.Max(f[FeatInterest], sc.affinity(a, cd.item.Categories))
	}
	// The latest search that holds all terms of one of the keywords.
	start, rw := 0, 1.0
	for _, end := range sc.searchEnd {
		s := sc.search[start:end]
		for _, ph := range c.Phrases {
			if subset(ph, s) {
				f[FeatSearch] = rw
				break
			}
		}
		if f[FeatSearch] > 0 {
			break
		}
		start, rw = end, rw*0.8
	}
	if len(c.Items) > 0 {
		rw := 1.0
		items := c.ItemOrdinals(a.idx.Intern)
		for _, o := range sc.recentOrds {
			if slices.Contains(items, o) {
				f[FeatHistory] = math.Max(f[FeatHistory], rw)
				break
			}
			rw *= 0.9
		}
	}
}

// affinity is the user's mean relative interest over the levels of a
// category path (ids, root first).
func (sc *auctionScratch) affinity(a *Auction, cats []int32) float64 {
	if len(cats) == 0 {
		return 0
	}
	if !sc.catIDReady {
		sc.catIDReady = true
		clear(sc.catByID)
		for key, w := range sc.catW {
			if id, ok := a.idx.CategoryID(key); ok {
				sc.catByID[id] = w
			}
		}
	}
	sum := 0.0
	for _, cat := range cats {
		sum += sc.catByID[cat]
	}
	return sum / float64(len(cats))
}

// subset reports whether every term of ph is in terms.
func subset(ph, terms []string) bool {
	for _, t := range ph {
		if !slices.Contains(terms, t) {
			return false
		}
	}
	return len(ph) > 0
}
