package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"math"
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/ledger"
)

// noticeToken is what a bid's notice URLs carry about it, signed: the
// notices need nothing else, so they work across restarts and after the
// campaign is gone.
type noticeToken struct {
	test      bool
	bid       uint64 // the bid's id, which its reservation is held under
	auction   uint64 // auction.HashAuction of the request and imp ids
	user      uint64 // auction.HashUser; 0 for none
	bidAt     int64  // Unix ms
	priceResp int64  // the bid, micros CPM in respCur
	priceCamp int64  // the same, micros CPM in campCur
	respCur   string
	campCur   string
	campaign  string
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
func (b *bidder) appendMAC(dst, data []byte) []byte {
	m, _ := b.macs.Get().(*noticeMAC)
	if m == nil {
		m = &noticeMAC{h: hmac.New(sha256.New, b.key)}
	}
	m.h.Reset()
	m.h.Write(data)
	m.sum = m.h.Sum(m.sum[:0])
	dst = append(dst, m.sum[:tokenMACLen]...)
	b.macs.Put(m)
	return dst
}

// appendToken appends t, signed and base64url-encoded, to dst. scratch
// holds the raw bytes between calls.
func (b *bidder) appendToken(dst []byte, scratch *[]byte, t *noticeToken) []byte {
	raw := (*scratch)[:0]
	flags := byte(0)
	if t.test {
		flags = 1
	}
	raw = append(raw, tokenVersion, flags)
	raw = binary.BigEndian.AppendUint64(raw, t.bid)
	raw = binary.BigEndian.AppendUint64(raw, t.auction)
	raw = binary.BigEndian.AppendUint64(raw, t.user)
	raw = binary.AppendVarint(raw, t.bidAt)
	raw = binary.AppendVarint(raw, t.priceResp)
	raw = binary.AppendVarint(raw, t.priceCamp)
	raw = append(raw, t.respCur...)
	raw = append(raw, t.campCur...)
	raw = append(raw, t.campaign...)
	raw = b.appendMAC(raw, raw)
	*scratch = raw
	n := base64.RawURLEncoding.EncodedLen(len(raw))
	dst = slices.Grow(dst, n)
	base64.RawURLEncoding.Encode(dst[len(dst):len(dst)+n], raw)
	return dst[:len(dst)+n]
}

// parseToken verifies and decodes a token.
func (b *bidder) parseToken(s []byte) (noticeToken, bool) {
	var t noticeToken
	var buf [512]byte
	n := base64.RawURLEncoding.DecodedLen(len(s))
	if n > len(buf) || n < 2+24+tokenMACLen {
		return t, false
	}
	raw := buf[:n]
	if _, err := base64.RawURLEncoding.Decode(raw, s); err != nil {
		return t, false
	}
	body, mac := raw[:n-tokenMACLen], raw[n-tokenMACLen:]
	var want [tokenMACLen]byte
	if !hmac.Equal(b.appendMAC(want[:0], body), mac) || body[0] != tokenVersion {
		return t, false
	}
	t.test = body[1]&1 != 0
	p := body[2:]
	t.bid = binary.BigEndian.Uint64(p)
	t.auction = binary.BigEndian.Uint64(p[8:])
	t.user = binary.BigEndian.Uint64(p[16:])
	p = p[24:]
	for _, dst := range []*int64{&t.bidAt, &t.priceResp, &t.priceCamp} {
		v, w := binary.Varint(p)
		if w <= 0 {
			return t, false
		}
		*dst, p = v, p[w:]
	}
	if len(p) < 7 || t.priceResp <= 0 || t.priceCamp <= 0 {
		return t, false
	}
	t.respCur, t.campCur, t.campaign = string(p[:3]), string(p[3:6]), string(p[6:])
	return t, true
}

// appendNoticeURL appends the URL of a notice of kind for a bid with token
// tok: this server's, with the exchange's macros for it to fill in.
func (b *bidder) appendNoticeURL(dst []byte, kind ledger.Kind, tok []byte) []byte {
	dst = append(dst, b.opts.PublicURL...)
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

// noticeKind returns the kind of notice a notice route takes.
func noticeKind(r routeID) ledger.Kind {
	switch r {
	case routeWin:
		return ledger.Win
	case routeBilling:
		return ledger.Billing
	}
	return ledger.Loss
}

// macro reports whether a notice parameter is absent or an unsubstituted
// macro.
func macro(v []byte) bool { return len(v) == 0 || bytes.HasPrefix(v, []byte("${")) }

// handleNotice applies a win, billing or loss notice. Every notice is
// answered 200 with {"status":...}: applied, duplicate (seen before: nothing
// changed), expired (about a bid older than the notice window: not applied)
// or test (a test bid: never charged). A notice whose token is missing or
// forged, or whose auction and imp ids (when filled in) are not the bid's,
// gets 400.
func (s *Server) handleNotice(ctx *fasthttp.RequestCtx, kind ledger.Kind) {
	b := &s.bid
	args := ctx.QueryArgs()
	t, ok := b.parseToken(args.Peek("t"))
	if ok {
		a, i := args.Peek("a"), args.Peek("i")
		if !macro(a) && !macro(i) && auction.HashAuction(string(a), string(i)) != t.auction {
			ok = false
		}
	}
	if !ok {
		b.m.badNotices.Inc()
		writeError(ctx, badRequest("invalid_notice", "t", "the notice token is missing, forged, or not for this auction and imp"))
		return
	}
	status := "test"
	if t.test {
		b.m.notices[kind][0].Inc()
	} else {
		n := ledger.Notice{Kind: kind, Campaign: t.campaign, Bid: t.bid, Auction: t.auction, BidAt: t.bidAt, User: t.user}
		// The clearing price, in the response currency: what the exchange
		// says, which must be a number from 0 to the bid; the bid itself when
		// the exchange leaves the macro unfilled.
		price := float64(t.priceResp)
		if p := args.Peek("p"); !macro(p) {
			v, err := strconv.ParseFloat(string(p), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v*1e6 > price+0.5 {
				b.m.badNotices.Inc()
				writeError(ctx, badRequest("invalid_notice", "p", "p must be the clearing price CPM, a number from 0 to the bid's "+
					strconv.FormatFloat(price/1e6, 'f', -1, 64)+"; leave the macro unfilled to charge the bid"))
				return
			}
			price = math.Min(v*1e6, price)
		}
		// Micros CPM in the campaign's currency, at the bid's rate; one
		// impression costs a thousandth of it.
		cpm := price * float64(t.priceCamp) / float64(t.priceResp)
		n.Price = int64(math.Ceil(cpm / 1000))
		if c, ok := b.camps.Get(t.campaign); ok {
			n.Limits = auction.Limits(c)
		}
		out, err := b.ledger.Apply(&n)
		if err != nil {
			s.opts.Logger.Printf("notices: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
				message: "the notice could not be stored; retry", index: -1})
			return
		}
		b.m.notices[kind][out].Inc()
		if out == ledger.Applied && kind == ledger.Billing {
			b.m.spend.WithLabelValues(t.campCur).Add(float64(n.Price))
		}
		status = out.String()
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"` + status + `"}` + "\n")
}
