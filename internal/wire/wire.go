// Package wire reads the compact binary encodings tailor stores (profiles,
// history records, click-model checkpoints and labels): varints, fixed-size
// little-endian integers and length-prefixed strings.
package wire

import "encoding/binary"

// Reader reads from S, recording the first error in Err and returning zero
// values after it, so that a decoder checks once at the end. Strings it
// returns share S's memory: decode from a string made once from the stored
// bytes, and what was decoded keeps no reference to the store's buffers.
type Reader struct {
	S   string
	Err bool
}

func (r *Reader) fail() {
	r.Err = true
	r.S = ""
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < len(r.S) && i < binary.MaxVarintLen64; i++ {
		b := r.S[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break // overflows 64 bits
			}
			r.S = r.S[i+1:]
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	r.fail()
	return 0
}

// Varint reads a signed (zigzag) varint.
func (r *Reader) Varint() int64 {
	ux := r.Uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// Count reads a list length, refusing one that could not fit in what is
// left when each element takes at least min bytes (min > 0).
func (r *Reader) Count(min int) int {
	n := r.Uvarint()
	if n > uint64(len(r.S)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

// Str reads a length-prefixed string.
func (r *Reader) Str() string {
	n := r.Uvarint()
	if n > uint64(len(r.S)) {
		r.fail()
		return ""
	}
	s := r.S[:n]
	r.S = r.S[n:]
	return s
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.S) < 1 {
		r.fail()
		return 0
	}
	b := r.S[0]
	r.S = r.S[1:]
	return b
}

// Uint32 reads a little-endian uint32.
func (r *Reader) Uint32() uint32 {
	if len(r.S) < 4 {
		r.fail()
		return 0
	}
	v := uint32(r.S[0]) | uint32(r.S[1])<<8 | uint32(r.S[2])<<16 | uint32(r.S[3])<<24
	r.S = r.S[4:]
	return v
}

// Uint64 reads a little-endian uint64.
func (r *Reader) Uint64() uint64 {
	lo := uint64(r.Uint32())
	hi := uint64(r.Uint32())
	return lo | hi<<32
}
