package auction

import (
	"strings"

	"github.com/tailor-dev/tailor/campaign"
)

// fitCreative picks the first of the candidate's creatives that the imp
// accepts and the request does not block, with the size and duration it would
// serve at.
func (a *Auction) fitCreative(cd *adCand, imp *Imp, req *BidRequest) bool {
	for i := range cd.c.Creatives {
		cr := &cd.c.Creatives[i]
		if w, h, dur, ok := fits(cr, imp, req); ok {
			cd.cr, cd.w, cd.h, cd.du = cr, w, h, dur
			return true
		}
	}
	return false
}

// defaultBannerMimes are the MIME types of banner markup that declares none.
var defaultBannerMimes = []string{"text/html"}

// fits reports whether creative cr may serve on imp of req, and at what size
// and duration.
func fits(cr *campaign.LiveCreative, imp *Imp, req *BidRequest) (w, h, dur int, ok bool) {
	if imp.Secure && !cr.Secure {
		return 0, 0, 0, false
	}
	if !categoriesAllowed(cr, req) {
		return 0, 0, 0, false
	}
	var battr []int
	switch cr.Format {
	case campaign.FormatBanner:
		b := imp.Banner
		if b == nil {
			return 0, 0, 0, false
		}
		battr = b.BAttr
		mimes := cr.Mimes
		if len(mimes) == 0 {
			mimes = defaultBannerMimes
		}
		if len(b.Mimes) > 0 && !intersects(mimes, b.Mimes) {
			return 0, 0, 0, false
		}
		switch {
		case cr.AnySize && len(b.Sizes) > 0:
			w, h = b.Sizes[0].W, b.Sizes[0].H
		case cr.AnySize && req.DeviceW > 0 && req.DeviceH > 0:
			w, h = req.DeviceW, req.DeviceH
		case len(b.Sizes) > 0:
			for _, s := range b.Sizes {
				if s.W == cr.W && s.H == cr.H {
					w, h = s.W, s.H
					break
				}
			}
		case req.DeviceW > 0 && req.DeviceH > 0 && cr.W <= req.DeviceW && cr.H <= req.DeviceH:
			// A slot without sizes (an interstitial): anything the screen holds.
			w, h = cr.W, cr.H
		}
		if w == 0 || h == 0 {
			return 0, 0, 0, false
		}
	case campaign.FormatVideo, campaign.FormatAudio:
		m := imp.Video
		if cr.Format == campaign.FormatAudio {
			m = imp.Audio
		}
		if m == nil || !intersects(cr.Mimes, m.Mimes) || !durationFits(cr.Duration, m) {
			return 0, 0, 0, false
		}
		battr = m.BAttr
		dur = cr.Duration
		if cr.Format == campaign.FormatVideo {
			w, h = cr.W, cr.H
			if w == 0 || h == 0 {
				w, h = m.W, m.H
			}
		}
	case campaign.FormatNative:
		if imp.Native == nil {
			return 0, 0, 0, false
		}
		battr = imp.Native.BAttr
	default:
		return 0, 0, 0, false
	}
	for _, a := range cr.Attr {
		for _, b := range battr {
			if a == b {
				return 0, 0, 0, false
			}
		}
	}
	return w, h, dur, true
}

func durationFits(d int, m *MediaSlot) bool {
	if len(m.RqdDurs) > 0 {
		for _, r := range m.RqdDurs {
			if r == d {
				return true
			}
		}
		return false
	}
	if d < m.MinDur || m.MaxDur > 0 && d > m.MaxDur {
		return false
	}
	return m.PodDur <= 0 || d <= m.PodDur
}

// categoriesAllowed checks a creative's categories against the request's
// blocked (bcat) and allowed (acat) lists. A list in another taxonomy than the
// creative's cannot be checked, and a creative without categories cannot be
// shown to pass one: either way the creative stays out.
func categoriesAllowed(cr *campaign.LiveCreative, req *BidRequest) bool {
	if len(req.BCat) == 0 && len(req.ACat) == 0 {
		return true
	}
	tax := req.CatTax
	if tax == 0 {
		tax = 1
	}
	if len(cr.Cat) == 0 || cr.CatTax != tax {
		return false
	}
	for _, cat := range cr.Cat {
		for _, b := range req.BCat {
			if categoryUnder(cat, b) {
				return false
			}
		}
		if len(req.ACat) > 0 {
			allowed := false
			for _, ok := range req.ACat {
				if categoryUnder(cat, ok) {
					allowed = true
					break
				}
			}
			if !allowed {
				return false
			}
		}
	}
	return true
}

// categoryUnder reports whether cat is parent or one of its subcategories
// ("IAB17-3" is under "IAB17").
func categoryUnder(cat, parent string) bool {
	if len(cat) < len(parent) || !strings.EqualFold(cat[:len(parent)], parent) {
		return false
	}
	return len(cat) == len(parent) || cat[len(parent)] == '-'
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(x, y) {
				return true
			}
		}
	}
	return false
}
