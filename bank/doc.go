// Package bank shares campaign budgets among the tailor nodes that bid for
// the same campaigns.
//
// A budget (Budget: a campaign, a period such as "total" or a day, and a
// limit in integer micros) lives in a bank. A node takes a lease, a slice of
// the budget's remaining money, makes its bid reservations against that
// slice locally with no I/O, books the spend of each billing notice back to
// the bank, and gives back what it did not use. When a node's liveness
// lapses, the others reclaim its leases so that the money can be leased
// again.
//
// Invariant: for each budget, spent + leased <= limit, where leased is the
// sum of the outstanding leases. Lease grants only what the limit leaves, and
// nothing once the limit is at or below spent + leased (a lowered limit).
// Book books a notice's whole amount whatever the node holds, because a
// notice is a fact: it draws first on the node's lease, then on unleased
// money, and only when neither suffices, as for a notice that comes after
// its node's lease was reclaimed, does spent + leased pass the limit, by at
// most that notice's amount. The bank does not store limits: each call checks
// against the limit it is given, so an edited limit takes effect at the next
// call.
//
// Idempotence: Book books each notice id at most once per budget, however
// often and from whichever nodes it comes, as long as the repeats come within
// the notice window (Options.NoticeWindow for Redis; Pebble never forgets).
//
// Errors: a call that returns an error other than an invalid argument may or
// may not have taken effect (the reply can be lost after the write). Redis
// calls are sent at most once each and never replayed blindly; Bank's methods
// say what a caller assumes on error, always the side that cannot overspend:
// after a failed Lease it holds nothing more, after a failed Return it holds
// nothing of what it returned, and it repeats a failed Book with the same
// notice id until it is answered. Money a failed call may have left with a
// node is freed by Reclaim.
//
// Implementations: Redis, over a Redis Cluster, for nodes that share budgets;
// each operation is one Lua script on the slot of its budget, one round trip.
// Pebble, over a local Pebble database, for a single node and for tests. Both
// make each write durable before they return (Redis as its servers are
// configured: use appendfsync always, and Options.WaitReplicas to survive
// a failover). All methods are safe for concurrent use.
package bank
