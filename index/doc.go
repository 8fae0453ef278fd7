// Package index holds what tailor ranks and what it has learned about it: the
// catalog, a BM25 text index over it, item-to-item co-visitation counts and
// decayed popularity, globally and per category.
//
// The catalog is persisted in Pebble (an upsert returns after a synced commit);
// everything else lives in memory and is rebuilt at start from the catalog and
// the users' event history. All methods are safe for concurrent use. Reads on
// the recommend path take read locks only and allocate nothing when the caller
// passes buffers with enough capacity.
package index
