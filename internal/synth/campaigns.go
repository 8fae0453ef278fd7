package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Campaign is one advertising campaign as POST /v1/campaigns takes it.
// Exactly one of Creatives (display ads) and Items (sponsored products:
// the ads are the user's best-ranked of those catalog items) is set.
type Campaign struct {
	ID           string        `json:"id"`
	Advertiser   string        `json:"advertiser"`
	ADomain      []string      `json:"adomain"`
	Status       string        `json:"status"` // active or paused
	Budget       Budget        `json:"budget"`
	Pacing       string        `json:"pacing"` // even or asap
	Bid          BidPolicy     `json:"bid"`
	FrequencyCap *FrequencyCap `json:"frequency_cap,omitempty"`
	Targeting    Targeting     `json:"targeting"`
	Creatives    []Creative    `json:"creatives,omitempty"`
	Items        []string      `json:"items,omitempty"`
}

// Budget is a campaign's spending limit, as decimal amounts in Currency.
type Budget struct {
	Daily    float64 `json:"daily"`
	Total    float64 `json:"total"`
	Currency string  `json:"currency"`
}

// BidPolicy prices a campaign's bids: a fixed CPM, or a CPC turned into an
// expected CPM by the bidder's click model and capped at MaxCPM.
type BidPolicy struct {
	Strategy string  `json:"strategy"` // cpm or cpc
	MaxCPM   float64 `json:"max_cpm"`
	CPC      float64 `json:"cpc,omitempty"` // cpc only
}

// FrequencyCap bounds the impressions one user sees of a campaign per
// period, a Go duration string such as "24h".
type FrequencyCap struct {
	Impressions int    `json:"impressions"`
	Per         string `json:"per"`
}

// Targeting restricts who a campaign bids for; empty fields match anyone.
// Countries are ISO 3166-1 alpha-3 codes and DeviceTypes AdCOM device type
// codes (2 personal computer, 4 phone, 5 tablet), as in OpenRTB requests.
type Targeting struct {
	Countries   []string   `json:"countries,omitempty"`
	DeviceTypes []int      `json:"device_types,omitempty"`
	OS          []string   `json:"os,omitempty"`
	Interests   [][]string `json:"interests,omitempty"` // category paths, root first
	Keywords    []string   `json:"keywords,omitempty"`  // matched against recent searches
	Segments    []string   `json:"segments,omitempty"`  // "lifecycle:active" and the like
}

// Creative is one display ad of a campaign.
type Creative struct {
	ID     string   `json:"id"`
	Format string   `json:"format"` // banner
	W      int      `json:"w"`
	H      int      `json:"h"`
	ADM    string   `json:"adm"`
	Cat    []string `json:"cat,omitempty"` // IAB content categories
}

const (
	pausedShare    = 0.05 // campaigns with status paused
	sponsoredShare = 0.30 // campaigns selling catalog items rather than banners
	maxSponsored   = 50   // items of a sponsored-product campaign
)

// countries are the markets of the synthetic traffic, with their share of
// bid requests.
var countries = []struct {
	code  string
	share float64
	eu    bool
}{
	{"USA", 0.40, false}, {"GBR", 0.10, true}, {"DEU", 0.10, true}, {"FRA", 0.08, true},
	{"JPN", 0.10, false}, {"CHN", 0.06, false}, {"CAN", 0.08, false}, {"AUS", 0.08, false},
}

// bannerSizes are the IAB sizes offered by imps and carried by creatives.
var bannerSizes = [][2]int{{300, 250}, {728, 90}, {320, 50}, {160, 600}, {300, 600}}

// iabCategory maps a top-level category to its IAB content category.
var iabCategory = map[string]string{
	"Sports": "IAB17", "Home": "IAB10", "Electronics": "IAB19", "Books": "IAB1-1",
	"Beauty": "IAB18-1", "Baby": "IAB6-1", "Fashion": "IAB18", "Grocery": "IAB8",
}

// lifecycleSegments are the segments campaigns may target.
var lifecycleSegments = []string{"lifecycle:new", "lifecycle:active", "lifecycle:at_risk", "lifecycle:lapsed"}

// CampaignID returns the stable id of campaign c: "c000042" for c = 42.
func CampaignID(c int) string { return fmt.Sprintf("c%06d", c) }

// Campaign returns campaign c, a pure function of the options and c. The
// advertiser is a brand of the catalog; the campaign targets categories the
// brand sells in, so that users who browse them are likely to match.
func (w *World) Campaign(c int) Campaign {
	r := newRand(w.Seed, streamCampaigns, uint64(c))
	// The advertiser and its leaf: the brand of a random item.
	i := r.IntN(len(w.Items))
	it, l := &w.Items[i], int(w.itemLeaf[i])
	domain := strings.ToLower(it.Brand) + ".example"
	out := Campaign{
		ID:         CampaignID(c),
		Advertiser: it.Brand,
		ADomain:    []string{domain},
		Status:     "active",
		Pacing:     "even",
	}
	if r.Float64() < pausedShare {
		out.Status = "paused"
	}
	if r.Float64() < 0.2 {
		out.Pacing = "asap"
	}
	daily := math.Round(500 * math.Exp(0.8*r.NormFloat64()))
	out.Budget = Budget{Daily: max(daily, 20), Total: max(daily, 20) * float64(7+r.IntN(54)), Currency: "USD"}
	maxCPM := cents(0.5 + 7.5*r.Float64())
	if r.IntN(2) == 0 {
		out.Bid = BidPolicy{Strategy: "cpm", MaxCPM: maxCPM}
	} else {
		out.Bid = BidPolicy{Strategy: "cpc", CPC: cents(0.2 + 1.8*r.Float64()), MaxCPM: maxCPM}
	}
	if r.Float64() < 0.6 {
		out.FrequencyCap = &FrequencyCap{Impressions: 3 + r.IntN(18), Per: "24h"}
	}
	out.Targeting = w.targeting(r, l)
	if r.Float64() < sponsoredShare {
		out.Items = w.brandItems(l, it.Brand)
	} else {
		cat := iabCategory[w.Categories[l][0]]
		sizes := r.Perm(len(bannerSizes))[:1+r.IntN(3)]
		slices.Sort(sizes)
		for k, s := range sizes {
			wh := bannerSizes[s]
			id := fmt.Sprintf("%s-%d", out.ID, k)
			out.Creatives = append(out.Creatives, Creative{
				ID: id, Format: "banner", W: wh[0], H: wh[1], Cat: []string{cat},
				ADM: fmt.Sprintf(`<a href="https://%s/?cr=%s"><img src="https://%s/banners/%s.png" width="%d" height="%d" alt="%s"></a>`,
					domain, id, domain, id, wh[0], wh[1], it.Brand),
			})
		}
	}
	return out
}

// targeting draws the audience of a campaign whose advertiser sells in leaf l.
func (w *World) targeting(r *rand.Rand, l int) Targeting {
	var t Targeting
	path := w.Categories[l]
	if r.Float64() < 0.7 {
		// The leaf, its middle category, or both plus a sibling leaf.
		switch r.IntN(3) {
		case 0:
			t.Interests = [][]string{path}
		case 1:
			t.Interests = [][]string{path[:2]}
		default:
			other := w.Categories[r.IntN(len(w.Categories))]
			t.Interests = [][]string{path}
			if !slices.Equal(other, path) {
				t.Interests = append(t.Interests, other)
			}
		}
	}
	if r.Float64() < 0.3 {
		lf := &w.leaves[l]
		t.Keywords = []string{lf.lowerNoun}
		if r.IntN(2) == 0 {
			t.Keywords = append(t.Keywords, lf.tags[r.IntN(len(lf.tags))]+" "+lf.lowerNoun)
		}
	}
	if r.Float64() < 0.5 {
		for _, k := range r.Perm(len(countries))[:1+r.IntN(3)] {
			t.Countries = append(t.Countries, countries[k].code)
		}
		slices.Sort(t.Countries)
	}
	if r.Float64() < 0.15 {
		t.DeviceTypes = [][]int{{4, 5}, {2}, {4}}[r.IntN(3)]
	}
	if r.Float64() < 0.15 {
		t.OS = [][]string{{"iOS"}, {"Android"}, {"iOS", "Android"}, {"Windows", "macOS"}}[r.IntN(4)]
	}
	if r.Float64() < 0.1 {
		t.Segments = []string{lifecycleSegments[r.IntN(len(lifecycleSegments))]}
	}
	return t
}

// brandItems returns up to maxSponsored available items of brand in leaf l,
// most popular first, or the leaf's most popular items if the brand has none.
func (w *World) brandItems(l int, brand string) []string {
	var ids []string
	for _, i := range w.leafItems[l] {
		if it := &w.Items[i]; it.Brand == brand && it.Available {
			ids = append(ids, it.ID)
			if len(ids) == maxSponsored {
				break
			}
		}
	}
	if len(ids) == 0 {
		for _, i := range w.leafItems[l][:min(5, len(w.leafItems[l]))] {
			ids = append(ids, w.Items[i].ID)
		}
	}
	return ids
}

func cents(x float64) float64 { return math.Round(x*100) / 100 }

// WriteCampaignsNDJSON writes campaigns 0..n-1 to out, one JSON Campaign
// per line.
func (w *World) WriteCampaignsNDJSON(out io.Writer, n int) error {
	return writeLines(out, n, w.Campaign)
}

// writeLines writes n values, one JSON document per line; next returns the
// value of line k.
func writeLines[T any](out io.Writer, n int, next func(k int) T) error {
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for k := range n {
		v := next(k)
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return bw.Flush()
}
