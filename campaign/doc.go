// Package campaign holds the advertising campaigns tailor bids for and the
// index that finds, for a bid request, the campaigns whose targeting it
// matches.
//
// A Campaign is what an operator stores: advertiser, budget, bid, frequency
// cap, targeting and creatives. Validated and compiled, it becomes a Live
// campaign, with money in integer micros, creatives with parsed templates and
// targeting reduced to canonical values (ISO 3166 countries and regions,
// OpenRTB device types, lower-case OS names and domains).
//
// The Store persists campaigns in Pebble (an upsert or delete returns after a
// synced commit) and serves them as an immutable Set: every change builds a new
// Set with its targeting index and swaps it in whole, so the bid path reads a
// consistent snapshot without locks. The targeting index keeps, per
// targeting dimension, a bitset of the campaigns that allow each value and
// one of those that leave the dimension open: matching a request is bitwise
// ANDs over the campaigns, not a scan of them, into a reused MatchScratch.
//
// Budgets, spend and pacing are not here: see package ledger.
package campaign
