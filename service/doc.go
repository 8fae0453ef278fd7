// Package service is tailor without its HTTP layer: the parts opened over
// one data directory, the background work that runs over them, and the
// operations that span several of them.
//
// Open opens the parts in order (the disk guard, Pebble, the profile store,
// the catalog, audiences and triggers, learning, the bidder's campaigns and
// ledger), rebuilds co-visitation and popularity from the stored history,
// and, should a step fail, closes what it opened in reverse order. Close
// stops every background goroutine (webhook delivery, segment refreshes,
// learning sweeps) before the data directory closes, and may be called
// twice; on a failed store it writes nothing and waits for nothing, leaving
// the write-ahead log to the next start.
//
// The operations: Ingest (enrich from the catalog, commit durably, teach the
// indexes, check triggers, attribute to recommendations), Recommend (profile,
// indicators, audience conditions, the experiment arm's ranker, the decision
// log), BidSegments (what a bid request's user is in), RefreshSegments,
// Members and Erase. They are what the HTTP API calls (package server), and
// what offline replays call in process (package eval). Each part is also
// reachable (Store, Index, Campaigns, Ledger, Auction, Learner) for the
// handlers that read or write one part alone.
package service
