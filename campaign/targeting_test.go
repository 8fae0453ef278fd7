package campaign

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// Vocabularies of the random campaigns and queries: small, so that values
// collide and both matches and misses are common.
var (
	tCountries = []string{"USA", "DEU", "FRA", "JPN", "GBR"}
	tRegions   = []string{"US-CA", "US-NY", "DE-BE"}
	tOS        = []string{"ios", "android", "windows", "macos"}
	tDevices   = []string{"mobile", "desktop", "phone", "tablet", "ctv", "4", "2"}
	tSites     = []string{"news.example", "sports.news.example", "cooking.example", "shop.example"}
	tApps      = []string{"com.game.one", "com.news.app"}
	tSegments  = []string{"new", "active", "loyal", "audience:runners", "dp:42"}
	tInterests = [][]string{{"Sports"}, {"Sports", "Running"}, {"Sports", "Running", "Shoes"}, {"Home", "Kitchen"}, {"Books"}}
	tKeywords  = []string{"running shoes", "shoes", "frying pan", "trail", "cast iron pan"}
	tTerms     = []string{"running", "shoe", "frying", "pan", "trail", "cast", "iron", "book"}
	tDeals     = []string{"D1", "D2", "D3"}
	tZones     = []string{"", "America/New_York", "Asia/Tokyo"}
	tAdomains  = []string{"fellstride.example", "shop.quickmere.example", "ironhearth.example"}
	tFormats   = []string{"banner", "video", "audio", "native"}
)

func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatalf("kv.Open(%q) error = %v, want nil", dir, err)
	}
	return db
}

func pick[T any](r *rand.Rand, list []T, p float64) []T {
	var out []T
	if r.Float64() >= p {
		return nil
	}
	for _, v := range list {
		if r.IntN(3) == 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		out = append(out, list[r.IntN(len(list))])
	}
	return out
}

// randomCampaign draws a valid campaign whose every targeting dimension is
// set with some probability.
func randomCampaign(r *rand.Rand, i int) Campaign {
	c := Campaign{
		ID: fmt.Sprintf("c%05d", i), Advertiser: "A", ADomain: []string{tAdomains[r.IntN(len(tAdomains))]},
		Budget: Budget{Daily: 100, Currency: "USD"}, Pacing: "asap",
		Bid:      BidSpec{Strategy: "cpm", MaxCPM: float64(1 + r.IntN(20))},
		Timezone: tZones[r.IntN(len(tZones))],
	}
	if r.IntN(20) == 0 {
		c.Status = "paused"
	}
	if r.IntN(4) == 0 {
		c.Bundle = tApps[r.IntN(len(tApps))]
	}
	t := &c.Targeting
	t.Countries = pick(r, tCountries, 0.4)
	t.Regions = pick(r, tRegions, 0.1)
	t.OS = pick(r, tOS, 0.2)
	t.DeviceTypes = pick(r, tDevices, 0.2)
	if r.IntN(5) == 0 {
		t.Sites = &AllowDeny{Allow: pick(r, tSites, 0.6), Deny: pick(r, tSites, 0.4)}
	}
	if r.IntN(8) == 0 {
		t.Apps = &AllowDeny{Allow: pick(r, tApps, 0.5), Deny: pick(r, tApps, 0.5)}
	}
	t.Segments = pick(r, tSegments, 0.15)
	t.Interests = pick(r, tInterests, 0.4)
	t.Keywords = pick(r, tKeywords, 0.3)
	t.Deals = pick(r, tDeals, 0.1)
	if r.IntN(6) == 0 {
		for h := r.IntN(24); h < 168; h += 1 + r.IntN(30) {
			t.Hours = append(t.Hours, h)
		}
	}
	for k, f := range pick(r, tFormats, 1) {
		cr := Creative{ID: fmt.Sprintf("cr%d", k), Format: f, Adm: "x", Mimes: []string{"video/mp4"}}
		switch f {
		case "banner":
			cr.W, cr.H, cr.Mimes = 300, 250, nil
		case "video", "audio":
			cr.Duration = 15
		case "native":
			cr.Mimes = nil
		}
		c.Creatives = append(c.Creatives, cr)
	}
	return c
}

func randomQuery(r *rand.Rand) (Query, uint8, []string, bool) {
	q := Query{
		Country: tCountries[r.IntN(len(tCountries))], DeviceType: 1 + r.IntN(8), OS: tOS[r.IntN(len(tOS))],
		Now: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(168*60)) * time.Minute),
	}
	if r.IntN(2) == 0 {
		q.Region = tRegions[r.IntN(len(tRegions))]
	}
	if r.IntN(3) == 0 {
		q.App = tApps[r.IntN(len(tApps))]
	} else {
		q.Site = tSites[r.IntN(len(tSites))]
	}
	q.Segments = pick(r, tSegments, 0.6)
	for _, p := range pick(r, tInterests, 0.6) {
		q.Interests = append(q.Interests, strings.Join(p, "/"))
	}
	q.Terms = pick(r, tTerms, 0.7)
	q.BlockedDomains = pick(r, []string{"fellstride.example", "quickmere.example", "example"}, 0.2)
	q.BlockedApps = pick(r, tApps, 0.1)
	formats := uint8(0)
	for _, f := range pick(r, tFormats, 1) {
		ff, _ := parseFormat(f)
		formats |= ff.Bit()
	}
	return q, formats, pick(r, tDeals, 0.3), r.IntN(5) != 0
}

// scanMatch is what the targeting index must compute, one campaign at a time.
func scanMatch(c *Live, q *Query, formats uint8, deals []string, open bool) bool {
	t := &c.Targeting
	in := func(list []string, v string) bool { return len(list) == 0 || v != "" && slices.Contains(list, v) }
	switch {
	case !c.Active, c.Formats&formats == 0:
		return false
	case !in(t.Countries, q.Country), !in(t.Regions, q.Region), !in(t.OS, q.OS):
		return false
	}
	if len(t.Deals) == 0 && !open {
		return false
	}
	if len(t.Deals) > 0 && !slices.ContainsFunc(deals, func(d string) bool { return slices.Contains(t.Deals, d) }) {
		return false
	}
	if len(t.DeviceTypes) > 0 {
		ok := false
		for _, name := range t.DeviceTypes {
			dts, _ := deviceTypes(name)
			ok = ok || slices.Contains(dts, q.DeviceType)
		}
		if !ok {
			return false
		}
	}
	under := func(d, parent string) bool { return d == parent || strings.HasSuffix(d, "."+parent) }
	if t.Sites != nil {
		if len(t.Sites.Allow) > 0 && !slices.ContainsFunc(t.Sites.Allow, func(a string) bool { return q.Site != "" && under(q.Site, a) }) {
			return false
		}
		if slices.ContainsFunc(t.Sites.Deny, func(a string) bool { return q.Site != "" && under(q.Site, a) }) {
			return false
		}
	}
	if t.Apps != nil {
		if len(t.Apps.Allow) > 0 && !slices.Contains(t.Apps.Allow, q.App) || q.App != "" && slices.Contains(t.Apps.Deny, q.App) {
			return false
		}
	}
	if len(t.Segments) > 0 && !slices.ContainsFunc(q.Segments, func(s string) bool { return slices.Contains(t.Segments, s) }) {
		return false
	}
	if len(c.Interests) > 0 && !slices.ContainsFunc(c.Interests, func(k string) bool {
		return slices.ContainsFunc(q.Interests, func(u string) bool { return u == k || strings.HasPrefix(u, k+"/") })
	}) {
		return false
	}
	if len(c.Phrases) > 0 && !slices.ContainsFunc(c.Phrases, func(p []string) bool {
		for _, term := range p {
			if !slices.Contains(q.Terms, term) {
				return false
			}
		}
		return true
	}) {
		return false
	}
	if len(t.Hours) > 0 && !slices.Contains(t.Hours, HourOfWeek(q.Now, c.Loc)) {
		return false
	}
	for _, d := range c.ADomains {
		for _, b := range q.BlockedDomains {
			if strings.Contains(b, ".") && under(d, b) {
				return false
			}
		}
	}
	return !(c.bundleLower != "" && slices.Contains(q.BlockedApps, c.bundleLower))
}

func TestTargetingMatchesScan(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	cs, err := Open(db, Options{Value: func(c *Live) float64 { return float64(c.MaxCPM) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var list []Campaign
	for i := 0; i < 600; i++ {
		list = append(list, randomCampaign(r, i))
	}
	if err := cs.Upsert(list); err != nil {
		t.Fatalf("Upsert(random campaigns) = %v", err)
	}
	set := cs.Snapshot()
	var sc MatchScratch
	total := 0
	for i := 0; i < 2000; i++ {
		q, formats, deals, open := randomQuery(r)
		set.MatchRequest(&q, &sc)
		set.MatchImp(formats, deals, open, &sc)
		var got, want []int
		for ord := sc.Next(-1); ord >= 0; ord = sc.Next(ord) {
			got = append(got, ord)
		}
		for ord := 0; ord < set.Len(); ord++ {
			if scanMatch(set.At(ord), &q, formats, deals, open) {
				want = append(want, ord)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d %+v formats %b deals %v open %v:\n index %v\n scan  %v", i, q, formats, deals, open, got, want)
		}
		if sc.Matched() != len(got) {
			t.Errorf("Matched() = %d, want %d", sc.Matched(), len(got))
		}
		total += len(got)
	}
	if total < 2000 {
		t.Errorf("only %d matches over 2000 queries: the test exercises little", total)
	}
	// Ordinals follow decreasing value.
	for ord := 1; ord < set.Len(); ord++ {
		if set.At(ord).MaxCPM > set.At(ord-1).MaxCPM {
			t.Fatalf("ordinal %d has a larger max CPM than %d", ord, ord-1)
		}
	}
}

func TestCampaignsPersist(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	cs, err := Open(db, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	if err := cs.Upsert([]Campaign{randomCampaign(r, 1), randomCampaign(r, 2), randomCampaign(r, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := cs.Delete("c00002"); err != nil {
		t.Fatal(err)
	}
	if err := cs.Delete("c00002"); err != ErrNotFound {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	before, _ := cs.Get("c00003")
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	cs, err = Open(db, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := cs.Snapshot()
	if set.Len() != 2 {
		t.Fatalf("after reopening %d campaigns, want 2", set.Len())
	}
	after, ok := cs.Get("c00003")
	if !ok || after.MaxCPM != before.MaxCPM || !slices.Equal(after.Targeting.Countries, before.Targeting.Countries) {
		t.Errorf("c00003 after reopening = %+v, want %+v", after, before)
	}
}

func TestCampaignNormalization(t *testing.T) {
	c := Campaign{ID: "n", Advertiser: "A", ADomain: []string{"HTTPS://WWW.Shop.Example/path?q=1"},
		Budget: Budget{Daily: 12.345678, Currency: "EUR"}, Bid: BidSpec{Strategy: "cpc", CPC: 0.75, MaxCPM: 3.5},
		Targeting: Targeting{Countries: []string{"de", "FRA"}, Regions: []string{"us-ny"}, OS: []string{"iPadOS", "Mac OS X"},
			Sites: &AllowDeny{Allow: []string{"https://www.News.example/"}}, DeviceTypes: DeviceTypes{"phone", "5"}},
		Items: []string{"x"}}
	lc, err := compile(&c)
	if err != nil {
		t.Fatal(err)
	}
	tt := &lc.Targeting
	switch {
	case !slices.Equal(lc.ADomains, []string{"shop.example"}):
		t.Errorf("adomain = %v", lc.ADomains)
	case !slices.Equal(tt.Countries, []string{"DEU", "FRA"}) || !slices.Equal(tt.Regions, []string{"US-NY"}):
		t.Errorf("geo = %v %v", tt.Countries, tt.Regions)
	case !slices.Equal(tt.OS, []string{"ios", "macos"}) || !slices.Equal(tt.Sites.Allow, []string{"news.example"}):
		t.Errorf("os %v sites %v", tt.OS, tt.Sites.Allow)
	case lc.Daily != 12345678 || lc.CPC != 750000 || lc.MaxCPM != 3500000 || !lc.Even || !lc.Active:
		t.Errorf("money %+v", lc)
	case len(lc.Creatives) != 1 || !lc.Creatives[0].AnySize || lc.Formats != FormatBanner.Bit():
		t.Errorf("a sponsored-product campaign without creatives got %+v", lc.Creatives)
	}
	// The caller's campaign is left as it was.
	if c.Targeting.Countries[0] != "de" || c.Status != "" {
		t.Errorf("compile changed its input: %+v", c.Targeting.Countries)
	}
	// Device types read and write as names and numbers.
	var d DeviceTypes
	if err := d.UnmarshalJSON([]byte(`["phone",4]`)); err != nil || !slices.Equal(d, DeviceTypes{"phone", "4"}) {
		t.Errorf("UnmarshalJSON = %v, %v", d, err)
	}
	if b, _ := d.MarshalJSON(); string(b) != `["phone",4]` {
		t.Errorf("MarshalJSON = %s", b)
	}
}

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		in   string
		want Template
	}{
		{"plain", Template{{Literal: "plain"}}},
		{"{{ITEM_ID}}", Template{{Macro: MacroItemID}}},
		{"a{{ITEM_TITLE}}b{{NOPE}}c{{BID_ID}}", Template{{Literal: "a"}, {Macro: MacroItemTitle}, {Literal: "b{{NOPE}}c"}, {Macro: MacroBidID}}},
		{"${AUCTION_PRICE} {{WIDTH}}x{{HEIGHT", Template{{Literal: "${AUCTION_PRICE} "}, {Macro: MacroWidth}, {Literal: "x{{HEIGHT"}}},
	}
	for _, tt := range tests {
		if got := ParseTemplate(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseTemplate(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{"US": "USA", "usa": "USA", "DE": "DEU", "GBR": "GBR", "XX": "", "": "", "Germany": ""} {
		if got, _ := CanonicalCountry(in); got != want {
			t.Errorf("CanonicalCountry(%q) = %q, want %q", in, got, want)
		}
	}
	if got, ok := CanonicalRegion("USA", "ca"); !ok || got != "US-CA" {
		t.Errorf("CanonicalRegion(USA, ca) = %q, %v", got, ok)
	}
	for in, want := range map[string]string{"iOS": "ios", "iPadOS": "ios", "OS X": "macos", "Mac OS": "macos", "Windows 10": "windows",
		"Android": "android", "": "", "Tizen": "tizen", "HarmonyOS": "harmonyos"} {
		if got := CanonicalOS(in); got != want {
			t.Errorf("CanonicalOS(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"https://www.Example.com:443/x": "example.com", "shop.example.com.": "shop.example.com", "": ""} {
		if got := CanonicalDomain(in); got != want {
			t.Errorf("CanonicalDomain(%q) = %q, want %q", in, got, want)
		}
	}
	var parents []string
	ParentDomains("a.b.example.com", func(d string) bool { parents = append(parents, d); return true })
	if !slices.Equal(parents, []string{"a.b.example.com", "b.example.com", "example.com"}) {
		t.Errorf("ParentDomains = %v", parents)
	}
	if h := HourOfWeek(time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC), time.UTC); h != 0 { // a Monday
		t.Errorf("HourOfWeek(Monday 00:30) = %d, want 0", h)
	}
	if h := HourOfWeek(time.Date(2026, 3, 8, 23, 30, 0, 0, time.UTC), time.UTC); h != 167 {
		t.Errorf("HourOfWeek(Sunday 23:30) = %d, want 167", h)
	}
}

// BenchmarkTargetingMatch matches one request and one imp against 10,000
// active campaigns.
func BenchmarkTargetingMatch(b *testing.B) {
	db := openDB(b, b.TempDir())
	defer db.Close()
	cs, err := Open(db, Options{Value: func(c *Live) float64 { return float64(c.MaxCPM) }}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	var list []Campaign
	for i := 0; i < 10000; i++ {
		c := randomCampaign(r, i)
		c.Status = ""
		list = append(list, c)
	}
	if err := cs.Upsert(list); err != nil {
		b.Fatal(err)
	}
	set := cs.Snapshot()
	queries := make([]Query, 256)
	formats := make([]uint8, len(queries))
	for i := range queries {
		queries[i], formats[i], _, _ = randomQuery(r)
		queries[i].BlockedDomains = nil
	}
	var sc MatchScratch
	matched := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := &queries[i%len(queries)]
		set.MatchRequest(q, &sc)
		set.MatchImp(formats[i%len(queries)], nil, true, &sc)
		for ord := sc.Next(-1); ord >= 0; ord = sc.Next(ord) {
			matched++
		}
	}
	b.ReportMetric(float64(matched)/float64(b.N), "matched/op")
}
