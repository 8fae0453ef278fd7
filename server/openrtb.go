package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/segmentio/encoding/json"
	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/deadline"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/server/openrtb"
)

// BidderOptions configures the OpenRTB endpoint. Zero fields take their
// defaults. The auction, the ledger and the notice key are the service's
// (service.BiddingOptions).
type BidderOptions struct {
	// PublicURL is where exchanges reach this server: the base of the win,
	// billing and loss notice URLs in bids. Default "http://127.0.0.1:8080".
	PublicURL string
	// MaxBodyBytes bounds a bid request body, and a gzip body once
	// inflated; larger ones get 413. Default 512 KiB.
	MaxBodyBytes int
	// MaxImps bounds the imps of a bid request; more is a 400. Default 64.
	MaxImps int
	// DefaultTmax is the time a request without tmax allows. Default 100 ms.
	DefaultTmax time.Duration
	// MaxTmax caps what a request's tmax may allow. Default 1 s.
	MaxTmax time.Duration
	// NetworkMargin is taken off tmax for the trips to and from the
	// exchange; the auction must finish within what is left. Default 15 ms.
	NetworkMargin time.Duration
	// MinWork is the least time left after the margin worth starting an
	// auction for; with less the answer is an immediate no-bid. Default 1 ms.
	MinWork time.Duration
	// GDPRVendorID is the bidder's id in the IAB Global Vendor List. When
	// set, a TCF consent string must also consent to this vendor for the
	// user's profile to be used. Default 0: purposes only.
	GDPRVendorID uint16
}

func (o *BidderOptions) setDefaults() {
	if o.PublicURL == "" {
		o.PublicURL = "http://127.0.0.1:8080"
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 512 << 10
	}
	if o.MaxImps <= 0 {
		o.MaxImps = 64
	}
	if o.DefaultTmax <= 0 {
		o.DefaultTmax = 100 * time.Millisecond
	}
	if o.MaxTmax <= 0 {
		o.MaxTmax = time.Second
	}
	if o.NetworkMargin <= 0 {
		o.NetworkMargin = 15 * time.Millisecond
	}
	if o.MinWork <= 0 {
		o.MinWork = time.Millisecond
	}
}

// bidder is the OpenRTB side of the server: the codec, the notice tokens
// and the bid metrics over the service's campaigns, ledger and auction.
type bidder struct {
	opts    BidderOptions
	seat    string
	codec   openrtb.Options
	notices *openrtb.Notices
	camps   *campaign.Store
	ledger  *ledger.Ledger
	auction *auction.Auction
	m       *bidMetrics
	scratch sync.Pool // *bidScratch
	gzips   sync.Pool // *gzip.Reader
}

// bidScratch is the pooled working memory of one bid request: the codec's,
// and the server's for the body and the user's profile and segments.
type bidScratch struct {
	openrtb.Request
	inflated []byte
	out      []byte
	ind      features.Indicators
	subj     audience.Subject
	prof     features.Profile // the user's, read into the same memory every time
}

func (s *Server) openBidder() {
	o := s.opts.Bidder
	seat := s.svc.Seat()
	s.bid = bidder{opts: o, seat: seat, camps: s.svc.Campaigns(), ledger: s.svc.Ledger(), auction: s.svc.Auction(),
		m:       newBidMetrics(s.svc.Registry()),
		codec:   openrtb.Options{MaxImps: o.MaxImps, Seat: seat, GDPRVendorID: o.GDPRVendorID},
		notices: openrtb.NewNotices(s.svc.NoticeKey(), o.PublicURL)}
	s.bid.scratch.New = func() any { return new(bidScratch) }
}

func (s *Server) handleBid(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	b := &s.bid
	defer func() { b.m.latency.Observe(time.Since(start).Seconds()) }()
	sc := b.scratch.Get().(*bidScratch)
	defer b.scratch.Put(sc)

	body, status := b.body(ctx, sc)
	if status != 0 {
		b.m.invalid.Inc()
		ctx.SetStatusCode(status)
		return
	}
	// segmentio's decoder answers as encoding/json does, in a third of the
	// time: decoding was a sixth of a bid's CPU.
	var req openrtb2.BidRequest
	if !utf8.Valid(body) || json.Unmarshal(body, &req) != nil || !b.codec.Valid(&req) {
		b.m.invalid.Inc()
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		return
	}
	tmax := time.Duration(req.TMax) * time.Millisecond
	if tmax <= 0 {
		tmax = b.opts.DefaultTmax
	}
	tmax = min(tmax, b.opts.MaxTmax)
	budget := tmax - b.opts.NetworkMargin
	if budget < b.opts.MinWork {
		b.noBid(ctx, noBidTmax)
		return
	}
	dl := deadline.At(start.Add(budget))
	now := s.svc.Now()
	personal := b.codec.Fill(&sc.Request, &req, dl, now)
	b.m.supply(&sc.Signals)
	br := &sc.Bid
	if personal && br.User != "" {
		err := s.store.GetInto(br.User, &sc.prof)
		switch {
		case err == nil:
			br.Profile = &sc.prof
		case !errors.Is(err, features.ErrNotFound):
			// Bid on what the request says rather than not at all.
			b.m.profileErrors.Inc()
		}
		var data []openrtb2.Data
		if req.User != nil {
			data = req.User.Data
		}
		sc.subj.Indicators = &sc.ind
		sc.Segments = s.svc.BidSegments(sc.Segments[:0], &sc.subj, br.Profile, data, now.UnixMilli())
		br.Segments = sc.Segments
	}
	b.m.privacy[boolIndex(personal)].Inc()
	b.auction.Run(br, &sc.Result)
	res := &sc.Result
	if len(res.Bids) == 0 {
		b.noBid(ctx, int(res.NoBid))
		return
	}
	sc.out = b.notices.AppendResponse(sc.out[:0], &sc.Request, &req, b.seat, now)
	if dl.Exceeded() {
		// Too late to be of use: better no answer than one the exchange
		// discards after holding our budget.
		b.auction.Release(res)
		b.noBid(ctx, noBidLate)
		return
	}
	b.m.bids[boolIndex(br.Test)].Add(float64(len(res.Bids)))
	b.m.requests[outcomeBid].Inc()
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(sc.out)
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// noBid answers 204 with no body and counts the reason.
func (b *bidder) noBid(ctx *fasthttp.RequestCtx, reason int) {
	b.m.requests[outcomeNoBid].Inc()
	b.m.nobids[reason].Inc()
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// body returns the request body, inflated when gzip-encoded, or the status
// to answer: 413 past the size limit (checked as it inflates, so that a
// small body that inflates to gigabytes is refused after the limit, not
// after inflating it all), 400 for a corrupt gzip stream, 415 for another
// encoding.
func (b *bidder) body(ctx *fasthttp.RequestCtx, sc *bidScratch) ([]byte, int) {
	raw := ctx.PostBody()
	if len(raw) > b.opts.MaxBodyBytes {
		return nil, fasthttp.StatusRequestEntityTooLarge
	}
	enc := bytes.TrimSpace(ctx.Request.Header.ContentEncoding())
	switch {
	case len(enc) == 0 || bytes.EqualFold(enc, []byte("identity")):
		return raw, 0
	case bytes.EqualFold(enc, []byte("gzip")) || bytes.EqualFold(enc, []byte("x-gzip")):
	default:
		return nil, fasthttp.StatusUnsupportedMediaType
	}
	zr, _ := b.gzips.Get().(*gzip.Reader)
	var err error
	sc.inflated, err = inflate(sc.inflated[:0], raw, b.opts.MaxBodyBytes, &zr)
	if zr != nil {
		b.gzips.Put(zr)
	}
	switch {
	case errors.Is(err, errBodyTooLarge):
		return nil, fasthttp.StatusRequestEntityTooLarge
	case err != nil:
		return nil, fasthttp.StatusBadRequest
	}
	return sc.inflated, 0
}

// inflate appends the gzip stream src, inflated, to dst, reading no more than
// limit+1 bytes of output. *zr is reused when not nil and set when nil.
func inflate(dst, src []byte, limit int, zr **gzip.Reader) ([]byte, error) {
	var err error
	if *zr == nil {
		*zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = (*zr).Reset(bytes.NewReader(src))
	}
	if err != nil {
		return dst, err
	}
	return readLimited(dst, *zr, limit)
}
