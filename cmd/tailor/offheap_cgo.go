//go:build cgo

package main

// blockCacheOffHeap: with cgo, Pebble allocates its block cache and
// memtables with C's allocator, outside the memory Go's limit counts.
const blockCacheOffHeap = true
