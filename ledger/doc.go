// Package ledger keeps the money of tailor's campaigns: what each has spent
// today (in its own time zone) and in total, the budget reservations of bids
// that await their notices, the even-pacing throttle, per user frequency
// counts of billed impressions, and which win, billing and loss notices have
// been applied.
//
// Amounts are integer micros (millionths) of the campaign's currency; the
// ledger never converts currencies.
//
// Budgets: a bid reserves its price before it is sent (Reserve), and a
// reservation is admitted only while spend plus outstanding reservations plus
// the new price stays within the daily and total budgets, under the
// campaign's lock. So concurrent bids can never promise more than the budget;
// the only way past it is a billing notice that arrives after its reservation
// timed out (or after a restart, which forgets reservations), and each such
// notice oversteps by at most its own price.
//
// Durability: a billing notice (spend, impressions, frequency) is committed to
// Pebble with a synced write before Apply returns; wins and losses are written
// without waiting for the sync. Reservations live in memory only. Bid counts
// are written with every notice of their campaign and by Close. Everything is
// read back by Open.
//
// Idempotence: each notice kind is applied at most once per auction and imp
// (Notice.Auction), remembered for Options.NoticeWindow; notices about older
// bids are refused rather than risk applying them twice.
//
// The bid path (Admit, Reserve, Release) does no I/O and allocates nothing in
// steady state; all methods are safe for concurrent use.
package ledger
