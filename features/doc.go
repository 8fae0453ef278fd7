// Package features keeps the per-user profile ("customer portrait") that every
// decision reads: time-decayed interests by category, brand and query term, the
// last events, purchase counters for recency, frequency and monetary value, and
// first and last seen.
//
// Durability and consistency: Store.Apply returns only after the profiles and the
// events' history records are committed to Pebble with a synced write, so an
// acknowledged event survives a crash. Updates to one user are serialized, so
// concurrent batches never lose an update. Profiles are cached in Ristretto as
// their encodings (which the garbage collector need not scan), but a read never
// returns a profile older than the last write acknowledged before the read
// began: every write advances a per-stripe sequence number and a cached profile
// is only served while its sequence is current.
//
// A Profile returned by the store is the caller's own copy, decoded for it.
package features
