package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Tokens of the auth tests, one per scope.
const (
	tokIngest    = "ingest-token-0123456789"
	tokRecommend = "recommend-token-0123456789"
	tokRead      = "read-token-0123456789"
	tokAdmin     = "admin-token-0123456789"
)

func testAuth(t *testing.T) *Auth {
	t.Helper()
	sum := sha256.Sum256([]byte(tokAdmin))
	a, err := ParseAuth([]byte(fmt.Sprintf(`{"tokens":[
		{"name":"site","token":%q,"scopes":["ingest"]},
		{"name":"slots","token":%q,"scopes":["recommend"]},
		{"name":"analyst","token":%q,"scopes":["read"]},
		{"name":"ops","sha256":%q,"scopes":["admin"]}]}`, tokIngest, tokRecommend, tokRead, hex.EncodeToString(sum[:]))))
	if err != nil {
		t.Fatalf("ParseAuth() = %v", err)
	}
	return a
}

// TestAuthScopes walks every kind of route with no token, an unknown token,
// a token without the route's scope and one with it.
func TestAuthScopes(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{Auth: testAuth(t)})
	ts.token = tokAdmin
	ts.loadCatalog()
	ts.mustPost("/v1/audiences/buyers", `{"expression":"purchases > 0"}`)
	ts.token = tokIngest
	ts.mustPost("/v1/events", `{"user":"u1","type":"view","item":"shoe-1"}`)

	type call struct{ method, path, body, scope string }
	calls := []call{
		{"POST", "/v1/events", `{"user":"u1","type":"view","item":"shoe-1"}`, "ingest"},
		{"POST", "/v1/recommend", `{"user":"u1"}`, "recommend"},
		{"GET", "/v1/users/u1", "", "read"},
		{"GET", "/v1/items/shoe-1", "", "read"},
		{"GET", "/v1/audiences", "", "read"},
		{"GET", "/v1/audiences/buyers", "", "read"},
		{"GET", "/v1/audiences/buyers/users", "", "read"},
		{"GET", "/v1/triggers", "", "read"},
		{"GET", "/v1/experiments", "", "read"},
		{"POST", "/v1/items", `{"id":"x1","title":"X"}`, "admin"},
		{"DELETE", "/v1/items/x1", "", "admin"},
		{"POST", "/v1/users", `{"id":"u2","region":"north"}`, "admin"},
		{"DELETE", "/v1/users/u2", "", "admin"},
		{"POST", "/v1/segments/refresh", "", "admin"},
		{"POST", "/v1/audiences/lapsed", `{"expression":"lifecycle = \"lapsed\""}`, "admin"},
		{"DELETE", "/v1/audiences/lapsed", "", "admin"},
		{"PUT", "/v1/experiments", `{"experiments":[]}`, "admin"},
		{"GET", "/metrics", "", "admin"},
	}
	tokenOf := map[string]string{"ingest": tokIngest, "recommend": tokRecommend, "read": tokRead, "admin": tokAdmin}
	for _, c := range calls {
		ts.token = ""
		if code, out := ts.do(c.method, c.path, "application/json", c.body); code != 401 || !strings.Contains(out, `"unauthorized"`) {
			t.Errorf("%s %s without a token = %d %s, want 401 unauthorized", c.method, c.path, code, out)
		}
		ts.token = "not-a-token-of-this-server"
		if code, _ := ts.do(c.method, c.path, "application/json", c.body); code != 401 {
			t.Errorf("%s %s with an unknown token = %d, want 401", c.method, c.path, code)
		}
		for scope, tok := range tokenOf {
			ts.token = tok
			code, out := ts.do(c.method, c.path, "application/json", c.body)
			allowed := scope == c.scope || scope == "admin" && c.scope == "read"
			switch {
			case allowed && (code == 401 || code == 403):
				t.Errorf("%s %s with the %s token = %d %s, want it served", c.method, c.path, scope, code, out)
			case !allowed && (code != 403 || !strings.Contains(out, c.scope)):
				t.Errorf("%s %s with the %s token = %d %s, want 403 naming %s", c.method, c.path, scope, code, out, c.scope)
			}
		}
	}
	// Open to all: the health checks, the bid route and its notices (signed).
	ts.token = ""
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := ts.do("GET", path, "", ""); code != 200 {
			t.Errorf("GET %s without a token = %d, want 200", path, code)
		}
	}
	if code, _ := ts.rawBid([]byte(`{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`)); code != 204 && code != 200 {
		t.Errorf("bid without a token = %d, want an answer", code)
	}
	if code, out := ts.do("GET", "/openrtb2/win?t=forged", "", ""); code != 400 || !strings.Contains(out, "invalid_notice") {
		t.Errorf("notice without a token = %d %s, want 400 invalid_notice (the token is checked, not the route)", code, out)
	}
	if got := ts.counter("tailor_http_auth_failures_total", "reason", "forbidden"); got == 0 {
		t.Error("tailor_http_auth_failures_total{reason=forbidden} = 0")
	}
}

func TestAuthReplaced(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{Auth: testAuth(t)})
	ts.token = tokRead
	if code, _ := ts.do("GET", "/v1/audiences", "", ""); code != 200 {
		t.Fatalf("GET /v1/audiences = %d, want 200", code)
	}
	next, err := ParseAuth([]byte(`{"tokens":[{"name":"new","token":"a-brand-new-token-42","scopes":["read"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.SetAuth(next)
	if code, _ := ts.do("GET", "/v1/audiences", "", ""); code != 401 {
		t.Errorf("GET with a token dropped from the file = %d, want 401", code)
	}
	ts.token = "a-brand-new-token-42"
	if code, _ := ts.do("GET", "/v1/audiences", "", ""); code != 200 {
		t.Errorf("GET with the new token = %d, want 200", code)
	}
}

func TestParseAuthRefuses(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{`{}`, "no tokens"},
		{`{"tokens":[{"name":"a","token":"0123456789abcdef","scopes":["read"]}],"x":1}`, "unknown field"},
		{`{"tokens":[{"token":"0123456789abcdef","scopes":["read"]}]}`, "name is required"},
		{`{"tokens":[{"name":"a","token":"short","scopes":["read"]}]}`, "shorter than"},
		{`{"tokens":[{"name":"a","sha256":"abc","scopes":["read"]}]}`, "64 hex digits"},
		{`{"tokens":[{"name":"a","token":"0123456789abcdef","sha256":"00","scopes":["read"]}]}`, "not both"},
		{`{"tokens":[{"name":"a","token":"0123456789abcdef","scopes":["root"]}]}`, "unknown scope"},
		{`{"tokens":[{"name":"a","token":"0123456789abcdef"}]}`, "scopes are required"},
		{`{"tokens":[{"name":"a","token":"0123456789abcdef","scopes":["read"]},{"name":"a","token":"fedcba9876543210","scopes":["read"]}]}`, "unique"},
		{`{"tokens":[{"name":"a","token":"0123456789abcdef","scopes":["read"]},{"name":"b","token":"0123456789abcdef","scopes":["admin"]}]}`, "twice"},
	} {
		if _, err := ParseAuth([]byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAuth(%s) = %v, want an error with %q", tc.file, err, tc.want)
		}
	}
}

// TestBidAllow serves over real TCP on loopback, so that the peer address
// is real.
func TestBidAllow(t *testing.T) {
	for _, tc := range []struct {
		allow string
		want  int
	}{{"10.0.0.0/8", 403}, {"127.0.0.0/8,::1", 204}} {
		prefixes, err := ParsePrefixes(tc.allow)
		if err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, t.TempDir(), nil, Options{BidAllow: prefixes})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- ts.srv.Serve(ln) }()
		var resp fasthttp.Response
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://" + ln.Addr().String() + "/openrtb2/bid")
		req.Header.SetMethod("POST")
		req.SetBodyString(`{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`)
		if err := fasthttp.Do(req, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != tc.want {
			t.Errorf("bid from 127.0.0.1 with --bid-allow %s = %d, want %d", tc.allow, resp.StatusCode(), tc.want)
		}
		ln.Close()
		<-done
	}
	if _, err := ParsePrefixes("10.0.0.0/8,nonsense"); err == nil {
		t.Error(`ParsePrefixes("10.0.0.0/8,nonsense") = nil error`)
	}
}

// TestSeparateAdmin serves the admin routes on their own handler only.
func TestSeparateAdmin(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{SeparateAdmin: true})
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/items", `{"id":"x1","title":"X"}`},
		{"DELETE", "/v1/users/u1", ""},
		{"GET", "/metrics", ""},
	} {
		if code, out := ts.do(c.method, c.path, "application/json", c.body); code != 404 || !strings.Contains(out, "admin listener") {
			t.Errorf("%s %s on the public listener = %d %s, want 404 naming the admin listener", c.method, c.path, code, out)
		}
	}
	ts.mustPost("/v1/events", `{"user":"u1","type":"view","item":"x1"}`)

	admin := &fasthttp.Server{Handler: ts.srv.AdminHandler(), StreamRequestBody: true}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/items", `{"id":"x1","title":"X"}`},
		{"GET", "/metrics", ""},
		{"GET", "/debug/pprof/", ""},
		{"GET", "/v1/users/u1", ""},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(c.method)
		ctx.Request.SetRequestURI(c.path)
		ctx.Request.SetBodyString(c.body)
		admin.Handler(&ctx)
		if code := ctx.Response.StatusCode(); code != 200 {
			t.Errorf("%s %s on the admin handler = %d %s, want 200", c.method, c.path, code, ctx.Response.Body())
		}
	}
}
