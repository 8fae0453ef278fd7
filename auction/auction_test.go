package auction

import (
	"math"
	"testing"

	"github.com/tailor-dev/tailor/campaign"
)

func TestRates(t *testing.T) {
	r, err := NewRates(map[string]float64{"EUR": 0.9, "GBP": 0.8})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		from, to string
		want     float64
		ok       bool
	}{
		{"USD", "USD", 1, true},
		{"USD", "EUR", 0.9, true},
		{"EUR", "USD", 1 / 0.9, true},
		{"EUR", "GBP", 0.8 / 0.9, true},
		{"JPY", "USD", 0, false},
	}
	for _, tt := range tests {
		got, ok := r.Factor(tt.from, tt.to)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Factor(%s, %s) = %v, %v, want %v, %v", tt.from, tt.to, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []map[string]float64{{"eur": 1}, {"EUR": 0}, {"EUR": math.Inf(1)}, {"EURO": 1}} {
		if _, err := NewRates(bad); err == nil {
			t.Errorf("NewRates(%v) accepted", bad)
		}
	}
	var zero Rates
	if !zero.Known("USD") || zero.Known("EUR") {
		t.Errorf("the zero Rates should know USD only")
	}
}

func TestPrice(t *testing.T) {
	a := &Auction{opts: Options{Shade: 0.7}}
	tests := []struct {
		at                 int
		floor, value, want float64
	}{
		{2, 1, 4, 4},                 // second price: the value
		{1, 1, 4, 3.1},               // first price: shaded toward the floor
		{1, 0, 4, 2.8},               // no floor: 70% of the value
		{1, 4, 4, 4},                 // value at the floor: the floor
		{3, 2.5, 4, 2.5},             // fixed price deal: the floor
		{1, 0.1, 0.1000004, 0.1},     // rounding never goes under the floor
		{2, 0, 1.23456789, 1.234567}, // micros, never above the value
	}
	for _, tt := range tests {
		got := a.price(&adCand{at: tt.at, floor: tt.floor, value: tt.value})
		if math.Abs(got-tt.want) > 1e-9 || got < tt.floor || got > tt.value {
			t.Errorf("price(at %d, floor %v, value %v) = %v, want %v", tt.at, tt.floor, tt.value, got, tt.want)
		}
	}
}

func TestCreativeFits(t *testing.T) {
	banner := &campaign.LiveCreative{ID: "b", Format: campaign.FormatBanner, W: 300, H: 250, Cat: []string{"IAB17-3"}, CatTax: 1, Attr: []int{6}, Secure: true}
	video := &campaign.LiveCreative{ID: "v", Format: campaign.FormatVideo, Duration: 30, Mimes: []string{"video/mp4"}, CatTax: 1, Cat: []string{"IAB17"}, Secure: true}
	sized := func(w, h int) *Imp { return &Imp{Banner: &BannerSlot{Sizes: []Size{{W: w, H: h}}}} }
	media := func(m MediaSlot) *Imp { return &Imp{Video: &m} }
	tests := []struct {
		name string
		cr   *campaign.LiveCreative
		imp  *Imp
		req  BidRequest
		want bool
	}{
		{"size", banner, sized(300, 250), BidRequest{}, true},
		{"other size", banner, sized(728, 90), BidRequest{}, false},
		{"no sizes, screen fits", banner, &Imp{Banner: &BannerSlot{}}, BidRequest{DeviceW: 320, DeviceH: 480}, true},
		{"no sizes, no screen", banner, &Imp{Banner: &BannerSlot{}}, BidRequest{}, false},
		{"mimes", banner, &Imp{Banner: &BannerSlot{Sizes: []Size{{300, 250}}, Mimes: []string{"image/png"}}}, BidRequest{}, false},
		{"html mime", banner, &Imp{Banner: &BannerSlot{Sizes: []Size{{300, 250}}, Mimes: []string{"TEXT/HTML"}}}, BidRequest{}, true},
		{"battr", banner, &Imp{Banner: &BannerSlot{Sizes: []Size{{300, 250}}, BAttr: []int{1, 6}}}, BidRequest{}, false},
		{"bcat parent", banner, sized(300, 250), BidRequest{BCat: []string{"IAB17"}}, false},
		{"bcat sibling", banner, sized(300, 250), BidRequest{BCat: []string{"IAB17-30", "IAB1"}}, true},
		{"bcat other taxonomy", banner, sized(300, 250), BidRequest{BCat: []string{"483"}, CatTax: 6}, false},
		{"acat", banner, sized(300, 250), BidRequest{ACat: []string{"IAB17"}}, true},
		{"acat without", banner, sized(300, 250), BidRequest{ACat: []string{"IAB1"}}, false},
		{"video range", video, media(MediaSlot{Mimes: []string{"video/mp4"}, MinDur: 5, MaxDur: 30}), BidRequest{}, true},
		{"video too long", video, media(MediaSlot{Mimes: []string{"video/mp4"}, MaxDur: 15}), BidRequest{}, false},
		{"video rqddurs", video, media(MediaSlot{Mimes: []string{"video/mp4"}, RqdDurs: []int{15, 30}}), BidRequest{}, true},
		{"video rqddurs miss", video, media(MediaSlot{Mimes: []string{"video/mp4"}, RqdDurs: []int{15}, MaxDur: 60}), BidRequest{}, false},
		{"video poddur", video, media(MediaSlot{Mimes: []string{"video/mp4"}, PodDur: 20}), BidRequest{}, false},
		{"video no mimes", video, media(MediaSlot{}), BidRequest{}, false},
		{"video on banner", video, sized(300, 250), BidRequest{}, false},
		{"secure", &campaign.LiveCreative{Format: campaign.FormatBanner, W: 300, H: 250}, &Imp{Secure: true, Banner: &BannerSlot{Sizes: []Size{{300, 250}}}}, BidRequest{}, false},
		{"any size", &campaign.LiveCreative{Format: campaign.FormatBanner, AnySize: true, Secure: true}, sized(160, 600), BidRequest{}, true},
	}
	for _, tt := range tests {
		req := tt.req
		if _, _, _, got := fits(tt.cr, tt.imp, &req); got != tt.want {
			t.Errorf("%s: fits = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDefaultCTRModel(t *testing.T) {
	var none, search, both CTRFeatures
	search[FeatSearch] = 1
	both[FeatSearch], both[FeatInterest] = 1, 1
	m := DefaultCTRModel
	p0, p1, p2 := m.PCTR(&none), m.PCTR(&search), m.PCTR(&both)
	if !(p0 > 0.001 && p0 < 0.003 && p1 > p0 && p2 > p1 && p2 < 0.5) {
		t.Errorf("pCTR none %v, search %v, search and interest %v: want about 0.2%% rising", p0, p1, p2)
	}
}

func TestHashes(t *testing.T) {
	if u1, u2 := HashUser("u"), HashUser("u"); HashUser("") != 0 || u1 == 0 || u1 != u2 || u1 == HashUser("v") {
		t.Errorf("HashUser is not a stable non-zero hash of non-empty ids")
	}
	if HashAuction("ab", "c") == HashAuction("a", "bc") {
		t.Errorf("HashAuction does not separate its parts")
	}
	// Stored in frequency records and signed into notice tokens: pinned.
	if got := HashUser("runner-ana"); got != 3148622294694119316 {
		t.Errorf("HashUser(runner-ana) = %d, want 3148622294694119316", got)
	}
	if got := HashAuction("a1", "imp-2"); got != 1561844608735354182 {
		t.Errorf("HashAuction(a1, imp-2) = %d, want 1561844608735354182", got)
	}
}
