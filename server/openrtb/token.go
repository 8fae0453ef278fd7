package openrtb

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"slices"
	"sync"

	"github.com/tailor-dev/tailor/ledger"
)

// Token is what a bid's notice URLs carry about it, signed: the notices
// need nothing else, so they work across restarts and after the campaign is
// gone.
type Token struct {
	Test      bool
	Bid       uint64 // the bid's id, which its reservation is held under
	Auction   uint64 // auction.HashAuction of the request and imp ids
	User      uint64 // auction.HashUser; 0 for none
	BidAt     int64  // Unix ms
	PriceResp int64  // the bid, micros CPM in RespCur
	PriceCamp int64  // the same, micros CPM in CampCur
	RespCur   string
	CampCur   string
	Campaign  string
}

// Notices signs and reads notice tokens, and writes the notice URLs of bids.
// It is safe for concurrent use.
type Notices struct {
	key       []byte
	publicURL string
	macs      sync.Pool // *noticeMAC
}

// NewNotices returns the Notices of a bidder reached at publicURL (no
// trailing slash), signing with key.
func NewNotices(key []byte, publicURL string) *Notices {
	return &Notices{key: key, publicURL: publicURL}
}

const (
	tokenVersion = 1
	tokenMACLen  = 12 // bytes of HMAC-SHA256 kept: 96 bits
)

// noticeMAC is a pooled HMAC over the notice key.
type noticeMAC struct {
	h   hash.Hash
	sum []byte
}

// appendMAC appends the truncated HMAC of data to dst.
func (n *Notices) appendMAC(dst, data []byte) []byte {
	m, _ := n.macs.Get().(*noticeMAC)
	if m == nil {
		m = &noticeMAC{h: hmac.New(sha256.New, n.key)}
	}
	m.h.Reset()
	m.h.Write(data)
	m.sum = m.h.Sum(m.sum[:0])
	dst = append(dst, m.sum[:tokenMACLen]...)
	n.macs.Put(m)
	return dst
}

// AppendToken appends t, signed and base64url-encoded, to dst. scratch
// holds the raw bytes between calls.
func (n *Notices) AppendToken(dst []byte, scratch *[]byte, t *Token) []byte {
	raw := (*scratch)[:0]
	flags := byte(0)
	if t.Test {
		flags = 1
	}
	raw = append(raw, tokenVersion, flags)
	raw = binary.BigEndian.AppendUint64(raw, t.Bid)
	raw = binary.BigEndian.AppendUint64(raw, t.Auction)
	raw = binary.BigEndian.AppendUint64(raw, t.User)
	raw = binary.AppendVarint(raw, t.BidAt)
	raw = binary.AppendVarint(raw, t.PriceResp)
	raw = binary.AppendVarint(raw, t.PriceCamp)
	raw = append(raw, t.RespCur...)
	raw = append(raw, t.CampCur...)
	raw = append(raw, t.Campaign...)
	raw = n.appendMAC(raw, raw)
	*scratch = raw
	size := base64.RawURLEncoding.EncodedLen(len(raw))
	dst = slices.Grow(dst, size)
	base64.RawURLEncoding.Encode(dst[len(dst):len(dst)+size], raw)
	return dst[:len(dst)+size]
}

// ParseToken verifies and decodes a token.
func (n *Notices) ParseToken(s []byte) (Token, bool) {
	var t Token
	var buf [512]byte
	size := base64.RawURLEncoding.DecodedLen(len(s))
	if size > len(buf) || size < 2+24+tokenMACLen {
		return t, false
	}
	raw := buf[:size]
	if _, err := base64.RawURLEncoding.Decode(raw, s); err != nil {
		return t, false
	}
	body, mac := raw[:size-tokenMACLen], raw[size-tokenMACLen:]
	var want [tokenMACLen]byte
	if !hmac.Equal(n.appendMAC(want[:0], body), mac) || body[0] != tokenVersion {
		return t, false
	}
	t.Test = body[1]&1 != 0
	p := body[2:]
	t.Bid = binary.BigEndian.Uint64(p)
	t.Auction = binary.BigEndian.Uint64(p[8:])
	t.User = binary.BigEndian.Uint64(p[16:])
	p = p[24:]
	for _, dst := range []*int64{&t.BidAt, &t.PriceResp, &t.PriceCamp} {
		v, w := binary.Varint(p)
		if w <= 0 {
			return t, false
		}
		*dst, p = v, p[w:]
	}
	if len(p) < 7 || t.PriceResp <= 0 || t.PriceCamp <= 0 {
		return t, false
	}
	t.RespCur, t.CampCur, t.Campaign = string(p[:3]), string(p[3:6]), string(p[6:])
	return t, true
}

// AppendNoticeURL appends the URL of a notice of kind for a bid with token
// tok: this server's, with the exchange's macros for it to fill in.
func (n *Notices) AppendNoticeURL(dst []byte, kind ledger.Kind, tok []byte) []byte {
	dst = append(dst, n.publicURL...)
	switch kind {
	case ledger.Win:
		dst = append(dst, "/openrtb2/win?t="...)
	case ledger.Billing:
		dst = append(dst, "/openrtb2/billing?t="...)
	case ledger.Loss:
		dst = append(dst, "/openrtb2/loss?t="...)
	}
	dst = append(dst, tok...)
	dst = append(dst, "&a=${AUCTION_ID}&i=${AUCTION_IMP_ID}&p=${AUCTION_PRICE}"...)
	if kind == ledger.Loss {
		dst = append(dst, "&l=${AUCTION_LOSS}"...)
	}
	return dst
}
