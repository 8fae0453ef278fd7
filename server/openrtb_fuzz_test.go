package server

import (
	"encoding/json"
	"io"
	"log"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prebid/openrtb/v20/openrtb2"
	segjson "github.com/segmentio/encoding/json"
	"github.com/valyala/fasthttp"
)

// malformedRequests are hostile and broken bid requests (see the examples'
// README): each must get a 4xx or a no-bid, never a 5xx or a hang.
var malformedRequests = []string{
	``, `null`, `[]`, `"x"`, `{`, `{"id":"x","imp":[{"id":"1","banner":{}}]}}`,
	"\xef\xbb\xbf{}", "{\"id\":\"\xff\",\"imp\":[{\"id\":\"1\",\"banner\":{}}]}",
	`{"id":"a\u0000b","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`,
	`{"id":"x","id":"y","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`,
	`{"id":"x","tmax":1e999,"imp":[{"id":"1","banner":{}}]}`,
	`{"id":"x","tmax":-5,"imp":[{"id":"1","banner":{"w":300,"h":250}}]}`,
	`{"id":"x","tmax":99999999999,"imp":[{"id":"1","banner":{"w":300,"h":250}}]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":-300,"h":-250}}]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":-1}]}`,
	`{"id":"x","imp":[{"id":"1","video":{}}]}`,
	`{"id":"x","imp":[{"id":"1","native":{"request":"{{placeholder}}"}}]}`,
	`{"id":"x","imp":[{"id":"1","native":{"request":{"assets":[]}}}]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250},"pmp":{"private_auction":1,"deals":[]}}]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"wseat":["a"],"bseat":["tailor"]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":1,"bidfloorcur":"XYZ"}],"cur":["JPY"]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"device":{"geo":{"lat":123.456,"lon":999,"country":"??"}}}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"regs":{"gdpr":1,"gpp":"~~~","gpp_sid":[2,6,7]},"user":{"consent":"C"}}`,
	`{"id":"${AUCTION_PRICE}</script>","imp":[{"id":"\"><script>","banner":{"w":300,"h":250}}],"site":{"page":"</script>${AUCTION_PRICE}"}}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"source":{"ext":{"schain":"not an object"}},"user":{"ext":[1,2]}}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{},"dooh":{}}`,
	`{"id":"x","imp":[{"id":"1","audio":{"mimes":["audio/mpeg"],"rqddurs":[15],"minduration":5,"maxduration":60}}]}`,
	`{"id":"x","imp":[{"id":"1","banner":{"w":300,"h":250}}],"user":{"data":[{"id":"d","segment":[{"id":"1"}]}],"buyeruid":"runner"},"regs":{"ext":{"gdpr":"1"}}}`,
}

func FuzzBidRequest(f *testing.F) {
	for _, body := range exampleRequestsOrNone(f) {
		f.Add(body)
	}
	for _, s := range malformedRequests {
		f.Add([]byte(s))
	}
	opts := bidOptions(f, nil)
	c := newClock()
	opts.Service.Now = c.Now
	opts.Service.Logger = log.New(io.Discard, "", 0)
	opts.Service.Storage.MinFreeBytes = -1
	srv, err := Open(f.TempDir(), opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(exampleCampaigns), &list); err != nil {
		f.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/campaigns")
	req.SetBodyString(exampleCampaigns)
	ctx.Init(&req, nil, nil)
	h := srv.Handler()
	h(&ctx)
	if ctx.Response.StatusCode() != 200 {
		f.Fatalf("campaigns = %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	camps := campaignLimits(f, exampleCampaigns)
	f.Fuzz(func(t *testing.T, body []byte) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI("/openrtb2/bid")
		req.SetBody(body)
		ctx.Init(&req, nil, nil)
		h(&ctx)
		code, out := ctx.Response.StatusCode(), ctx.Response.Body()
		// The bidder's decoder agrees with encoding/json on what it accepts
		// and what it reads (invalid UTF-8 is refused before either runs).
		if utf8.Valid(body) {
			var std, fast openrtb2.BidRequest
			errStd, errFast := json.Unmarshal(body, &std), segjson.Unmarshal(body, &fast)
			if (errStd == nil) != (errFast == nil) || errStd == nil && !reflect.DeepEqual(std, fast) {
				t.Fatalf("decoders disagree on %q: encoding/json %v %+v, the bidder's %v %+v", body, errStd, std, errFast, fast)
			}
		}
		switch code {
		case 200:
			var br openrtb2.BidRequest
			if err := json.Unmarshal(body, &br); err != nil {
				t.Fatalf("answered 200 to a request that does not decode: %v", err)
			}
			checkAnswer(t, "fuzz", &br, code, out, camps)
			// Nothing the request sent leaks into markup or notice URLs.
			var resp openrtb2.BidResponse
			json.Unmarshal(out, &resp)
			// The macros the notice URLs carry for the exchange are ours, not
			// the request's: an id such as "$" may match them; and an id of a
			// few characters (">") may match the campaign's own markup, so
			// only ids long enough to be told apart are looked for.
			ours := strings.NewReplacer("${AUCTION_ID}", "", "${AUCTION_IMP_ID}", "", "${AUCTION_PRICE}", "", "${AUCTION_LOSS}", "")
			for _, b := range resp.SeatBid[0].Bid {
				for _, s := range []string{b.AdM, b.NURL, b.BURL, b.LURL} {
					if len(br.ID) >= 8 && strings.ContainsAny(br.ID, `<>"$`) && strings.Contains(ours.Replace(s), br.ID) {
						t.Errorf("request id %q reflected into %q", br.ID, s)
					}
				}
			}
		case 204, 400, 413, 415:
			if len(out) != 0 {
				t.Errorf("%d with a body %q", code, out)
			}
		default:
			t.Fatalf("answered %d %s", code, out)
		}
	})
}

// exampleRequestsOrNone is exampleRequests without skipping when the
// examples are missing: the fuzz test still has its own seeds.
func exampleRequestsOrNone(f *testing.F) [][]byte {
	var out [][]byte
	for _, name := range exampleNames() {
		if b, err := readExample(name); err == nil {
			out = append(out, b)
		}
	}
	return out
}
