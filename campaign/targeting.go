package campaign

import (
	"math/bits"
	"slices"
	"strings"
	"time"
)

// bitset is a set of campaign ordinals.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) andNot(o bitset) {
	for i := range b {
		b[i] &^= o[i]
	}
}

// next returns the first member at or after i, or -1.
func (b bitset) next(i int) int {
	if i < 0 {
		i = 0
	}
	w := i >> 6
	if w >= len(b) {
		return -1
	}
	word := b[w] >> (uint(i) & 63)
	if word != 0 {
		return i + bits.TrailingZeros64(word)
	}
	for w++; w < len(b); w++ {
		if b[w] != 0 {
			return w<<6 + bits.TrailingZeros64(b[w])
		}
	}
	return -1
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// dim is one targeting dimension: the campaigns that do not restrict it and,
// for each value, the campaigns that allow it.
type dim struct {
	any  bitset
	vals map[string]bitset
}

func newDim(n int) dim { return dim{any: newBitset(n), vals: map[string]bitset{}} }

func (d *dim) add(key string, ord, n int) {
	b, ok := d.vals[key]
	if !ok {
		b = newBitset(n)
		d.vals[key] = b
	}
	b.set(ord)
}

// intersect narrows dst to the campaigns that match value v of the dimension.
func (d *dim) intersect(dst, tmp bitset, v string) {
	b, ok := d.vals[v]
	if !ok || v == "" {
		dst.and(d.any)
		return
	}
	copy(tmp, d.any)
	tmp.or(b)
	dst.and(tmp)
}

// phrase is one distinct keyword phrase, posted under its first term, with
// the campaigns that target it. Campaigns often share phrases, so matching
// costs one check per distinct phrase, not one per campaign.
type phrase struct {
	rest  []string // the terms after the first
	camps []int32  // ordinals, increasing
}

// hourZone holds, for the campaigns of one time zone with hour targeting,
// which campaigns allow each hour of the week.
type hourZone struct {
	loc   *time.Location
	hours [168]bitset
}

// targeting is an index of campaigns by everything they target, so that the
// campaigns matching a request are found with a few dozen word-wide set
// operations rather than by looking at each campaign.
type targeting struct {
	n         int
	active    bitset
	formats   [numFormats]bitset
	country   dim
	region    dim
	os        dim
	segment   dim
	interest  dim
	site      dim
	app       dim
	deviceAny bitset
	device    [maxDeviceType + 1]bitset
	siteDeny  map[string]bitset
	appDeny   map[string]bitset
	kwAny     bitset
	keywords  map[string][]*phrase
	hoursAny  bitset
	zones     []*hourZone
	open      bitset // campaigns that bid in the open auction (no deal targeting)
	deals     map[string]bitset
	adomain   map[string]bitset // by each advertiser domain and its parents
	bundle    map[string]bitset
	segments  []string // the segments active campaigns target, sorted
}

func buildTargeting(live []*Live) *targeting {
	n := len(live)
	x := &targeting{
		n: n, active: newBitset(n),
		country: newDim(n), region: newDim(n), os: newDim(n), segment: newDim(n), interest: newDim(n),
		site: newDim(n), app: newDim(n), deviceAny: newBitset(n),
		siteDeny: map[string]bitset{}, appDeny: map[string]bitset{},
		kwAny: newBitset(n), keywords: map[string][]*phrase{}, hoursAny: newBitset(n),
		open: newBitset(n), deals: map[string]bitset{}, adomain: map[string]bitset{}, bundle: map[string]bitset{},
	}
	for f := range x.formats {
		x.formats[f] = newBitset(n)
	}
	for d := range x.device {
		x.device[d] = newBitset(n)
	}
	post := func(m map[string]bitset, key string, ord int) {
		b, ok := m[key]
		if !ok {
			b = newBitset(n)
			m[key] = b
		}
		b.set(ord)
	}
	list := func(d *dim, vals []string, ord int) {
		if len(vals) == 0 {
			d.any.set(ord)
			return
		}
		for _, v := range vals {
			d.add(v, ord, n)
		}
	}
	phrases := map[string]*phrase{}
	for ord, c := range live {
		if !c.Active {
			continue
		}
		x.active.set(ord)
		t := &c.Targeting
		for f := FormatBanner; f < numFormats; f++ {
			if c.Formats&f.Bit() != 0 {
				x.formats[f].set(ord)
			}
		}
		list(&x.country, t.Countries, ord)
		list(&x.region, t.Regions, ord)
		list(&x.os, t.OS, ord)
		list(&x.segment, t.Segments, ord)
		list(&x.interest, c.Interests, ord)
		if len(t.DeviceTypes) == 0 {
			x.deviceAny.set(ord)
		}
		for _, name := range t.DeviceTypes {
			dts, _ := deviceTypes(name)
			for _, dt := range dts {
				x.device[dt].set(ord)
			}
		}
		if t.Sites != nil && len(t.Sites.Allow) > 0 {
			list(&x.site, t.Sites.Allow, ord)
		} else {
			x.site.any.set(ord)
		}
		if t.Sites != nil {
			for _, d := range t.Sites.Deny {
				post(x.siteDeny, d, ord)
			}
		}
		if t.Apps != nil && len(t.Apps.Allow) > 0 {
			list(&x.app, t.Apps.Allow, ord)
		} else {
			x.app.any.set(ord)
		}
		if t.Apps != nil {
			for _, b := range t.Apps.Deny {
				post(x.appDeny, b, ord)
			}
		}
		if len(c.Phrases) == 0 {
			x.kwAny.set(ord)
		}
		for _, p := range c.Phrases {
			key := strings.Join(p, " ")
			ph, ok := phrases[key]
			if !ok {
				ph = &phrase{rest: p[1:]}
				phrases[key] = ph
				x.keywords[p[0]] = append(x.keywords[p[0]], ph)
			}
			if k := len(ph.camps); k == 0 || ph.camps[k-1] != int32(ord) {
				ph.camps = append(ph.camps, int32(ord))
			}
		}
		if len(t.Hours) == 0 {
			x.hoursAny.set(ord)
		} else {
			z := x.zone(c.Loc)
			for _, h := range t.Hours {
				z.hours[h].set(ord)
			}
		}
		if len(t.Deals) == 0 {
			x.open.set(ord)
		}
		for _, d := range t.Deals {
			post(x.deals, d, ord)
		}
		for _, d := range c.ADomains {
			ParentDomains(d, func(p string) bool {
				post(x.adomain, p, ord)
				return true
			})
		}
		if c.bundleLower != "" {
			post(x.bundle, c.bundleLower, ord)
		}
	}
	for seg := range x.segment.vals {
		x.segments = append(x.segments, seg)
	}
	slices.Sort(x.segments)
	return x
}

// TargetedSegments returns the segments active campaigns target, sorted, so
// that a bidder works out only the memberships that can matter. The slice is
// shared: do not modify it.
func (s *Set) TargetedSegments() []string { return s.targeting.segments }

// TargetsSegment reports whether an active campaign targets segment seg.
func (s *Set) TargetsSegment(seg string) bool {
	_, ok := s.targeting.segment.vals[seg]
	return ok
}

func (x *targeting) zone(loc *time.Location) *hourZone {
	for _, z := range x.zones {
		if z.loc == loc || z.loc.String() == loc.String() {
			return z
		}
	}
	z := &hourZone{loc: loc}
	for h := range z.hours {
		z.hours[h] = newBitset(x.n)
	}
	x.zones = append(x.zones, z)
	return z
}

// HourOfWeek returns the hour of the week of t in loc: 0 is Monday 00:00 to
// 00:59, 167 is Sunday 23:00 to 23:59.
func HourOfWeek(t time.Time, loc *time.Location) int {
	t = t.In(loc)
	wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
	return wd*24 + t.Hour()
}

// Query is what a bid request says about where an ad would show and to whom,
// as plain values. Empty fields match only campaigns that do not target them.
type Query struct {
	Country    string // ISO 3166-1 alpha-3 (CanonicalCountry)
	Region     string // ISO 3166-2 ("US-CA", CanonicalRegion)
	DeviceType int    // OpenRTB device type; 0 unknown
	OS         string // CanonicalOS
	Site       string // CanonicalDomain of the site; "" for apps
	App        string // app bundle, lowercase; "" for sites
	Segments   []string
	// Interests are the user's strong category keys ("Sports/Running/Shoes");
	// each also matches campaigns that target one of its ancestors.
	Interests []string
	// Terms are the terms (AppendTerms) of the user's recent searches and of
	// the page's keywords; a keyword phrase matches when all its terms are here.
	Terms []string
	// BlockedDomains are the canonical domains of badv; a campaign with an
	// advertiser domain equal to or under one of them is left out.
	BlockedDomains []string
	// BlockedApps are the lowercase bundles of bapp.
	BlockedApps []string
	Now         time.Time
}

// MatchScratch is the working memory of matching; reuse one per goroutine.
type MatchScratch struct {
	req, imp, tmp, tmp2 bitset
	terms               map[string]struct{}
}

func (sc *MatchScratch) size(n int) {
	w := (n + 63) / 64
	if cap(sc.req) < w {
		sc.req, sc.imp, sc.tmp, sc.tmp2 = make(bitset, w), make(bitset, w), make(bitset, w), make(bitset, w)
	}
	sc.req, sc.imp, sc.tmp, sc.tmp2 = sc.req[:w], sc.imp[:w], sc.tmp[:w], sc.tmp2[:w]
	if sc.terms == nil {
		sc.terms = map[string]struct{}{}
	}
}

// Next returns the ordinal of the next campaign matched by the last MatchImp
// after ord (pass -1 for the first), or -1 when there are no more. Ordinals
// come in increasing order, which is the set's Order.
func (sc *MatchScratch) Next(ord int) int { return sc.imp.next(ord + 1) }

// Matched returns how many campaigns the last MatchImp matched.
func (sc *MatchScratch) Matched() int { return sc.imp.count() }

// MatchRequest finds the active campaigns whose targeting matches everything
// in q, the part of a bid request shared by its imps. Follow it with MatchImp
// for each imp.
func (s *Set) MatchRequest(q *Query, sc *MatchScratch) {
	x := s.targeting
	sc.size(x.n)
	r, tmp := sc.req, sc.tmp
	copy(r, x.active)
	x.country.intersect(r, tmp, q.Country)
	x.region.intersect(r, tmp, q.Region)
	x.os.intersect(r, tmp, q.OS)
	x.app.intersect(r, tmp, q.App)
	// Sites: an allowed domain covers its subdomains.
	copy(tmp, x.site.any)
	if q.Site != "" {
		ParentDomains(q.Site, func(d string) bool {
			if b, ok := x.site.vals[d]; ok {
				tmp.or(b)
			}
			return true
		})
	}
	r.and(tmp)

	copy(tmp, x.deviceAny)
	if q.DeviceType > 0 && q.DeviceType <= maxDeviceType {
		tmp.or(x.device[q.DeviceType])
	}
	r.and(tmp)

	if q.Site != "" {
		ParentDomains(q.Site, func(d string) bool {
			if b, ok := x.siteDeny[d]; ok {
				r.andNot(b)
			}
			return true
		})
	}
	if q.App != "" {
		if b, ok := x.appDeny[q.App]; ok {
			r.andNot(b)
		}
	}
	for _, d := range q.BlockedDomains {
		if b, ok := x.adomain[d]; ok {
			r.andNot(b)
		}
	}
	for _, a := range q.BlockedApps {
		if b, ok := x.bundle[a]; ok {
			r.andNot(b)
		}
	}

	// Hours of the week, in each campaign's own time zone.
	copy(tmp, x.hoursAny)
	for _, z := range x.zones {
		tmp.or(z.hours[HourOfWeek(q.Now, z.loc)])
	}
	r.and(tmp)

	// Sets the user belongs to: any one value of the campaign's list matches.
	copy(tmp, x.segment.any)
	for _, seg := range q.Segments {
		if b, ok := x.segment.vals[seg]; ok {
			tmp.or(b)
		}
	}
	r.and(tmp)

	copy(tmp, x.interest.any)
	for _, key := range q.Interests {
		// The key and each of its ancestors: interest in "Sports/Running/Shoes"
		// is interest below "Sports/Running" and "Sports".
		for i := 0; i <= len(key); i++ {
			if i == len(key) || key[i] == '/' {
				if b, ok := x.interest.vals[key[:i]]; ok {
					tmp.or(b)
				}
			}
		}
	}
	r.and(tmp)

	copy(tmp, x.kwAny)
	if len(x.keywords) > 0 && len(q.Terms) > 0 {
		clear(sc.terms)
		for _, t := range q.Terms {
			sc.terms[t] = struct{}{}
		}
		for t := range sc.terms {
			for _, p := range x.keywords[t] {
				all := true
				for _, pt := range p.rest {
					if _, ok := sc.terms[pt]; !ok {
						all = false
						break
					}
				}
				if all {
					for _, ord := range p.camps {
						tmp.set(int(ord))
					}
				}
			}
		}
	}
	r.and(tmp)
}

// MatchImp narrows the campaigns of the last MatchRequest to those that have
// a creative in one of formats (a set of Format.Bit) and may bid on this imp:
// through one of deals, or in the open auction when open is true.
func (s *Set) MatchImp(formats uint8, deals []string, open bool, sc *MatchScratch) {
	x := s.targeting
	r, tmp := sc.imp, sc.tmp
	clear(tmp)
	for f := FormatBanner; f < numFormats; f++ {
		if formats&f.Bit() != 0 {
			tmp.or(x.formats[f])
		}
	}
	copy(r, sc.req)
	r.and(tmp)
	clear(tmp)
	if open {
		copy(tmp, x.open)
	}
	for _, d := range deals {
		if b, ok := x.deals[d]; ok {
			tmp.or(b)
		}
	}
	r.and(tmp)
}

// DealFor returns the first of deals that c targets, or "" when none is.
func DealFor(c *Live, deals []string) string {
	for _, d := range deals {
		for _, cd := range c.Targeting.Deals {
			if d == cd {
				return d
			}
		}
	}
	return ""
}
