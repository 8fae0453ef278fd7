package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/service"
)

// FuzzRouter sends arbitrary methods, paths and bodies through the whole
// handler (path checks, routing, body limits, every decoder behind them):
// no input may make it fail (500) or answer an error that is not the API's
// JSON error.
func FuzzRouter(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"POST", "/v1/events", `[{"user":"u1","type":"view","item":"i1"},{"user":"u1","type":"search","query":"trail"}]`},
		{"POST", "/v1/events", `{"type":"impression","rec_id":"00000100000000ff","items":["a"]}`},
		{"POST", "/v1/items", `[{"id":"i1","title":"Trail Shoe","category":["Sports","Running"],"price":12,"attrs":{"a":1}}]`},
		{"POST", "/v1/users", `{"id":"u1","region":"north","labels":{"vip":"yes"},"tier":2}`},
		{"POST", "/v1/recommend", `{"user":"u1","n":3,"context":{"item":"i1"},"filter":{"category":["Sports"]},"boost":[{"audience":"a","category":["x"]}]}`},
		{"POST", "/v1/campaigns", `{"id":"c1","advertiser":"A","adomain":["a.example"],"budget":{"daily":10,"currency":"USD"},"bid":{"strategy":"cpm","max_cpm":2},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}`},
		{"PUT", "/v1/audiences/buyers", `{"expression":"purchases > 0"}`},
		{"GET", "/v1/audiences/buyers/users?limit=5&cursor=u", ""},
		{"PUT", "/v1/experiments", `{"experiments":[]}`},
		{"GET", "/v1/items/..%2Fusers%2Fu1", ""},
		{"DELETE", "/v1/users/u1", ""},
		{"GET", "/v1/campaigns/c1/stats", ""},
		{"GET", "/openrtb2/win?t=AAAA&p=1", ""},
		{"POST", "/openrtb2/bid", `{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`},
		{"POST", "/v1/segments/refresh?as_of=2026-01-01T00:00:00Z", ""},
		{"GET", "/v1/triggers?after=3&limit=2", ""},
		{"GET", "/readyz", ""},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	srv, err := Open(f.TempDir(), Options{Service: service.Options{Logger: log.New(io.Discard, "", 0),
		Storage: service.StorageOptions{MinFreeBytes: -1}, Now: newClock().Now}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \r\n\t") || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		ctx.Request.SetBody(body)
		ctx.Request.Header.SetContentType("application/json")
		h(&ctx)
		code := ctx.Response.StatusCode()
		if code == 500 {
			t.Fatalf("%s %s %q = 500 %s", method, path, body, ctx.Response.Body())
		}
		out := ctx.Response.Body()
		if code >= 400 && string(ctx.Response.Header.ContentType()) == "application/json" {
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(out, &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %s %q = %d %q: not the API's error", method, path, body, code, out)
			}
		}
	})
}

// FuzzRecords checks the batch splitter against a whole parse: a body that
// fastjson reads as an array of at most MaxBatch records yields exactly
// those records, and any other array is refused.
func FuzzRecords(f *testing.F) {
	for _, s := range []string{`[{"a":1},{"b":[1,2,{"c":"]"}]}]`, `[]`, `[1,2]`, ` [ {} , {} ] `, `[{"a":"\"],["}]`, `[{}`, `[{}]]`, `{"a":1}`,
		`["x",{}]`, `[{} {}]`, `[,]`, "[{}\n,\n{}]"} {
		f.Add(s)
	}
	s := &Server{opts: Options{MaxBatch: 4}}
	f.Fuzz(func(t *testing.T, body string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetBodyString(body)
		var got []string
		n, e := s.records(&ctx, func(_ int, v *fastjson.Value) *apiError {
			got = append(got, string(v.MarshalTo(nil)))
			return nil
		})
		var p fastjson.Parser
		v, err := p.Parse(body)
		trimmed := bytes.TrimLeft([]byte(body), " \t\r\n")
		isArray := len(trimmed) > 0 && trimmed[0] == '['
		if !isArray {
			if err == nil && v.Type() == fastjson.TypeObject && (e != nil || n != 1) {
				t.Fatalf("records(%q) = %d, %v for an object", body, n, e)
			}
			return
		}
		if err != nil {
			// fastjson reads some scalars on their own ("+") that it refuses
			// inside an array, so the splitter may accept such a body; never
			// more records than the limit.
			if e == nil && n > 4 {
				t.Fatalf("records(%q) accepted %d records", body, n)
			}
			return
		}
		arr := v.GetArray()
		if len(arr) == 0 || len(arr) > 4 {
			if e == nil {
				t.Fatalf("records(%q) accepted %d records, want a refusal", body, n)
			}
			return
		}
		if e != nil || n != len(arr) {
			t.Fatalf("records(%q) = %d, %v; want the %d elements", body, n, e, len(arr))
		}
		for i, el := range arr {
			if want := string(el.MarshalTo(nil)); got[i] != want {
				t.Fatalf("records(%q)[%d] = %s, want %s", body, i, got[i], want)
			}
		}
	})
}

// FuzzDecoders runs the record decoders of items, users, recommend requests
// and campaigns over arbitrary JSON: each accepts what it validates and
// refuses the rest with a field-level 400, never a panic.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{
		`{"id":"i1","title":"Trail Shoe","category":["Sports"],"tags":["x"],"price":12,"available":false,"attrs":{}}`,
		`{"id":"u1","region":"north","labels":{"k":"v"},"channels":["email"],"tier":null}`,
		`{"user":"u1","n":5,"exclude":["a"],"context":{"item":"a","query":"q","category":["C"]},"filter":{"audience":"x"},"boost":[{"audience":"a","category":["c"],"weight":2}]}`,
		`{"id":"c1","advertiser":"A","adomain":["a.example"],"budget":{"daily":10,"currency":"USD"},"bid":{"strategy":"cpm","max_cpm":2}}`,
		`{"id":"..","price":1e308}`, `{"boost":[1]}`, `{"labels":[]}`, `[]`, `1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p fastjson.Parser
		v, err := p.Parse(s)
		if err != nil {
			return
		}
		check := func(what string, e *apiError) {
			if e != nil && (e.status != 400 || e.message == "") {
				t.Fatalf("%s(%q) = %+v", what, s, e)
			}
		}
		var it index.Item
		e := decodeItem(v, &it)
		check("decodeItem", e)
		if e == nil && it.Validate() != nil {
			t.Fatalf("decodeItem(%q) accepted an invalid item: %v", s, it.Validate())
		}
		var u features.AttributesUpdate
		check("decodeAttributes", decodeAttributes(v, &u))
		var sc recScratch
		_, e = decodeRecommend(v, &sc)
		check("decodeRecommend", e)
		if e == nil && (sc.req.N < 1 || sc.req.N > maxN) {
			t.Fatalf("decodeRecommend(%q) accepted n = %d", s, sc.req.N)
		}
		var c campaign.Campaign
		check("decodeCampaign", decodeCampaign(v, &c))
	})
}

func FuzzParseAuth(f *testing.F) {
	f.Add(`{"tokens":[{"name":"a","token":"0123456789abcdef","scopes":["read","admin"]}]}`)
	f.Add(`{"tokens":[{"name":"a","sha256":"` + strings.Repeat("ab", 32) + `","scopes":["ingest"]}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuth([]byte(s))
		if err != nil {
			return
		}
		if a.Len() == 0 {
			t.Fatalf("ParseAuth(%q) accepted no tokens", s)
		}
		for _, tok := range a.tokens {
			if tok.scopes == ScopeNone || tok.name == "" {
				t.Fatalf("ParseAuth(%q) accepted %+v", s, tok)
			}
		}
	})
}
