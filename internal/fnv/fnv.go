// Package fnv is the one FNV-1a hash of tailor's keys: click-model feature
// keys, experiment assignment, and the auction and user hashes of notices
// and frequency caps. It is the standard 64-bit FNV-1a (hash/fnv) as plain
// functions over a uint64 state, so that building a key allocates nothing.
//
// Each caller composes these the same way for ever: the hashes are stored
// (frequency records, model checkpoints, notice tokens) and assign users to
// experiment arms, so changing how a caller composes them changes its keys.
package fnv

// Offset is the FNV-1a offset basis: the state before any byte.
const Offset uint64 = 14695981039346656037

const prime uint64 = 1099511628211

// String adds the bytes of s to the state h.
func String(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * prime
	}
	return h
}

// Bytes adds b to the state h.
func Bytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// Byte adds one byte to the state h: a separator between strings, so that
// "ab"+"c" and "a"+"bc" differ.
func Byte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * prime }

// Mix finishes h with SplitMix64's mixer, so that every bit of the result
// depends on every bit of h: for hashes used as uniform draws.
func Mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
