// Package trigger turns users entering audiences into durable outbox records
// that an email, SMS or push system consumes: a wake-up for a lapsed customer,
// a repurchase reminder, a new-customer follow-up.
//
// Membership of every audience with a trigger is remembered per user; when an
// evaluation finds a user newly inside, a record is appended to the outbox in
// the same synced batch that remembers the membership, so a transition yields
// exactly one record however often it is evaluated, and a crash loses none.
// A user who leaves and re-enters yields a new record. Consumers read the
// outbox with a cursor (at-least-once).
//
// Records of audiences with a webhook are also POSTed (Outbox.Deliver), by
// one queue per audience with its own stored cursor: in order within an
// audience, at least once, retried with exponential backoff until the hook
// answers 2xx, so a dead hook holds up only its own audience. Deleting an
// audience, or changing its hook, stops its queue at once. Each POST carries
// SignatureHeader, an HMAC-SHA256 of the body keyed with the audience's
// secret (Signature), so the receiver can tell the POSTs from forgeries.
//
// The state lives in a Store: Pebble on a single node (each Apply one synced
// batch); Redis for the nodes of a cluster, where every node evaluates the
// users whose events it applies and the first evaluation to find a user
// newly inside makes the record, so a transition makes one record however
// many nodes see it. An evaluation carries the version of the profile it
// read, and one older than the Store has seen is passed over, so a node
// that lags cannot undo what another saw. Where nodes share a Store, each
// audience's queue is claimed by one node at a time (OutboxOptions.Node,
// ClaimTTL): it POSTs, the others wait, and when it stops or dies its claim
// is given up or lapses and another node goes on from the shared cursor.
//
// Hooks may not reach internal addresses (loopback, private, link-local,
// cloud metadata, multicast, carrier-grade NAT) unless
// DeliveryOptions.AllowPrivate is set: CheckWebhookURL refuses them when they
// are stored, and the delivery client refuses to connect to them after name
// resolution and follows no redirect. A record may be POSTed more than once
// (after a crash, or when a change of hook interrupts a POST): a receiver
// that must not act twice de-duplicates by seq.
package trigger
