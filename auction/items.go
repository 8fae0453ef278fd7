package auction

import (
	"math"

	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/index"
)

// maxItemsScored bounds the items of one campaign scored per bid: those
// listed first.
const maxItemsScored = 100

// bestItem returns the sponsored product of c to show the user: the best
// scored of its available items the user has not bought, or nil, with its
// score in [0, 1]. Ties go to the item listed first.
//
// The score sums the recommendation ranker's signals that cost a map lookup
// each, with its weights (Options.Items): co-visitation with the user's
// latest items (CoVisit), popularity (Popularity), and the user's category
// interests, weighted as searches (Search) because on the bid path the
// user's searches reach items through them (a search adds weight to the
// categories of what it finds), so that no text search runs per bid.
func (a *Auction) bestItem(sc *auctionScratch, req *BidRequest, c *campaign.Live) (*index.Doc, float64) {
	sc.itemSignals(a, req)
	w := &a.opts.Items
	maxScore := w.CoVisit + w.Search + w.Popularity
	var best *index.Doc
	bestScore := -1.0
	ords := c.ItemOrdinals(a.idx.Intern)
	if len(ords) > maxItemsScored {
		ords = ords[:maxItemsScored]
	}
	sc.facts = a.idx.Describe(ords, sc.facts[:0])
	var popNorm float64 // popularity's share of the score, over the top item's log-popularity
	if sc.maxPop > 0 {
		sc.pops = a.idx.Popularities(ords, req.Now.UnixMilli(), sc.pops[:0])
		popNorm = w.Popularity / math.Log1p(sc.maxPop)
	}
	for i := range sc.facts {
		f := &sc.facts[i]
		if f.Doc == nil || !f.Available {
			continue
		}
		if _, bought := sc.purchased[ords[i]]; bought {
			continue
		}
		s := w.CoVisit * sc.covis[ords[i]]
		if sc.known {
			s += w.Search * sc.affinity(a, f.Path())
		}
		if sc.maxPop > 0 {
			s += popNorm * math.Log1p(sc.pops[i])
		}
		if s > bestScore {
			best, bestScore = f.Doc, s
		}
	}
	if best == nil {
		return nil, 0
	}
	if maxScore <= 0 {
		return best, 0
	}
	return best, math.Min(bestScore/maxScore, 1)
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
	sc.ords = a.idx.Intern(p.Purchased, sc.ords[:0])
	for _, o := range sc.ords {
		sc.purchased[o] = struct{}{}
	}
	rw := 1.0
	for _, ord := range sc.recentOrds[:min(len(sc.recentOrds), 5)] {
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
