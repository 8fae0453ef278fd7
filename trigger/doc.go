// Package trigger turns users entering audiences into durable outbox records
// that an email, SMS or push system consumes: a wake-up for a lapsed customer,
// a repurchase reminder, a new-customer follow-up.
//
// Membership of every audience with a trigger is remembered per user; when an
// evaluation finds a user newly inside, a record is appended to the outbox in
// the same synced batch that remembers the membership, so a transition yields
// exactly one record however often it is evaluated, and a crash loses none.
// A user who leaves and re-enters yields a new record. Consumers read the
// outbox with a cursor (at-least-once); records of audiences with a webhook
// are also POSTed, with retries and exponential backoff.
package trigger
