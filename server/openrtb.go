package server

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/deadline"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/server/openrtb"
)

// BidderOptions configures the OpenRTB bidder. Zero fields take their
// defaults.
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
	// NoticeKey signs the notice URLs of bids, so that notices cannot be
	// forged. Default: a random key made on first start and kept in the data
	// directory.
	NoticeKey []byte
	// Auction configures currency rates, the seat, bid shading and the click
	// model.
	Auction auction.Options
	// Ledger configures budget reservations, pacing and notice memory. Its
	// clock defaults to the server's.
	Ledger ledger.Options
}

func (o *BidderOptions) setDefaults(now func() time.Time) {
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
	if o.Ledger.Now == nil {
		o.Ledger.Now = now
	}
	if o.Auction.Seat == "" {
		o.Auction.Seat = "tailor"
	}
}

// bidder is the OpenRTB side of the server: campaigns, money, the auction
// and the notice endpoints.
type bidder struct {
	opts    BidderOptions
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
// and the server's for the body and the user's segments.
type bidScratch struct {
	openrtb.Request
	inflated []byte
	out      []byte
	ind      features.Indicators
	subj     audience.Subject
}

// noticeKeyName is the meta key the generated notice key is kept under.
const noticeKeyName = "server/notice-key"

func (s *Server) openBidder() error {
	o := &s.opts.Bidder
	o.setDefaults(s.opts.Now)
	camps, err := campaign.Open(s.db, campaign.Options{Value: o.Auction.Rates.CampaignValue}, s.reg)
	if err != nil {
		return err
	}
	l, err := ledger.Open(s.db, o.Ledger)
	if err != nil {
		return err
	}
	key := o.NoticeKey
	if len(key) == 0 {
		if key, err = loadNoticeKey(s.db); err != nil {
			return err
		}
	}
	b := &s.bid
	*b = bidder{opts: *o, camps: camps, ledger: l, m: newBidMetrics(s.reg),
		codec:   openrtb.Options{MaxImps: o.MaxImps, Seat: o.Auction.Seat, GDPRVendorID: o.GDPRVendorID},
		notices: openrtb.NewNotices(key, o.PublicURL)}
	if o.Auction.Model == nil {
		o.Auction.Model = s.adCTR()
	}
	b.auction = auction.New(s.idx, camps, l, o.Auction)
	b.scratch.New = func() any { return new(bidScratch) }
	return nil
}

func (s *Server) closeBidder() error {
	if s.bid.ledger == nil {
		return nil
	}
	return s.bid.ledger.Close()
}

// loadNoticeKey returns the notice signing key kept in db, making one on
// first use.
func loadNoticeKey(db *pebble.DB) ([]byte, error) {
	k := kv.Key(kv.PrefixMeta, noticeKeyName)
	v, closer, err := db.Get(k)
	if err == nil {
		key := bytes.Clone(v)
		closer.Close()
		return key, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("server: cannot read the notice key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := db.Set(k, key, pebble.Sync); err != nil {
		return nil, fmt.Errorf("server: cannot store the notice key: %w", err)
	}
	return key, nil
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
	now := s.opts.Now()
	personal := b.codec.Fill(&sc.Request, &req, dl, now)
	b.m.supply(&sc.Signals)
	br := &sc.Bid
	if personal && br.User != "" {
		p, err := s.store.Get(br.User)
		switch {
		case err == nil:
			br.Profile = p
		case !errors.Is(err, features.ErrNotFound):
			// Bid on what the request says rather than not at all.
			b.m.profileErrors.Inc()
		}
		sc.Segments = s.bidSegments(sc, &req, br.Profile, now.UnixMilli())
		br.Segments = sc.Segments
	}
	b.m.privacy[boolIndex(personal)].Inc()
	b.auction.Run(br, &sc.Result)
	res := &sc.Result
	if len(res.Bids) == 0 {
		b.noBid(ctx, int(res.NoBid))
		return
	}
	sc.out = b.notices.AppendResponse(sc.out[:0], &sc.Request, &req, b.opts.Auction.Seat, now)
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
