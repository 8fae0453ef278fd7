// Package kv opens tailor's embedded Pebble database and names its key spaces.
//
// One Pebble directory holds everything tailor keeps: user profiles, their event
// history, event ids seen (for de-duplication), catalog items and, later, campaigns
// and models. Each kind of record lives under its own one-byte prefix so that a
// package can scan or range-delete its records without touching anyone else's.
//
// Durability: writers that acknowledge data to a client commit with pebble.Sync.
// Pebble's commit pipeline shares one WAL sync among concurrent committers, so many
// small synced batches cost about as much as one large one.
package kv
