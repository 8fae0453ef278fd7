package openrtb

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/prebid/openrtb/v20/openrtb2"
)

func TestPrivacySignalsInBothPlaces(t *testing.T) {
	var signals [2]Signals
	for i, name := range []string{"req-pbs-privacy-signals-ortb25-ext-locations.json", "req-pbs-privacy-signals-ortb26-locations.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "openrtb-examples", name))
		if errors.Is(err, fs.ErrNotExist) {
			t.Skipf("no example %s beside the project", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		var req openrtb2.BidRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		signals[i].read(&req)
	}
	a, b := &signals[0], &signals[1]
	if a.gdpr != 1 || a.usPrivacy != "1YYY" || a.consent == "" || a.eids == 0 || a.schain == nil {
		t.Errorf("2.5 ext places read as gdpr %d usp %q consent %q eids %d schain %v", a.gdpr, a.usPrivacy, a.consent, a.eids, a.schain)
	}
	if a.gdpr != b.gdpr || a.usPrivacy != b.usPrivacy || a.consent != b.consent || a.eids != b.eids ||
		(a.schain == nil) != (b.schain == nil) || len(a.schain.Nodes) != len(b.schain.Nodes) {
		t.Errorf("the same auction reads differently in 2.5 and 2.6 form:\n%+v\n%+v", a, b)
	}
	for i := range signals {
		if Personal(&signals[i], "", 0) {
			t.Errorf("form %d: a US privacy opt-out with GDPR and no valid consent allowed the profile", i)
		}
	}
}

// FuzzNoticeToken: any string given as a notice token is refused or read
// back as a token the bidder signed; tokens it signs read back the same.
func FuzzNoticeToken(f *testing.F) {
	b := NewNotices([]byte("fuzz key"), "https://bid.example")
	var scratch []byte
	good := b.AppendToken(nil, &scratch, &Token{Bid: 7, Auction: 9, User: 3, BidAt: 1_700_000_000_000,
		PriceResp: 4_000_000, PriceCamp: 3_600_000, RespCur: "USD", CampCur: "EUR", Campaign: "c1"})
	f.Add(string(good))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := b.ParseToken([]byte(s))
		if !ok {
			return
		}
		again := b.AppendToken(nil, &scratch, &tok)
		if back, ok := b.ParseToken(again); !ok || back != tok {
			t.Fatalf("token %+v does not read back: %+v %v", tok, back, ok)
		}
	})
}
