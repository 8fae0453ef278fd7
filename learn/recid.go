package learn

import "encoding/hex"

// RecID names one recommend answer, the decision it logged: impressions and
// clicks that carry it are attributed to it. It is written as 16 lowercase
// hexadecimal digits: 24 bits that differ from one start of the server to the
// next, then the decision's 40-bit sequence number. 0 names nothing.
type RecID uint64

const (
	recSeqBits = 40
	recSeqMask = 1<<recSeqBits - 1
)

// AppendTo appends id as 16 lowercase hexadecimal digits.
func (id RecID) AppendTo(dst []byte) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[id>>uint(shift)&0xf])
	}
	return dst
}

// String returns id as AppendTo writes it.
func (id RecID) String() string { return string(id.AppendTo(make([]byte, 0, 16))) }

// ParseRecID reads what AppendTo wrote; false for anything else, and for the
// id of no decision.
func ParseRecID(s string) (RecID, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return 0, false
	}
	var id uint64
	for _, c := range b {
		id = id<<8 | uint64(c)
	}
	return RecID(id), id&recSeqMask != 0
}
