package ranker

import "math/bits"

// candTable finds a candidate's place in a scratch's cands by the item's
// ordinal: an open-addressing hash table with linear probing, at most half
// full, of 8 KiB while a request has up to 512 candidates and blocked items.
// It replaced an array indexed by ordinal, 8 bytes an item of the catalog in
// every pooled scratch (800 KB each for 100,000 items, 8 MB for a million,
// one scratch per request in flight), at the same speed.
type candTable struct {
	entries []candEntry // len a power of two, 1<<(32-shift)
	shift   uint32
	n       int // entries in use
}

// candEntry is one ordinal's place: key is the ordinal plus one (0: empty),
// at its index in cands, -1 when the item is blocked.
type candEntry struct {
	key uint32
	at  int32
}

// minCandTable is the table's smallest size.
const minCandTable = 1024

// reset empties the table, keeping its memory.
func (t *candTable) reset() {
	if t.entries == nil {
		t.size(minCandTable)
	}
	if t.n > 0 {
		clear(t.entries)
		t.n = 0
	}
}

// find returns ord's entry, or the empty entry where it would go (key 0).
// ord must not be negative.
func (t *candTable) find(ord int32) *candEntry {
	key := uint32(ord) + 1
	mask := uint32(len(t.entries) - 1)
	// Fibonacci hashing: the high bits of the key times 2^32 over the
	// golden ratio.
	for i := (key * 0x9E3779B9) >> t.shift; ; i = (i + 1) & mask {
		if e := &t.entries[i]; e.key == key || e.key == 0 {
			return e
		}
	}
}

// set records in e, the empty entry find returned for ord, that ord is at
// index at (-1: blocked). When the table must grow first, ord's entry is
// found again in the grown table; a table grown for a large request stays
// grown.
func (t *candTable) set(e *candEntry, ord int32, at int32) {
	if 2*(t.n+1) > len(t.entries) {
		t.grow()
		e = t.find(ord)
	}
	*e = candEntry{key: uint32(ord) + 1, at: at}
	t.n++
}

// grow doubles the table, placing every entry again.
func (t *candTable) grow() {
	old := t.entries
	t.size(2 * len(old))
	for _, e := range old {
		if e.key != 0 {
			*t.find(int32(e.key - 1)) = e
		}
	}
}

// size makes the table empty with n entries, a power of two.
func (t *candTable) size(n int) {
	t.entries = make([]candEntry, n)
	t.shift = uint32(32 - bits.TrailingZeros(uint(n)))
}
