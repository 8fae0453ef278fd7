package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestBrowserRoutes checks what a web page on another origin needs: CORS
// headers on the events and recommend routes for the allowed origins only,
// preflights answered before any token is asked for, and the token taken
// from the access_token query parameter on those two routes alone (a beacon
// cannot set headers).
func TestBrowserRoutes(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{Auth: testAuth(t), CORSOrigins: []string{"https://shop.example"}})
	ts.token = tokAdmin
	ts.loadCatalog()
	ts.token = ""

	send := func(method, uri, origin, body string, header ...string) *fasthttp.Response {
		t.Helper()
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI("http://tailor" + uri)
		req.Header.SetMethod(method)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		req.SetBodyString(body)
		resp := new(fasthttp.Response)
		if err := ts.client.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	acao := func(r *fasthttp.Response) string { return string(r.Header.Peek("Access-Control-Allow-Origin")) }

	pre := send("OPTIONS", "/v1/events", "https://shop.example", "", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type")
	if pre.StatusCode() != 204 || acao(pre) != "https://shop.example" ||
		string(pre.Header.Peek("Access-Control-Allow-Headers")) != "Authorization, Content-Type" {
		t.Errorf("preflight = %d, allow-origin %q, allow-headers %q; want 204 for the origin",
			pre.StatusCode(), acao(pre), pre.Header.Peek("Access-Control-Allow-Headers"))
	}
	if r := send("OPTIONS", "/v1/events", "https://evil.example", "", "Access-Control-Request-Method", "POST"); acao(r) != "" {
		t.Errorf("preflight from another origin got Access-Control-Allow-Origin %q", acao(r))
	}
	if r := send("OPTIONS", "/v1/users/u1", "https://shop.example", "", "Access-Control-Request-Method", "GET"); acao(r) != "" || r.StatusCode() == 204 {
		t.Errorf("preflight on a non-browser route = %d with allow-origin %q", r.StatusCode(), acao(r))
	}

	ev := `{"user":"u1","type":"view","item":"shoe-1"}`
	r := send("POST", "/v1/events?access_token="+tokIngest, "https://shop.example", ev, "Content-Type", "text/plain;charset=UTF-8")
	if r.StatusCode() != 200 || acao(r) != "https://shop.example" {
		t.Errorf("beacon-style events = %d %s, allow-origin %q; want 200 with the origin", r.StatusCode(), r.Body(), acao(r))
	}
	ts.token = tokRead
	if n := ts.userEvents("u1"); n != 1 {
		t.Errorf("u1 has %d events after the beacon, want 1", n)
	}
	ts.token = ""
	r = send("POST", "/v1/recommend?access_token="+tokRecommend, "https://shop.example", `{"user":"u1","n":2}`)
	if r.StatusCode() != 200 {
		t.Errorf("recommend with access_token = %d %s", r.StatusCode(), r.Body())
	}
	r = send("POST", "/v1/recommend?access_token="+tokIngest, "", `{"user":"u1"}`)
	wantError(t, "recommend with an ingest access_token", r.StatusCode(), string(r.Body()), 403, "forbidden", "")
	r = send("GET", "/v1/users/u1?access_token="+tokAdmin, "", "")
	wantError(t, "a read route with access_token", r.StatusCode(), string(r.Body()), 401, "unauthorized", "")
	r = send("POST", "/v1/events", "https://shop.example", ev)
	wantError(t, "events without a token", r.StatusCode(), string(r.Body()), 401, "unauthorized", "")
}
