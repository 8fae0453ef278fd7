package campaign

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/ident"
)

// Limits on the fields of a campaign.
const (
	MaxIDBytes         = 128
	MaxCreatives       = 50
	MaxItems           = 1000
	MaxTargetingValues = 1000
	MaxAdmBytes        = 64 << 10
	MaxFrequencyWindow = 90 * 24 * time.Hour
	// MaxMoney bounds every money amount of a campaign, in its currency.
	MaxMoney = 1e9
)

// FieldError names the field of a campaign that is wrong and why.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Campaign is an advertiser's campaign as the API takes, stores and returns
// it. Money amounts are decimal numbers in Budget.Currency; prices are per
// thousand impressions (CPM) except CPC, which is per click.
type Campaign struct {
	ID           string        `json:"id"`
	Advertiser   string        `json:"advertiser"`
	ADomain      []string      `json:"adomain"`
	Bundle       string        `json:"bundle,omitempty"` // the advertised app, checked against bapp
	Status       string        `json:"status,omitempty"` // "active" (default) or "paused"
	Start        string        `json:"start,omitempty"`  // RFC 3339; no bids before
	End          string        `json:"end,omitempty"`    // RFC 3339; no bids from then on
	Timezone     string        `json:"timezone,omitempty"`
	Budget       Budget        `json:"budget"`
	Pacing       string        `json:"pacing,omitempty"` // "even" (default) or "asap"
	Bid          BidSpec       `json:"bid"`
	FrequencyCap *FrequencyCap `json:"frequency_cap,omitempty"`
	Targeting    Targeting     `json:"targeting"`
	Creatives    []Creative    `json:"creatives,omitempty"`
	Items        []string      `json:"items,omitempty"`
}

// DeviceTypes are device types by name ("phone", see deviceTypeNames) or by
// OpenRTB number (4), in JSON as strings or numbers.
type DeviceTypes []string

// UnmarshalJSON reads an array of names and numbers.
func (d *DeviceTypes) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(DeviceTypes, 0, len(raw))
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out = append(out, s)
			continue
		}
		var n int
		if err := json.Unmarshal(r, &n); err != nil {
			return &json.UnmarshalTypeError{Value: string(r), Type: reflect.TypeOf(""), Field: "device_types"}
		}
		out = append(out, strconv.Itoa(n))
	}
	*d = out
	return nil
}

// MarshalJSON writes numbers as numbers and names as strings.
func (d DeviceTypes) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, s := range d {
		if i > 0 {
			b = append(b, ',')
		}
		if _, err := strconv.Atoi(s); err == nil {
			b = append(b, s...)
		} else {
			b = strconv.AppendQuote(b, s)
		}
	}
	return append(b, ']'), nil
}

// Budget is how much a campaign may spend, per day (of its time zone) and in
// total. Zero means no limit of that kind; at least one must be set.
type Budget struct {
	Daily    float64 `json:"daily,omitempty"`
	Total    float64 `json:"total,omitempty"`
	Currency string  `json:"currency"`
}

// BidSpec is how a campaign prices an impression: a fixed CPM, or a price per
// click turned into a CPM by the predicted click-through rate. MaxCPM bounds
// every bid.
type BidSpec struct {
	Strategy string  `json:"strategy"` // "cpm" or "cpc"
	MaxCPM   float64 `json:"max_cpm"`
	CPC      float64 `json:"cpc,omitempty"`
}

// FrequencyCap bounds the billed impressions one user sees of a campaign in a
// sliding window.
type FrequencyCap struct {
	Impressions int    `json:"impressions"`
	Per         string `json:"per"` // a duration: "30m", "24h", "7d"
}

// AllowDeny is an allow list and a deny list; an empty allow list allows all.
type AllowDeny struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Targeting restricts where a campaign bids. Every dimension given must match;
// within a dimension any one value matches. Absent dimensions match anything.
type Targeting struct {
	Countries   []string    `json:"countries,omitempty"` // ISO 3166-1 alpha-2 or alpha-3
	Regions     []string    `json:"regions,omitempty"`   // ISO 3166-2: "US-CA"
	DeviceTypes DeviceTypes `json:"device_types,omitempty"`
	OS          []string    `json:"os,omitempty"`        // "ios", "android", "windows", "macos", ...
	Sites       *AllowDeny  `json:"sites,omitempty"`     // domains; a domain covers its subdomains
	Apps        *AllowDeny  `json:"apps,omitempty"`      // app bundles
	Segments    []string    `json:"segments,omitempty"`  // "active", "tier:champions", "audience:NAME", "<data id>:<segment id>"
	Interests   [][]string  `json:"interests,omitempty"` // category paths
	Keywords    []string    `json:"keywords,omitempty"`  // phrases; every term of one must appear
	Hours       []int       `json:"hours,omitempty"`     // hours of the week, 0 = Monday 00:00-00:59
	Deals       []string    `json:"deals,omitempty"`     // bid only through these deals
}

// Creative is one ad of a campaign. Adm is the markup, with macros filled in
// at bid time (see Macro); the exchange's own ${AUCTION_*} macros are left for
// it.
type Creative struct {
	ID       string   `json:"id"`
	Format   string   `json:"format"` // "banner", "video", "audio" or "native"
	W        int      `json:"w,omitempty"`
	H        int      `json:"h,omitempty"`
	Mimes    []string `json:"mimes,omitempty"`
	Duration int      `json:"duration,omitempty"` // seconds, video and audio
	Adm      string   `json:"adm"`
	IURL     string   `json:"iurl,omitempty"`
	Cat      []string `json:"cat,omitempty"`
	CatTax   int      `json:"cattax,omitempty"` // taxonomy of Cat; default 1 (IAB Content Category 1.0)
	Attr     []int    `json:"attr,omitempty"`
}

// Format is a creative's media type; its value is the OpenRTB 2.6 mtype.
type Format uint8

// Formats, numbered as OpenRTB 2.6 bid.mtype.
const (
	FormatBanner Format = 1
	FormatVideo  Format = 2
	FormatAudio  Format = 3
	FormatNative Format = 4
	numFormats          = 5
)

var formatNames = [numFormats]string{"", "banner", "video", "audio", "native"}

// String returns the format's name as campaigns spell it.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// Bit returns f as a bit of a format set.
func (f Format) Bit() uint8 { return 1 << f }

func parseFormat(s string) (Format, bool) {
	for f := FormatBanner; f < numFormats; f++ {
		if formatNames[f] == s {
			return f, true
		}
	}
	return 0, false
}

// Validate checks a campaign and returns a *FieldError for the first field
// that is wrong, named by its path ("creatives[0].w").
func (c *Campaign) Validate() error {
	_, err := compile(c)
	return err
}

// Micros converts a decimal amount of money to integer millionths.
func Micros(x float64) int64 { return int64(math.Round(x * 1e6)) }

// Live is a validated campaign compiled for bidding. It is immutable.
type Live struct {
	Campaign           // as stored, with defaults filled in
	Active      bool   // status is active
	Currency    string // of every amount below
	Daily       int64  // micros; 0 = no daily limit
	Total       int64  // micros; 0 = no total limit
	MaxCPM      int64  // micros per thousand impressions
	CPC         int64  // micros per click; 0 for a CPM campaign
	Even        bool   // even pacing
	Loc         *time.Location
	Start, End  int64 // Unix ms; 0 = open
	FreqImps    int   // 0 = no cap
	FreqPer     time.Duration
	ADomains    []string // canonical
	Interests   []string // category keys ("Sports/Running")
	Phrases     [][]string
	Creatives   []LiveCreative
	Formats     uint8 // set of Format.Bit of its creatives
	bundleLower string

	itemOrds atomic.Pointer[[]int32] // Items resolved, on first need
}

// ItemOrdinals returns the catalog ordinals of the campaign's items, in
// order, resolving them with resolve the first time it is called: a Live
// campaign does not change, and an item's ordinal is its own for good.
func (c *Live) ItemOrdinals(resolve func(ids []string, dst []int32) []int32) []int32 {
	if p := c.itemOrds.Load(); p != nil {
		return *p
	}
	ords := resolve(c.Items, make([]int32, 0, len(c.Items)))
	c.itemOrds.Store(&ords)
	return ords
}

// Flight reports whether now (Unix ms) is within the campaign's start and end.
func (c *Live) Flight(now int64) bool {
	return (c.Start == 0 || now >= c.Start) && (c.End == 0 || now < c.End)
}

// LiveCreative is a creative compiled for bidding.
type LiveCreative struct {
	ID       string
	Format   Format
	W, H     int
	Mimes    []string // lowercase
	Duration int
	Adm      Template
	IURL     string
	Cat      []string
	CatTax   int
	Attr     []int
	// Secure reports whether the markup and image load nothing over plain
	// http, so that the creative may serve on a secure imp.
	Secure bool
	// AnySize marks a banner that adapts to whatever size the imp offers
	// (the built-in banner of a sponsored-product campaign).
	AnySize bool
}

func compile(in *Campaign) (*Live, error) {
	bad := func(field, msg string) error { return &FieldError{Field: field, Message: msg} }
	c := &Live{Campaign: in.clone()}
	d := &c.Campaign
	switch {
	case d.ID == "":
		return nil, bad("id", "is required")
	case len(d.ID) > MaxIDBytes:
		return nil, bad("id", fmt.Sprintf("is longer than %d bytes", MaxIDBytes))
	case !validID(d.ID) || !ident.Valid(d.ID):
		return nil, bad("id", `may hold only letters, digits and . _ : -, and is not "." or ".."`)
	case d.Advertiser == "":
		return nil, bad("advertiser", "is required")
	case len(d.Advertiser) > index.MaxTitleBytes || !utf8.ValidString(d.Advertiser):
		return nil, bad("advertiser", "must be UTF-8 of at most 1024 bytes")
	case len(d.ADomain) == 0:
		return nil, bad("adomain", "needs at least one advertiser domain (exchanges block by it)")
	case len(d.ADomain) > 16:
		return nil, bad("adomain", "has more than 16 domains")
	}
	for i, dom := range d.ADomain {
		cd := CanonicalDomain(dom)
		if !validDomain(cd) {
			return nil, bad(fmt.Sprintf("adomain[%d]", i), "is not a domain")
		}
		c.ADomains = append(c.ADomains, cd)
	}
	if len(d.Bundle) > 256 || !utf8.ValidString(d.Bundle) {
		return nil, bad("bundle", "must be UTF-8 of at most 256 bytes")
	}
	c.bundleLower = strings.ToLower(d.Bundle)
	switch d.Status {
	case "":
		d.Status = "active"
		c.Active = true
	case "active":
		c.Active = true
	case "paused":
	default:
		return nil, bad("status", `must be "active" or "paused"`)
	}
	c.Loc = time.UTC
	if d.Timezone != "" {
		loc, err := loadLocation(d.Timezone)
		if err != nil || len(d.Timezone) > 64 {
			return nil, bad("timezone", "is not a known IANA time zone")
		}
		c.Loc = loc
	}
	for _, f := range []struct {
		name string
		v    string
		dst  *int64
	}{{"start", d.Start, &c.Start}, {"end", d.End, &c.End}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			return nil, bad(f.name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		*f.dst = t.UnixMilli()
	}
	if c.Start != 0 && c.End != 0 && c.End <= c.Start {
		return nil, bad("end", "must be after start")
	}

	// Money.
	b := &d.Budget
	switch {
	case !validCurrency(b.Currency):
		return nil, bad("budget.currency", "must be an ISO 4217 code such as USD")
	case !validMoney(b.Daily):
		return nil, bad("budget.daily", "must be a non-negative amount")
	case !validMoney(b.Total):
		return nil, bad("budget.total", "must be a non-negative amount")
	case b.Daily == 0 && b.Total == 0:
		return nil, bad("budget.daily", "or budget.total is required")
	case b.Total > 0 && b.Daily > b.Total:
		return nil, bad("budget.daily", "is more than budget.total")
	}
	c.Currency = b.Currency
	c.Daily, c.Total = Micros(b.Daily), Micros(b.Total)
	switch d.Pacing {
	case "":
		d.Pacing = "even"
		c.Even = true
	case "even":
		c.Even = true
	case "asap":
	default:
		return nil, bad("pacing", `must be "even" or "asap"`)
	}
	if c.Even && c.Daily == 0 {
		return nil, bad("budget.daily", "is required for even pacing")
	}
	bs := &d.Bid
	switch {
	case !validMoney(bs.MaxCPM) || bs.MaxCPM == 0:
		return nil, bad("bid.max_cpm", "must be a positive amount")
	case !validMoney(bs.CPC):
		return nil, bad("bid.cpc", "must be a non-negative amount")
	}
	c.MaxCPM = Micros(bs.MaxCPM)
	switch bs.Strategy {
	case "cpm":
		if bs.CPC != 0 {
			return nil, bad("bid.cpc", `is only for strategy "cpc"`)
		}
	case "cpc":
		if bs.CPC == 0 {
			return nil, bad("bid.cpc", `is required for strategy "cpc"`)
		}
		c.CPC = Micros(bs.CPC)
	default:
		return nil, bad("bid.strategy", `must be "cpm" or "cpc"`)
	}
	if fc := d.FrequencyCap; fc != nil {
		per, err := parseWindow(fc.Per)
		switch {
		case fc.Impressions < 1 || fc.Impressions > 1000:
			return nil, bad("frequency_cap.impressions", "must be between 1 and 1000")
		case err != nil || per < time.Minute || per > MaxFrequencyWindow:
			return nil, bad("frequency_cap.per", `must be a duration between 1m and 90d, such as "24h" or "7d"`)
		}
		c.FreqImps, c.FreqPer = fc.Impressions, per
	}
	if err := compileTargeting(c); err != nil {
		return nil, err
	}

	// Ads.
	if len(d.Creatives) == 0 && len(d.Items) == 0 {
		return nil, bad("creatives", "needs at least one creative, or items for a sponsored-product campaign")
	}
	if len(d.Creatives) > MaxCreatives {
		return nil, bad("creatives", fmt.Sprintf("has more than %d creatives", MaxCreatives))
	}
	if len(d.Items) > MaxItems {
		return nil, bad("items", fmt.Sprintf("has more than %d items", MaxItems))
	}
	for i, id := range d.Items {
		if id == "" || len(id) > ident.MaxBytes || !utf8.ValidString(id) {
			return nil, bad(fmt.Sprintf("items[%d]", i), "must be a catalog item id")
		}
	}
	seen := map[string]bool{}
	for i := range d.Creatives {
		lc, err := compileCreative(&d.Creatives[i], fmt.Sprintf("creatives[%d].", i))
		if err != nil {
			return nil, err
		}
		if seen[lc.ID] {
			return nil, bad(fmt.Sprintf("creatives[%d].id", i), "repeats another creative's id")
		}
		seen[lc.ID] = true
		c.Creatives = append(c.Creatives, lc)
		c.Formats |= lc.Format.Bit()
	}
	if len(c.Creatives) == 0 {
		c.Creatives = []LiveCreative{sponsoredBanner(c.ADomains[0])}
		c.Formats = FormatBanner.Bit()
	}
	return c, nil
}

// sponsoredBanner is the creative of a sponsored-product campaign that brings
// none of its own: a plain HTML banner of the item that fits any size.
func sponsoredBanner(domain string) LiveCreative {
	adm := `<a href="https://` + domain + `/?item={{ITEM_ID}}" target="_blank" rel="noopener" ` +
		`style="display:block;box-sizing:border-box;width:{{WIDTH}}px;height:{{HEIGHT}}px;overflow:hidden;padding:8px;` +
		`font:14px/1.3 sans-serif;color:#222;background:#fff;text-decoration:none">` +
		`<strong>{{ITEM_TITLE}}</strong><br>{{ITEM_BRAND}} {{ITEM_PRICE}}<br><small>Sponsored</small></a>`
	return LiveCreative{ID: "sponsored", Format: FormatBanner, Adm: ParseTemplate(adm), CatTax: 1, Secure: true, AnySize: true}
}

// clone returns a copy of c that shares no memory with it, so that
// normalizing the copy leaves c alone.
func (c *Campaign) clone() Campaign {
	d := *c
	d.ADomain = slices.Clone(c.ADomain)
	if c.FrequencyCap != nil {
		fc := *c.FrequencyCap
		d.FrequencyCap = &fc
	}
	t := &d.Targeting
	t.Countries = slices.Clone(t.Countries)
	t.Regions = slices.Clone(t.Regions)
	t.DeviceTypes = slices.Clone(t.DeviceTypes)
	t.OS = slices.Clone(t.OS)
	t.Segments = slices.Clone(t.Segments)
	t.Keywords = slices.Clone(t.Keywords)
	t.Hours = slices.Clone(t.Hours)
	t.Deals = slices.Clone(t.Deals)
	t.Interests = slices.Clone(t.Interests)
	for i, p := range t.Interests {
		t.Interests[i] = slices.Clone(p)
	}
	for _, ad := range []**AllowDeny{&t.Sites, &t.Apps} {
		if *ad != nil {
			v := AllowDeny{Allow: slices.Clone((*ad).Allow), Deny: slices.Clone((*ad).Deny)}
			*ad = &v
		}
	}
	d.Creatives = slices.Clone(c.Creatives)
	for i := range d.Creatives {
		cr := &d.Creatives[i]
		cr.Mimes, cr.Cat, cr.Attr = slices.Clone(cr.Mimes), slices.Clone(cr.Cat), slices.Clone(cr.Attr)
	}
	d.Items = slices.Clone(c.Items)
	return d
}

func compileCreative(cr *Creative, path string) (LiveCreative, error) {
	bad := func(field, msg string) (LiveCreative, error) {
		return LiveCreative{}, &FieldError{Field: path + field, Message: msg}
	}
	lc := LiveCreative{ID: cr.ID, W: cr.W, H: cr.H, Duration: cr.Duration, IURL: cr.IURL, Cat: cr.Cat, CatTax: cr.CatTax, Attr: cr.Attr}
	f, ok := parseFormat(cr.Format)
	switch {
	case cr.ID == "" || len(cr.ID) > MaxIDBytes || !utf8.ValidString(cr.ID):
		return bad("id", "is required, at most 128 bytes")
	case !ok:
		return bad("format", `must be "banner", "video", "audio" or "native"`)
	case cr.Adm == "":
		return bad("adm", "is required")
	case len(cr.Adm) > MaxAdmBytes || !utf8.ValidString(cr.Adm):
		return bad("adm", "must be UTF-8 of at most 64 KiB")
	case cr.W < 0 || cr.W > 10000:
		return bad("w", "must be between 0 and 10000")
	case cr.H < 0 || cr.H > 10000:
		return bad("h", "must be between 0 and 10000")
	case f == FormatBanner && (cr.W == 0 || cr.H == 0):
		return bad("w", "and h are required for a banner")
	case (f == FormatVideo || f == FormatAudio) && (cr.Duration < 1 || cr.Duration > 3600):
		return bad("duration", "is required for video and audio: seconds, 1 to 3600")
	case f != FormatVideo && f != FormatAudio && cr.Duration != 0:
		return bad("duration", "is only for video and audio")
	case (f == FormatVideo || f == FormatAudio) && len(cr.Mimes) == 0:
		return bad("mimes", "are required for video and audio")
	case len(cr.Mimes) > 16:
		return bad("mimes", "has more than 16 entries")
	case len(cr.IURL) > 2048 || !utf8.ValidString(cr.IURL):
		return bad("iurl", "must be a URL of at most 2048 bytes")
	case len(cr.Cat) > 16:
		return bad("cat", "has more than 16 categories")
	case cr.CatTax < 0 || cr.CatTax > 1000:
		return bad("cattax", "must be an OpenRTB category taxonomy number")
	case len(cr.Attr) > 32:
		return bad("attr", "has more than 32 entries")
	}
	lc.Format = f
	if lc.CatTax == 0 {
		lc.CatTax = 1
	}
	for i, m := range cr.Mimes {
		if m == "" || len(m) > 128 || !utf8.ValidString(m) {
			return bad(fmt.Sprintf("mimes[%d]", i), "must be a MIME type")
		}
		lc.Mimes = append(lc.Mimes, strings.ToLower(m))
	}
	for i, cat := range cr.Cat {
		if cat == "" || len(cat) > 64 || !utf8.ValidString(cat) {
			return bad(fmt.Sprintf("cat[%d]", i), "must be a category code such as IAB17")
		}
	}
	for i, a := range cr.Attr {
		if a < 1 || a > 1000 {
			return bad(fmt.Sprintf("attr[%d]", i), "must be an OpenRTB creative attribute number")
		}
	}
	lc.Adm = ParseTemplate(cr.Adm)
	lc.Secure = !strings.Contains(strings.ToLower(cr.Adm), "http://") && !strings.HasPrefix(strings.ToLower(cr.IURL), "http://")
	return lc, nil
}

func compileTargeting(c *Live) error {
	t := &c.Targeting
	bad := func(field, msg string) error { return &FieldError{Field: "targeting." + field, Message: msg} }
	for _, l := range []struct {
		name string
		v    []string
	}{{"countries", t.Countries}, {"regions", t.Regions}, {"device_types", t.DeviceTypes}, {"os", t.OS},
		{"segments", t.Segments}, {"keywords", t.Keywords}, {"deals", t.Deals}} {
		if len(l.v) > MaxTargetingValues {
			return bad(l.name, fmt.Sprintf("has more than %d values", MaxTargetingValues))
		}
		for i, s := range l.v {
			if s == "" || len(s) > 256 || !utf8.ValidString(s) {
				return bad(fmt.Sprintf("%s[%d]", l.name, i), "must be a non-empty UTF-8 string of at most 256 bytes")
			}
		}
	}
	for i, s := range t.Countries {
		cc, ok := CanonicalCountry(s)
		if !ok {
			return bad(fmt.Sprintf("countries[%d]", i), "is not an ISO 3166-1 country code")
		}
		t.Countries[i] = cc
	}
	for i, s := range t.Regions {
		rk, ok := parseRegionKey(s)
		if !ok {
			return bad(fmt.Sprintf("regions[%d]", i), `must be an ISO 3166-2 code such as "US-CA"`)
		}
		t.Regions[i] = rk
	}
	for i, s := range t.DeviceTypes {
		if _, ok := deviceTypes(s); !ok {
			return bad(fmt.Sprintf("device_types[%d]", i), "must be an OpenRTB device type (1 to 8) or one of "+deviceTypeNamesForDoc)
		}
	}
	for i, s := range t.OS {
		t.OS[i] = CanonicalOS(s)
	}
	for _, ad := range []struct {
		name string
		v    *AllowDeny
		dom  bool
	}{{"sites", t.Sites, true}, {"apps", t.Apps, false}} {
		if ad.v == nil {
			continue
		}
		for _, l := range []struct {
			name string
			v    []string
		}{{"allow", ad.v.Allow}, {"deny", ad.v.Deny}} {
			if len(l.v) > MaxTargetingValues {
				return bad(ad.name+"."+l.name, fmt.Sprintf("has more than %d values", MaxTargetingValues))
			}
			for i, s := range l.v {
				v := strings.ToLower(s)
				if ad.dom {
					v = CanonicalDomain(s)
				}
				if v == "" || len(v) > 256 || !utf8.ValidString(v) || (ad.dom && !validDomain(v)) {
					return bad(fmt.Sprintf("%s.%s[%d]", ad.name, l.name, i), "must be a domain (sites) or bundle (apps)")
				}
				l.v[i] = v
			}
		}
	}
	if len(t.Interests) > MaxTargetingValues {
		return bad("interests", fmt.Sprintf("has more than %d paths", MaxTargetingValues))
	}
	for i, path := range t.Interests {
		if len(path) == 0 || len(path) > index.MaxCategoryDepth {
			return bad(fmt.Sprintf("interests[%d]", i), "must be a category path of 1 to 8 names")
		}
		for _, name := range path {
			if name == "" || len(name) > index.MaxTitleBytes || !utf8.ValidString(name) {
				return bad(fmt.Sprintf("interests[%d]", i), "must be a category path of non-empty names")
			}
		}
		c.Interests = append(c.Interests, strings.Join(path, "/"))
	}
	for i, kw := range t.Keywords {
		terms := index.AppendTerms(nil, kw)
		if len(terms) == 0 {
			return bad(fmt.Sprintf("keywords[%d]", i), "holds no searchable term")
		}
		c.Phrases = append(c.Phrases, terms)
	}
	if len(t.Hours) > 168 {
		return bad("hours", "has more than 168 hours")
	}
	for i, h := range t.Hours {
		if h < 0 || h > 167 {
			return bad(fmt.Sprintf("hours[%d]", i), "must be an hour of the week, 0 (Monday 00:00) to 167")
		}
	}
	return nil
}

// locations caches time zones by name: campaigns share a few, and loading one
// reads the zone database.
var locations sync.Map // string -> *time.Location

func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}

func validID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	if s == "" || len(s) > 253 || strings.IndexByte(s, '.') <= 0 || strings.HasSuffix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c >= 0x80) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func validMoney(x float64) bool { return !math.IsNaN(x) && x >= 0 && x <= MaxMoney }

// parseWindow parses a Go duration, also accepting whole days ("7d").
func parseWindow(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 3650 {
			return 0, fmt.Errorf("campaign: bad number of days %q", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// Macro names a value filled into a creative's markup at bid time.
type Macro uint8

// Macros of creative markup, written {{NAME}} in the adm: ITEM_ID,
// ITEM_TITLE, ITEM_BRAND, ITEM_PRICE (empty outside sponsored-product
// campaigns), CAMPAIGN_ID, CREATIVE_ID, BID_ID, WIDTH and HEIGHT (of the
// slot the ad fills).
const (
	MacroNone Macro = iota
	MacroItemID
	MacroItemTitle
	MacroItemBrand
	MacroItemPrice
	MacroCampaignID
	MacroCreativeID
	MacroBidID
	MacroWidth
	MacroHeight
	numMacros
)

var macroNames = [numMacros]string{"", "ITEM_ID", "ITEM_TITLE", "ITEM_BRAND", "ITEM_PRICE", "CAMPAIGN_ID", "CREATIVE_ID", "BID_ID", "WIDTH", "HEIGHT"}

// TemplatePart is a literal run of markup or one macro.
type TemplatePart struct {
	Literal string
	Macro   Macro // MacroNone for a literal
}

// Template is creative markup split at its macros.
type Template []TemplatePart

// ParseTemplate splits markup at its {{NAME}} macros; unknown names stay
// literal text.
func ParseTemplate(s string) Template {
	var t Template
	lit := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			break
		}
		j += i
		end := strings.Index(s[j:], "}}")
		if end < 0 {
			break
		}
		end += j
		name := s[j+2 : end]
		m := MacroNone
		for k := Macro(1); k < numMacros; k++ {
			if macroNames[k] == name {
				m = k
				break
			}
		}
		if m == MacroNone {
			i = j + 2
			continue
		}
		if j > lit {
			t = append(t, TemplatePart{Literal: s[lit:j]})
		}
		t = append(t, TemplatePart{Macro: m})
		i = end + 2
		lit = i
	}
	if lit < len(s) {
		t = append(t, TemplatePart{Literal: s[lit:]})
	}
	return t
}
