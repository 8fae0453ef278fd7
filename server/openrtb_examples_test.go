package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prebid/openrtb/v20/openrtb2"

	"github.com/tailor-dev/tailor/campaign"
)

// examplesDir holds real OpenRTB requests from public sources, next to the
// project; they are read in place, never copied in.
const examplesDir = "../../shared/openrtb-examples"

func exampleRequests(t testing.TB) map[string][]byte {
	t.Helper()
	names := exampleNames()
	if len(names) == 0 {
		t.Skipf("no example requests in %s", examplesDir)
	}
	out := map[string][]byte{}
	for _, name := range names {
		b, err := readExample(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func exampleNames() []string {
	paths, _ := filepath.Glob(filepath.Join(examplesDir, "req-*.json"))
	for i, p := range paths {
		paths[i] = filepath.Base(p)
	}
	return paths
}

func readExample(name string) ([]byte, error) { return os.ReadFile(filepath.Join(examplesDir, name)) }

// exampleCampaigns can match the example requests: banners of the sizes
// they offer, video and audio of the durations they take, native, and a
// deal campaign for the deals open to any seat.
const exampleCampaigns = `[
{"id":"banners","advertiser":"Fellstride","adomain":["fellstride.example"],"budget":{"daily":1000,"currency":"USD"},"pacing":"asap",
 "bid":{"strategy":"cpm","max_cpm":25},
 "creatives":[
  {"id":"b300x250","format":"banner","w":300,"h":250,"cat":["IAB17"],"adm":"<a href=\"https://fellstride.example/\">run</a>"},
  {"id":"b728x90","format":"banner","w":728,"h":90,"cat":["IAB17"],"adm":"<a href=\"https://fellstride.example/\">run</a>"},
  {"id":"b970x250","format":"banner","w":970,"h":250,"cat":["IAB17"],"adm":"<a href=\"https://fellstride.example/\">run</a>"},
  {"id":"b320x50","format":"banner","w":320,"h":50,"cat":["IAB17"],"adm":"<a href=\"https://fellstride.example/\">run</a>"},
  {"id":"b300x600","format":"banner","w":300,"h":600,"cat":["IAB17"],"adm":"<a href=\"https://fellstride.example/\">run</a>"},
  {"id":"b1080x1920","format":"banner","w":1080,"h":1920,"cat":["IAB17"],"mimes":["image/png"],"adm":"<img src=\"https://fellstride.example/dooh.png\">"}]},
{"id":"video","advertiser":"Quickmere","adomain":["quickmere.example"],"budget":{"daily":1000,"currency":"USD"},"pacing":"asap",
 "bid":{"strategy":"cpm","max_cpm":25},
 "creatives":[
  {"id":"v30","format":"video","duration":30,"w":640,"h":360,"mimes":["video/mp4"],"cat":["IAB17"],"adm":"<VAST version=\"3.0\"><Ad id=\"{{CREATIVE_ID}}\"/></VAST>"},
  {"id":"v15","format":"video","duration":15,"mimes":["video/mp4"],"cat":["IAB17"],"adm":"<VAST version=\"3.0\"><Ad id=\"{{CREATIVE_ID}}\"/></VAST>"},
  {"id":"v20","format":"video","duration":20,"mimes":["video/mp4"],"cat":["IAB17"],"adm":"<VAST version=\"3.0\"><Ad id=\"{{CREATIVE_ID}}\"/></VAST>"}]},
{"id":"audio","advertiser":"Pacely","adomain":["pacely.example"],"budget":{"daily":1000,"currency":"USD"},"pacing":"asap",
 "bid":{"strategy":"cpm","max_cpm":8},
 "creatives":[
  {"id":"a15","format":"audio","duration":15,"mimes":["audio/mpeg"],"cat":["IAB17"],"adm":"<VAST version=\"3.0\"><Ad id=\"a15\"/></VAST>"},
  {"id":"a30","format":"audio","duration":30,"mimes":["audio/mpeg"],"cat":["IAB17"],"adm":"<VAST version=\"3.0\"><Ad id=\"a30\"/></VAST>"}]},
{"id":"native","advertiser":"Northbook","adomain":["northbook.example"],"budget":{"daily":1000,"currency":"USD"},"pacing":"asap",
 "bid":{"strategy":"cpc","cpc":1,"max_cpm":6},
 "creatives":[{"id":"n1","format":"native","cat":["IAB1"],"adm":"{\"native\":{\"assets\":[{\"id\":1,\"title\":{\"text\":\"Marathon Training\"}}],\"link\":{\"url\":\"https://northbook.example/\"}}}"}]},
{"id":"deals","advertiser":"Ironhearth","adomain":["ironhearth.example"],"budget":{"daily":1000,"currency":"GBP"},"pacing":"asap",
 "bid":{"strategy":"cpm","max_cpm":20},"targeting":{"deals":["1452f.eadb4.7aaa","1452f.eadb4.f9bc","123","V123"]},
 "creatives":[
  {"id":"d-v30","format":"video","duration":30,"mimes":["video/mp4"],"cat":["IAB8"],"adm":"<VAST version=\"3.0\"/>"},
  {"id":"d-v20","format":"video","duration":20,"mimes":["video/mp4"],"cat":["IAB8"],"adm":"<VAST version=\"3.0\"/>"},
  {"id":"d-dooh","format":"banner","w":1080,"h":1920,"mimes":["image/png"],"cat":["IAB8"],"adm":"<img src=\"https://ironhearth.example/d.png\">"}]}
]`

// campaignLimits returns each campaign's max CPM and currency.
func campaignLimits(t testing.TB, list string) map[string]campaign.Campaign {
	var cs []campaign.Campaign
	if err := json.Unmarshal([]byte(list), &cs); err != nil {
		t.Fatal(err)
	}
	out := map[string]campaign.Campaign{}
	for _, c := range cs {
		out[c.ID] = c
	}
	return out
}

func TestExampleRequests(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.loadCatalog()
	ts.campaigns(exampleCampaigns)
	camps := campaignLimits(t, exampleCampaigns)
	bids := 0
	for name, body := range exampleRequests(t) {
		var req openrtb2.BidRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("%s does not decode: %v", name, err)
			continue
		}
		code, out := ts.rawBid(body)
		if n := checkAnswer(t, name, &req, code, out, camps); n > 0 {
			bids++
			t.Logf("%s: %d bids", name, n)
		} else {
			t.Logf("%s: %d", name, code)
		}
		// The same request gzip-compressed, as Prebid Server sends it.
		if code2, _ := ts.rawBid(gzipBytes(body), "Content-Encoding", "gzip"); code2 != 200 && code2 != 204 {
			t.Errorf("%s gzip-compressed = %d", name, code2)
		}
	}
	// Most of them offer something these campaigns can fill.
	if bids < 18 {
		t.Errorf("%d example requests got a bid, want at least 18", bids)
	}
}

// checkAnswer checks that an answer to req is a 204 with no body or a bid
// response that obeys every rule, and returns the number of bids.
func checkAnswer(t *testing.T, name string, req *openrtb2.BidRequest, code int, out []byte, camps map[string]campaign.Campaign) int {
	t.Helper()
	switch code {
	case 204:
		if len(out) != 0 {
			t.Errorf("%s: 204 with a body", name)
		}
		return 0
	case 200:
	default:
		t.Errorf("%s: answered %d %s, want 200 or 204", name, code, out)
		return 0
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: "+format, append([]any{name}, args...)...)
	}
	var resp openrtb2.BidResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		fail("response is not valid: %v: %s", err, out)
		return 0
	}
	if resp.ID != req.ID || resp.BidID == "" {
		fail("response id %q bidid %q, want id %q", resp.ID, resp.BidID, req.ID)
	}
	if len(req.Cur) > 0 && !slices.Contains(req.Cur, resp.Cur) || len(req.Cur) == 0 && resp.Cur != "USD" {
		fail("currency %q not among %v", resp.Cur, req.Cur)
	}
	if len(resp.SeatBid) != 1 || len(resp.SeatBid[0].Bid) == 0 {
		fail("want one seat with bids: %s", out)
		return 0
	}
	rate := func(cur string) float64 {
		if cur == "" || cur == "USD" {
			return 1
		}
		return testRates[cur]
	}
	seen := map[string]bool{}
	for _, b := range resp.SeatBid[0].Bid {
		var imp *openrtb2.Imp
		for i := range req.Imp {
			if req.Imp[i].ID == b.ImpID {
				imp = &req.Imp[i]
			}
		}
		if imp == nil || seen[b.ImpID] {
			fail("bid for imp %q: unknown or a second bid", b.ImpID)
			continue
		}
		seen[b.ImpID] = true
		c, ok := camps[b.CID]
		if !ok {
			fail("bid from unknown campaign %q", b.CID)
			continue
		}
		// Price: above the floor (of the deal when through one), at most the
		// campaign's maximum, converted.
		toResp := func(amount float64, cur string) float64 { return amount / rate(cur) * rate(resp.Cur) }
		floor := toResp(imp.BidFloor, imp.BidFloorCur)
		if imp.PMP != nil && imp.PMP.PrivateAuction == 1 && b.DealID == "" {
			fail("bid outside the deals of a private auction")
		}
		if b.DealID != "" {
			found := false
			for _, d := range imp.PMP.Deals {
				if d.ID == b.DealID {
					found = true
					cur := d.BidFloorCur
					if cur == "" {
						cur = imp.BidFloorCur
					}
					floor = toResp(d.BidFloor, cur)
				}
			}
			if !found {
				fail("deal %q not offered", b.DealID)
			}
		}
		if b.Price <= 0 || b.Price < floor-1e-9 {
			fail("price %v under the floor %v", b.Price, floor)
		}
		if max := toResp(c.Bid.MaxCPM, c.Budget.Currency); b.Price > max+1e-9 {
			fail("price %v over the campaign's maximum %v", b.Price, max)
		}
		// Blocks.
		if len(b.ADomain) == 0 {
			fail("bid without adomain")
		}
		for _, d := range b.ADomain {
			for _, bad := range req.BAdv {
				bd := campaign.CanonicalDomain(bad)
				if d == bd || strings.HasSuffix(d, "."+bd) {
					fail("adomain %q is blocked by %q", d, bad)
				}
			}
		}
		if len(req.BCat) > 0 && len(b.Cat) == 0 {
			fail("a bid without categories under bcat")
		}
		for _, cat := range b.Cat {
			for _, bc := range req.BCat {
				if cat == bc || strings.HasPrefix(cat, bc+"-") {
					fail("category %q is blocked by %q", cat, bc)
				}
			}
		}
		if b.Bundle != "" && slices.Contains(req.BApp, b.Bundle) {
			fail("bundle %q is blocked", b.Bundle)
		}
		// The format offered, its size, duration and blocked attributes.
		var battr []int64
		switch b.MType {
		case openrtb2.MarkupBanner:
			if imp.Banner == nil {
				fail("banner bid for an imp without banner")
				continue
			}
			// The sizes the request states (both sides above zero), as the
			// bidder reads them; none stated leaves the size open.
			var sizes [][2]int64
			if imp.Banner.W != nil && imp.Banner.H != nil && *imp.Banner.W > 0 && *imp.Banner.H > 0 {
				sizes = append(sizes, [2]int64{*imp.Banner.W, *imp.Banner.H})
			}
			for _, f := range imp.Banner.Format {
				if f.W > 0 && f.H > 0 {
					sizes = append(sizes, [2]int64{f.W, f.H})
				}
			}
			fits := len(sizes) == 0
			for _, s := range sizes {
				fits = fits || s == [2]int64{b.W, b.H}
			}
			if !fits {
				fail("banner %dx%d not among %v", b.W, b.H, sizes)
			}
			for _, a := range imp.Banner.BAttr {
				battr = append(battr, int64(a))
			}
		case openrtb2.MarkupVideo, openrtb2.MarkupAudio:
			var minD, maxD int64
			var rqd []int64
			if b.MType == openrtb2.MarkupVideo {
				if imp.Video == nil {
					fail("video bid for an imp without video")
					continue
				}
				minD, maxD, rqd = imp.Video.MinDuration, imp.Video.MaxDuration, imp.Video.RqdDurs
				for _, a := range imp.Video.BAttr {
					battr = append(battr, int64(a))
				}
			} else {
				if imp.Audio == nil {
					fail("audio bid for an imp without audio")
					continue
				}
				minD, maxD, rqd = imp.Audio.MinDuration, imp.Audio.MaxDuration, imp.Audio.RqdDurs
			}
			switch {
			case b.Dur <= 0:
				fail("media bid without dur")
			case len(rqd) > 0 && !containsInt(rqd, b.Dur):
				fail("dur %d not among %v", b.Dur, rqd)
			case len(rqd) == 0 && (b.Dur < minD || maxD > 0 && b.Dur > maxD):
				fail("dur %d outside %d-%d", b.Dur, minD, maxD)
			}
		case openrtb2.MarkupNative:
			if imp.Native == nil {
				fail("native bid for an imp without native")
			}
		default:
			fail("mtype %d", b.MType)
		}
		for _, a := range b.Attr {
			if containsInt(battr, int64(a)) {
				fail("attribute %d is blocked", a)
			}
		}
		// Markup and notices.
		if b.AdM == "" || strings.Contains(b.AdM, "{{") || b.CrID == "" || b.ID == "" {
			fail("bid adm %q crid %q id %q", b.AdM, b.CrID, b.ID)
		}
		for _, u := range []string{b.NURL, b.BURL, b.LURL} {
			if !strings.HasPrefix(u, testPublicURL+"/openrtb2/") || !strings.Contains(u, "${AUCTION_PRICE}") {
				fail("notice URL %q", u)
			}
		}
	}
	return len(resp.SeatBid[0].Bid)
}

func containsInt(list []int64, v int64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
