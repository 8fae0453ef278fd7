// Package auction decides tailor's bids on OpenRTB impressions: for each imp,
// the campaigns whose targeting matches (package campaign), the creative of
// each that fits the slot, a predicted click-through rate and the value it
// gives an impression (eCPM), the floor, the currency, the budget, pacing and
// frequency cap (package ledger), and the price of the winner.
//
// The auction is given plain values (a BidRequest decoded from OpenRTB by the
// server, with the user's profile and the privacy decision already made) and
// answers plain values (a BidResult); it does no I/O of its own. A bid it
// returns holds a budget reservation until its notice comes, or Release gives
// it back. Run pools its scratch space, and the caller reuses the result.
//
// pCTR comes from a CTRModel: the hand-set LogisticModel over named features
// by default, or a LearnedCTR reading the online click model while it is
// warm. Sponsored-product campaigns pick the item to show by the ranker's
// signals (co-visitation with the user's latest items, category affinity,
// popularity), read from the catalog index.
package auction
