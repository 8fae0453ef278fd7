package cluster

import (
	"errors"
	"strconv"
	"strings"
)

// Token says how far into the log a reader must have applied: for each
// partition, the offset of the next record to apply. An events answer carries
// the token of its records; a request that carries it is answered from state
// at least that fresh. The zero Token asks for nothing.
type Token struct {
	next []int64 // by partition; 0 = no requirement
}

// MaxPartitions bounds the partitions a token may name.
const MaxPartitions = 4096

// errToken is the error ParseToken returns for text that is not a token.
var errToken = errors.New("cluster: a token is partition:offset pairs separated by commas, such as 0:12,3:40")

// String encodes t as "partition:offset" pairs separated by commas, in
// partition order, the form ParseToken reads.
func (t Token) String() string {
	var b strings.Builder
	for p, o := range t.next {
		if o == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(o, 10))
	}
	return b.String()
}

// IsZero reports whether t asks for nothing.
func (t Token) IsZero() bool {
	for _, o := range t.next {
		if o != 0 {
			return false
		}
	}
	return true
}

// ParseToken reads a token written by Token.String. The empty string is the
// zero Token.
func ParseToken(s string) (Token, error) {
	var t Token
	if s == "" {
		return t, nil
	}
	for pair := range strings.SplitSeq(s, ",") {
		ps, os, ok := strings.Cut(pair, ":")
		if !ok {
			return Token{}, errToken
		}
		p, err := strconv.Atoi(ps)
		if err != nil || p < 0 || p >= MaxPartitions {
			return Token{}, errToken
		}
		o, err := strconv.ParseInt(os, 10, 64)
		if err != nil || o <= 0 {
			return Token{}, errToken
		}
		t.need(int32(p), o)
	}
	return t, nil
}

// need raises t's requirement on partition p to at least next.
func (t *Token) need(p int32, next int64) {
	for int(p) >= len(t.next) {
		t.next = append(t.next, 0)
	}
	t.next[p] = max(t.next[p], next)
}

// Merge returns a token that asks for everything t and u ask for.
func (t Token) Merge(u Token) Token {
	var m Token
	for p, o := range t.next {
		m.need(int32(p), o)
	}
	for p, o := range u.next {
		m.need(int32(p), o)
	}
	return m
}

// coveredBy reports whether applied (next offset by partition) is at least
// as far as t everywhere.
func (t Token) coveredBy(applied []int64) bool {
	for p, o := range t.next {
		if o == 0 {
			continue
		}
		if p >= len(applied) || applied[p] < o {
			return false
		}
	}
	return true
}
