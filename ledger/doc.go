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
// timed out (or after a crash, which releases every reservation), and each
// such notice oversteps by at most its own price. A reservation lapses at the
// time it was made or last held for (Reserve's until, or WonReserveFor after a
// win), whatever the lengths and order of the others.
//
// Durability: a billing notice (spend, impressions, frequency) is committed to
// Pebble with a synced write before Apply returns; wins and losses are written
// without waiting for the sync. Bid counts are written with every notice of
// their campaign and by Close. Everything is read back by Open. Reservations
// live in memory and survive a graceful restart only: Close writes each
// account's unexpired reservations (bid, amount, until) in the same synced
// batch as its counters, and Open takes back those not yet expired at open
// time and deletes every stored reservation with a synced commit before it
// returns. So after a crash, before or after such a restart, Open restores
// nothing and every hold is released; a hold is never restored twice. Bid ids
// must be unique across restarts, and nothing may be applied or reserved after
// Close.
//
// Idempotence: each notice kind is applied at most once per auction and imp
// (Notice.Auction), remembered for Options.NoticeWindow; notices about older
// bids are refused rather than risk applying them twice.
//
// Outcomes: the notices of one auction resolve to one outcome, whatever order
// they come in: won and billed once a billing notice has come, won once a win
// notice has, lost otherwise. A billing notice always books its spend. The
// first win or billing notice after a loss turns the loss into a win (one
// loss fewer, never below zero, and one win more), and such a win holds its
// clearing price as a win does; a billing notice after a win counts no win,
// as before. A loss after a win or billing notice is a Conflict: it changes
// nothing, writes nothing and keeps the won hold. A win after a billing
// notice is a Duplicate, as billing counted the win.
//
// Shared budgets: with Options.Shared.Bank, several nodes' ledgers bid for
// the same campaigns. Each holds leases, slices of each limited budget
// (daily, in the campaign's time zone, and total) taken from the bank, and
// admits a reservation only within its lease: the node's outstanding
// reservations never exceed what it holds, so the nodes together never
// promise more than the bank leased, and the bank never leases more than the
// budget less its spend. A billing notice is booked to the bank, once per
// auction whichever node it reaches, before the ledger applies it; a notice
// the bank did not take is not applied. Leases are topped up off the bid
// path (Refill, every SharedOptions.RefillEvery and when a bid finds its
// lease short); Close gives back what a node holds beyond its reservations;
// a node that opens again takes back what it held before and leases anew.
// A bank call that fails may still have taken effect: a failed booking is
// drawn down on the safe side when the bank later says it was booked, and
// after a failed lease the node takes back what it holds in the bank and
// leases anew. Each node marks itself alive in the bank at its refills; the leases of a
// node whose mark lapses (SharedOptions.Liveness, 10 s by default) are taken
// back by the others' refills, so a dead node's money is leased again. Spend and counters
// in Stats remain this node's own.
//
// The bid path (Admit, Reserve, Release) does no I/O and allocates nothing in
// steady state; all methods are safe for concurrent use.
package ledger
