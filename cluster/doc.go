// Package cluster runs tailor on several machines: each node is a whole
// tailor (service.Service over its own Pebble and caches) that writes what it
// is sent to a shared Kafka log and applies everything in the log to its own
// state, so that any node can answer for any user.
//
// The log: events go to the events' topic keyed by user, so that a user's
// events stay in order in one partition, and so do the user's erasure and
// attribute updates; catalog items, campaigns, audiences, experiments and
// their deletions, click-model labels and experiment counters go to a topic
// of one partition. A node enriches the events it takes from its
// catalog before it logs them, so that every node applies the same facts.
// An append is one Kafka transaction (concurrent appends share one), read
// back by nodes with read-committed isolation: a batch is visible whole or
// not at all.
//
// Freshness: an append answers with a Token, the offsets of its records, once
// the node that took it has applied them (or ApplyWait has passed). A request
// carrying the token, to any node, waits (Node.Wait) until that node has
// applied at least as far, so that a client reads its own writes on every
// node. A node starting up reads the catalog to where it stood, then the
// events; it is Ready once it has applied the log as far as it stood when the
// node started.
//
// Exactly once: a node commits the offsets it has applied in the same Pebble
// batch as the events they carried (features.Mark), so that a crash neither
// loses nor repeats an event on that node.
//
// Convergence: once two nodes have applied the same offsets, each user's
// profile is the same on both, to the byte. The shared counts (popularity,
// co-visitation) are sums over every partition, which nodes add in different
// orders, so their floating-point values may differ in the last digits; a
// recommendation then has the same items in the same order, save items whose
// scores are equal to that rounding.
//
// Notices: a node logs the win, billing and loss notices it applies (after
// booking a billing notice's spend to the bank), and every node applies
// them from the log without booking them again, so frequency counts and
// campaign figures agree and the bidding node releases its hold.
//
// Audiences go to the catalog's topic as the node that took them prepared
// them (with their incarnation and their trigger's secret), so every node
// holds the same definitions; trigger records and webhook delivery are
// shared through a trigger.Store in Redis (package trigger), and budgets
// through package bank, not the log.
//
// The click model: the node that answered a recommend keeps the decision
// and makes its labels (impressions and clicks reach it through the log);
// it logs them to the catalog's topic, and every node's model learns every
// label in that topic's one order, each record once (model.LearnFrom), so
// the models are the same on every node. Experiments configurations go
// through the catalog's topic too, and each node logs its experiment
// counters, which every node adds to its own (learn.Learner.MergeStats).
//
// What is not shared yet: the bidder's click model. See docs/scaling.md.
package cluster
