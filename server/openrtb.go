package server

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prebid/openrtb/v20/adcom1"
	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/deadline"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/ledger"
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
	camps   *campaign.Store
	ledger  *ledger.Ledger
	auction *auction.Auction
	m       *bidMetrics
	key     []byte
	scratch sync.Pool // *bidScratch
	gzips   sync.Pool // *gzip.Reader
	macs    sync.Pool // *noticeMAC
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
	*b = bidder{opts: *o, camps: camps, ledger: l, key: key, m: newBidMetrics(s.reg)}
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

// bidScratch is the pooled working memory of one bid request.
type bidScratch struct {
	breq     auction.BidRequest
	res      auction.BidResult
	imps     []auction.Imp
	banners  []auction.BannerSlot
	videos   []auction.MediaSlot
	audios   []auction.MediaSlot
	natives  []auction.NativeSlot
	sizes    []auction.Size
	ints     []int
	deals    []auction.Deal
	terms    []string
	segs     []string
	badv     []string
	bapp     []string
	inflated []byte
	out      []byte
	tok      []byte
	raw      []byte
	adm      []byte
	crid     []byte
	ind      features.Indicators
	subj     audience.Subject
	ext      extSignals
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
	if !utf8.Valid(body) || json.Unmarshal(body, &req) != nil || !b.valid(&req) {
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
	personal := b.fill(sc, &req, dl, now)
	br := &sc.breq
	if personal && br.User != "" {
		p, err := s.store.Get(br.User)
		switch {
		case err == nil:
			br.Profile = p
		case !errors.Is(err, features.ErrNotFound):
			// Bid on what the request says rather than not at all.
			b.m.profileErrors.Inc()
		}
		sc.segs = s.bidSegments(sc, &req, br.Profile, now.UnixMilli())
		br.Segments = sc.segs
	}
	b.m.privacy[boolIndex(personal)].Inc()
	b.auction.Run(br, &sc.res)
	res := &sc.res
	if len(res.Bids) == 0 {
		b.noBid(ctx, int(res.NoBid))
		return
	}
	sc.out = b.appendResponse(sc.out[:0], sc, &req, now)
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

// valid checks what OpenRTB requires of a request's structure; a request
// that fails is answered 400.
func (b *bidder) valid(r *openrtb2.BidRequest) bool {
	if r.ID == "" || len(r.Imp) == 0 || len(r.Imp) > b.opts.MaxImps {
		return false
	}
	places := 0
	for _, p := range []bool{r.Site != nil, r.App != nil, r.DOOH != nil} {
		if p {
			places++
		}
	}
	if places > 1 {
		return false
	}
	for i := range r.Imp {
		imp := &r.Imp[i]
		if imp.ID == "" || imp.Banner == nil && imp.Video == nil && imp.Audio == nil && imp.Native == nil {
			return false
		}
		if imp.BidFloor < 0 {
			return false
		}
		for j := range r.Imp[:i] {
			if r.Imp[j].ID == imp.ID {
				return false
			}
		}
	}
	return true
}

// fill converts the decoded request into the auction's plain values and
// reports whether the user's profile may be used.
func (b *bidder) fill(sc *bidScratch, req *openrtb2.BidRequest, dl deadline.Deadline, now time.Time) bool {
	br := &sc.breq
	*br = auction.BidRequest{ID: req.ID, Test: req.Test == 1, AT: int(req.AT), Cur: req.Cur, Now: now, Deadline: dl,
		WSeat: req.WSeat, BSeat: req.BSeat, BCat: req.BCat, ACat: req.ACat, CatTax: int(req.CatTax)}
	if br.AT == 0 {
		br.AT = 2 // OpenRTB's default: second price plus
	}
	// Where.
	var geo *openrtb2.Geo
	if d := req.Device; d != nil {
		geo = d.Geo
		br.DeviceType = int(d.DeviceType)
		br.OS = campaign.CanonicalOS(d.OS)
		if br.OS == "" && d.SUA != nil && d.SUA.Platform != nil {
			br.OS = campaign.CanonicalOS(d.SUA.Platform.Brand)
		}
		br.DeviceW, br.DeviceH = int(d.W), int(d.H)
	}
	if geo == nil && req.User != nil {
		geo = req.User.Geo
	}
	if geo != nil {
		br.Country, _ = campaign.CanonicalCountry(geo.Country)
		br.Region, _ = campaign.CanonicalRegion(geo.Country, geo.Region)
	}
	if req.DOOH != nil && br.DeviceType == 0 {
		br.DeviceType = int(adcom1.DeviceOOH)
	}
	sc.terms = sc.terms[:0]
	keywords := func(kw string, arr []string) {
		sc.terms = index.AppendTerms(sc.terms, kw)
		for _, k := range arr {
			sc.terms = index.AppendTerms(sc.terms, k)
		}
	}
	var content *openrtb2.Content
	switch {
	case req.Site != nil:
		br.Site = campaign.CanonicalDomain(req.Site.Domain)
		if br.Site == "" {
			br.Site = campaign.CanonicalDomain(req.Site.Page)
		}
		keywords(req.Site.Keywords, req.Site.KwArray)
		content = req.Site.Content
	case req.App != nil:
		br.App = strings.ToLower(req.App.Bundle)
		keywords(req.App.Keywords, req.App.KwArray)
		content = req.App.Content
	case req.DOOH != nil:
		keywords(req.DOOH.Keywords, nil)
		content = req.DOOH.Content
	}
	if content != nil {
		keywords(content.Keywords, content.KwArray)
	}
	br.PageTerms = sc.terms
	sc.badv = sc.badv[:0]
	for _, d := range req.BAdv {
		if cd := campaign.CanonicalDomain(d); cd != "" {
			sc.badv = append(sc.badv, cd)
		}
	}
	br.BAdv = sc.badv
	sc.bapp = sc.bapp[:0]
	for _, a := range req.BApp {
		sc.bapp = append(sc.bapp, strings.ToLower(a))
	}
	br.BApp = sc.bapp
	b.fillImps(sc, req)

	// Who, and what privacy rules allow about them.
	sc.ext.read(req)
	b.m.supply(&sc.ext)
	personal := b.personal(&sc.ext, br.Country)
	if personal && req.User != nil {
		br.User = req.User.BuyerUID
		if br.User == "" {
			br.User = req.User.ID
		}
	}
	sc.segs = sc.segs[:0]
	return personal
}

func (b *bidder) fillImps(sc *bidScratch, req *openrtb2.BidRequest) {
	n := len(req.Imp)
	grow := func(s []auction.BannerSlot) []auction.BannerSlot {
		if cap(s) < n {
			return make([]auction.BannerSlot, n)
		}
		return s[:n]
	}
	sc.banners = grow(sc.banners)
	growM := func(s []auction.MediaSlot) []auction.MediaSlot {
		if cap(s) < n {
			return make([]auction.MediaSlot, n)
		}
		return s[:n]
	}
	sc.videos, sc.audios = growM(sc.videos), growM(sc.audios)
	if cap(sc.natives) < n {
		sc.natives = make([]auction.NativeSlot, n)
	}
	sc.natives = sc.natives[:n]
	// Sizes, attributes, durations and deals go into shared buffers; count
	// first so that they never move while imps point into them.
	nsizes, nints, ndeals := 0, 0, 0
	for i := range req.Imp {
		imp := &req.Imp[i]
		if bn := imp.Banner; bn != nil {
			nsizes += len(bn.Format) + 1
			nints += len(bn.BAttr)
		}
		if v := imp.Video; v != nil {
			nints += len(v.BAttr) + len(v.RqdDurs)
		}
		if a := imp.Audio; a != nil {
			nints += len(a.BAttr) + len(a.RqdDurs)
		}
		if nt := imp.Native; nt != nil {
			nints += len(nt.BAttr)
		}
		if imp.PMP != nil {
			ndeals += len(imp.PMP.Deals)
		}
	}
	if cap(sc.sizes) < nsizes {
		sc.sizes = make([]auction.Size, 0, nsizes)
	}
	if cap(sc.ints) < nints {
		sc.ints = make([]int, 0, nints)
	}
	if cap(sc.deals) < ndeals {
		sc.deals = make([]auction.Deal, 0, ndeals)
	}
	sc.sizes, sc.ints, sc.deals = sc.sizes[:0], sc.ints[:0], sc.deals[:0]
	attrs := func(in []adcom1.CreativeAttribute) []int {
		s := len(sc.ints)
		for _, a := range in {
			sc.ints = append(sc.ints, int(a))
		}
		return sc.ints[s:len(sc.ints):len(sc.ints)]
	}
	durs := func(in []int64) []int {
		s := len(sc.ints)
		for _, d := range in {
			sc.ints = append(sc.ints, int(d))
		}
		return sc.ints[s:len(sc.ints):len(sc.ints)]
	}
	sc.imps = sc.imps[:0]
	seat := b.opts.Auction.Seat
	for i := range req.Imp {
		imp := &req.Imp[i]
		ri := auction.Imp{ID: imp.ID, Floor: imp.BidFloor, FloorCur: imp.BidFloorCur,
			Secure: imp.Secure != nil && *imp.Secure == 1, Interstitial: imp.Instl == 1, Exp: imp.Exp}
		if bn := imp.Banner; bn != nil {
			bs := &sc.banners[i]
			s := len(sc.sizes)
			if bn.W != nil && bn.H != nil && *bn.W > 0 && *bn.H > 0 {
				sc.sizes = append(sc.sizes, auction.Size{W: int(*bn.W), H: int(*bn.H)})
			}
			for _, f := range bn.Format {
				if f.W > 0 && f.H > 0 {
					sc.sizes = append(sc.sizes, auction.Size{W: int(f.W), H: int(f.H)})
				}
			}
			*bs = auction.BannerSlot{Sizes: sc.sizes[s:len(sc.sizes):len(sc.sizes)], Mimes: bn.MIMEs, BAttr: attrs(bn.BAttr)}
			ri.Banner = bs
		}
		if v := imp.Video; v != nil {
			ms := &sc.videos[i]
			*ms = auction.MediaSlot{Mimes: v.MIMEs, MinDur: int(v.MinDuration), MaxDur: int(v.MaxDuration),
				RqdDurs: durs(v.RqdDurs), PodDur: int(v.PodDur), BAttr: attrs(v.BAttr)}
			if v.W != nil && v.H != nil {
				ms.W, ms.H = int(*v.W), int(*v.H)
			}
			ri.Video = ms
		}
		if a := imp.Audio; a != nil {
			ms := &sc.audios[i]
			*ms = auction.MediaSlot{Mimes: a.MIMEs, MinDur: int(a.MinDuration), MaxDur: int(a.MaxDuration),
				RqdDurs: durs(a.RqdDurs), PodDur: int(a.PodDur), BAttr: attrs(a.BAttr)}
			ri.Audio = ms
		}
		// A native imp whose request is not JSON cannot be answered.
		if nt := imp.Native; nt != nil && nt.Request != "" && fastjson.Validate(nt.Request) == nil {
			ns := &sc.natives[i]
			*ns = auction.NativeSlot{BAttr: attrs(nt.BAttr)}
			ri.Native = ns
		}
		if pmp := imp.PMP; pmp != nil {
			ri.Private = pmp.PrivateAuction == 1
			s := len(sc.deals)
			for _, d := range pmp.Deals {
				if d.ID == "" || len(d.WSeat) > 0 && !slices.Contains(d.WSeat, seat) {
					continue
				}
				sc.deals = append(sc.deals, auction.Deal{ID: d.ID, Floor: d.BidFloor, FloorCur: d.BidFloorCur, AT: int(d.AT)})
			}
			ri.Deals = sc.deals[s:len(sc.deals):len(sc.deals)]
		}
		sc.imps = append(sc.imps, ri)
	}
	sc.breq.Imps = sc.imps
}
