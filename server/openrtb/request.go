package openrtb

import (
	"slices"
	"strings"
	"time"

	"github.com/prebid/openrtb/v20/adcom1"
	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/deadline"
)

// Request is the pooled working memory of one bid request: the auction's
// request filled from it, the auction's result, and the buffers both and the
// response are built in. Reuse one across requests.
type Request struct {
	// Bid is the request as the auction takes it, set by Fill.
	Bid auction.BidRequest
	// Result is where the auction puts its bids.
	Result auction.BidResult
	// Signals are the request's privacy and supply-chain signals, read by
	// Fill.
	Signals Signals
	// Segments holds the user's segments for Bid.Segments; Fill empties it.
	Segments []string

	imps    []auction.Imp
	banners []auction.BannerSlot
	videos  []auction.MediaSlot
	audios  []auction.MediaSlot
	natives []auction.NativeSlot
	sizes   []auction.Size
	ints    []int
	deals   []auction.Deal
	terms   []string
	badv    []string
	bapp    []string
	tok     []byte
	raw     []byte
	adm     []byte
	crid    []byte
}

// Options are what decoding a bid request depends on.
type Options struct {
	// MaxImps bounds the imps of a request; more make it invalid.
	MaxImps int
	// Seat is the seat the bidder bids as: deals whose wseat names others are
	// ignored.
	Seat string
	// GDPRVendorID is the bidder's IAB Global Vendor List id; when set, TCF
	// consent must also name it for the profile to be used.
	GDPRVendorID uint16
}

// Valid checks what OpenRTB requires of a request's structure, and that it
// has at most o.MaxImps imps; a request that fails is answered 400.
func (o *Options) Valid(r *openrtb2.BidRequest) bool {
	if r.ID == "" || len(r.Imp) == 0 || len(r.Imp) > o.MaxImps {
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

// Fill converts the decoded request into the auction's plain values in
// sc.Bid, reads its signals into sc.Signals, and reports whether privacy
// rules let the user's profile be used (see Personal); only then is
// sc.Bid.User set.
func (o *Options) Fill(sc *Request, req *openrtb2.BidRequest, dl deadline.Deadline, now time.Time) bool {
	br := &sc.Bid
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
	o.fillImps(sc, req)

	// Who, and what privacy rules allow about them.
	sc.Signals.read(req)
	personal := Personal(&sc.Signals, br.Country, o.GDPRVendorID)
	if personal && req.User != nil {
		br.User = req.User.BuyerUID
		if br.User == "" {
			br.User = req.User.ID
		}
	}
	sc.Segments = sc.Segments[:0]
	return personal
}

func (o *Options) fillImps(sc *Request, req *openrtb2.BidRequest) {
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
	seat := o.Seat
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
	sc.Bid.Imps = sc.imps
}
