//go:build !cgo

package main

// blockCacheOffHeap: without cgo, Pebble's block cache and memtables live in
// Go's heap, inside the memory Go's limit counts.
const blockCacheOffHeap = false
