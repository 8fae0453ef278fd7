package auction

import (
	"math"

	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/index"
)

// Weights of a sponsored product's score for a user, summed and scaled to
// [0, 1] by itemScoreMax. They are the signals of the recommendation ranker
// that cost a map lookup each: the user's searches reach items through their
// category interests (a search adds weight to the categories of what it
// finds), so no text search runs on the bid path.
const (
	itemCoVisit    = 1.0 // seen together with the user's latest items, or one of them
	itemCategory   = 0.8 // in the user's strong categories
	itemPopularity = 0.3 // popular lately
	itemScoreMax   = itemCoVisit + itemCategory + itemPopularity
	// maxItemsScored bounds the items of one campaign scored per bid: those
	// listed first.
	maxItemsScored = 100
)

// bestItem returns the sponsored product of c to show the user: the best
// scored of its available items the user has not bought, or nil. Ties go to
// the item listed first.
func (a *Auction) bestItem(sc *auctionScratch, req *BidRequest, c *campaign.Live) (*index.Doc, float64) {
	sc.itemSignals(a, req)
	var best *index.Doc
	bestScore := -1.0
	now := req.Now.UnixMilli()
	items := c.Items
	if len(items) > maxItemsScored {
		items = items[:maxItemsScored]
	}
	for _, id := range items {
		d, ok := a.idx.Get(id)
		if !ok || !d.Available {
			continue
		}
		if _, bought := sc.purchased[id]; bought {
			continue
		}
		s := itemCoVisit * sc.covis[d.Ord]
		if sc.known {
			s += itemCategory * sc.affinity(a, d)
		}
		if sc.maxPop > 0 {
			s += itemPopularity * math.Log1p(a.idx.Popularity(d.Ord, now)) / math.Log1p(sc.maxPop)
		}
		if s > bestScore {
			best, bestScore = d, s
		}
	}
	if best == nil {
		return nil, 0
	}
	return best, math.Min(bestScore/itemScoreMax, 1)
}

// itemSignals computes, once per request, what scores sponsored products:
// neighbours of the user's latest items, purchases, and the catalog's top
// popularity.
func (sc *auctionScratch) itemSignals(a *Auction, req *BidRequest) {
	if sc.itemsReady {
		return
	}
	sc.itemsReady = true
	clear(sc.purchased)
	clear(sc.covis)
	sc.maxPop = 0
	sc.hits = a.idx.Popular(-1, 1, req.Now.UnixMilli(), sc.hits[:0])
	if len(sc.hits) > 0 {
		sc.maxPop = sc.hits[0].Score
	}
	p := req.Profile
	if p == nil {
		return
	}
	for _, id := range p.Purchased {
		sc.purchased[id] = struct{}{}
	}
	rw := 1.0
	for i, id := range sc.recentItems {
		if i == 5 {
			break
		}
		ord, ok := a.idx.Ord(id)
		if !ok {
			continue
		}
		sc.nbrs = a.idx.Neighbors(ord, 30, sc.nbrs[:0])
		if len(sc.nbrs) > 0 {
			top := float64(sc.nbrs[0].Weight) + 2
			for _, nb := range sc.nbrs {
				sc.covis[nb.Ord] = math.Min(1, sc.covis[nb.Ord]+rw*float64(nb.Weight)/top)
			}
		}
		// The item itself: retargeting a product the user looked at.
		sc.covis[ord] = math.Min(1, sc.covis[ord]+0.5*rw)
		rw *= 0.8
	}
}
