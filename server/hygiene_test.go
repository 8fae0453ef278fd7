package server

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// raw sends a request as written, bytes and all, as curl would, and returns
// the answer's status and body.
func (ts *testServer) raw(request string) (int, string) {
	ts.t.Helper()
	conn, err := ts.ln.Dial()
	if err != nil {
		ts.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(request)); err != nil {
		ts.t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		ts.t.Fatalf("reading the answer to %q: %v", request, err)
	}
	checkRaw(ts.t, request, &resp)
	return resp.StatusCode(), string(resp.Body())
}

// wantError checks an answer is the API's JSON error with the status, code
// and field given ("" for any).
func wantError(t *testing.T, what string, code int, out string, wantCode int, errCode, field string) {
	t.Helper()
	var e struct {
		Error struct {
			Code, Message, Field string
		}
	}
	if code != wantCode || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code == "" ||
		errCode != "" && e.Error.Code != errCode || field != "" && e.Error.Field != field {
		t.Errorf("%s = %d %s, want %d %s naming %q", what, code, strings.TrimSpace(out), wantCode, errCode, field)
	}
}

// TestIDsFollowOneRule: every id the API stores can be read and erased
// through its URL, because an id that could not is refused where it comes
// in.
func TestIDsFollowOneRule(t *testing.T) {
	ts := newTestServer(t)
	for _, id := range []string{"..", ".", "a/b", "../users/x", "a\u0000b", "tab\there", strings.Repeat("x", 257)} {
		j, _ := json.Marshal(id)
		code, out := ts.post("/v1/items", `{"id":`+string(j)+`,"title":"x"}`)
		wantError(t, "item id "+string(j), code, out, 400, "invalid_item", "id")
		code, out = ts.post("/v1/events", `{"user":`+string(j)+`,"type":"view","item":"i1"}`)
		wantError(t, "event user "+string(j), code, out, 400, "invalid_event", "user")
		code, out = ts.post("/v1/events", `{"user":"u1","type":"view","item":`+string(j)+`}`)
		wantError(t, "event item "+string(j), code, out, 400, "invalid_event", "item")
		code, out = ts.post("/v1/events", `{"id":`+string(j)+`,"user":"u1","type":"view","item":"i1"}`)
		wantError(t, "event id "+string(j), code, out, 400, "invalid_event", "id")
		code, out = ts.post("/v1/users", `{"id":`+string(j)+`,"region":"north"}`)
		wantError(t, "user id "+string(j), code, out, 400, "invalid_user", "id")
		code, out = ts.post("/v1/recommend", `{"user":`+string(j)+`}`)
		wantError(t, "recommend user "+string(j), code, out, 400, "invalid_request", "user")
	}
	// Ids with dots, spaces and any script are fine, and round-trip.
	for _, id := range []string{"a..b", "...", "with space", "跑步鞋", "x.y"} {
		j, _ := json.Marshal(id)
		ts.mustPost("/v1/items", `{"id":`+string(j)+`,"title":"x"}`)
		ts.mustPost("/v1/events", `{"user":`+string(j)+`,"type":"view","item":`+string(j)+`}`)
		path := strings.ReplaceAll(id, " ", "%20")
		if code, out := ts.do("GET", "/v1/items/"+path, "", ""); code != 200 {
			t.Errorf("GET item %q = %d %s", id, code, out)
		}
		if code, out := ts.do("DELETE", "/v1/users/"+path, "", ""); code != 200 {
			t.Errorf("DELETE user %q = %d %s", id, code, out)
		}
		if code, out := ts.do("DELETE", "/v1/items/"+path, "", ""); code != 200 {
			t.Errorf("DELETE item %q = %d %s", id, code, out)
		}
	}
}

// TestEncodedSlashesDoNotReroute: an encoded '/' in a path is refused
// rather than decoded into another route.
func TestEncodedSlashesDoNotReroute(t *testing.T) {
	ts := newTestServer(t)
	ts.mustPost("/v1/events", `{"user":"x","type":"view","item":"i1"}`)
	for _, path := range []string{"/v1/items/..%2Fusers%2Fx", "/v1/items/..%2fusers%2fx", "/v1/items/a%5Cb", "/v1/users/a%00b",
		"/v1/audiences/a%2Fusers"} {
		code, out := ts.raw("GET " + path + " HTTP/1.1\r\nHost: tailor\r\n\r\n")
		wantError(t, "GET "+path, code, out, 400, "invalid_path", "path")
		if strings.Contains(out, `"user":"x"`) {
			t.Errorf("GET %s answered a user's profile", path)
		}
	}
	// An encoded character that is not a separator is fine.
	ts.mustPost("/v1/items", `{"id":"a b","title":"x"}`)
	if code, out := ts.do("GET", "/v1/items/a%20b", "", ""); code != 200 {
		t.Errorf("GET /v1/items/a%%20b = %d %s", code, out)
	}
	// A query string may hold anything.
	if code, out := ts.do("GET", "/v1/triggers?cursor=%2F", "", ""); code != 200 {
		t.Errorf("GET with %%2F in the query = %d %s", code, out)
	}
}

func TestUnknownFieldsRefused(t *testing.T) {
	ts := newTestServer(t)
	for _, c := range []struct {
		path, body, code, field string
	}{
		{"/v1/events", `{"user":"u1","type":"view","item":"i1","colour":"red"}`, "invalid_event", "colour"},
		{"/v1/events", `[{"user":"u1","type":"view","item":"i1"},{"user":"u1","type":"view","item":"i1","ammount":3}]`, "invalid_event", "ammount"},
		{"/v1/items", `{"id":"i1","title":"x","prize":3}`, "invalid_item", "prize"},
		{"/v1/users", `{"id":"u1","regoin":"north"}`, "invalid_user", "regoin"},
		{"/v1/recommend", `{"user":"u1","count":5}`, "invalid_request", "count"},
		{"/v1/recommend", `{"user":"u1","context":{"itme":"x"}}`, "invalid_request", "context.itme"},
		{"/v1/recommend", `{"user":"u1","filter":{"categroy":["x"]}}`, "invalid_request", "filter.categroy"},
		{"/v1/recommend", `{"user":"u1","boost":[{"audience":"a","category":["x"],"wieght":2}]}`, "invalid_request", "boost[0].wieght"},
		{"/v1/campaigns", `{"id":"c1","budjet":{}}`, "invalid_campaign", "budjet"},
		{"/v1/audiences/a", `{"expression":"purchases > 0","descr":"x"}`, "invalid_audience", "descr"},
	} {
		code, out := ts.post(c.path, c.body)
		wantError(t, "POST "+c.path+" "+c.body, code, out, 400, c.code, c.field)
	}
}

// TestInvalidUTF8AnsweredAlike: a body that is not UTF-8 gets the same
// answer on every route that takes JSON.
func TestInvalidUTF8AnsweredAlike(t *testing.T) {
	ts := newTestServer(t)
	bad := "\xff\xfe"
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/events", `{"user":"u` + bad + `","type":"view","item":"i1"}`},
		{"POST", "/v1/items", `{"id":"i1","title":"` + bad + `"}`},
		{"POST", "/v1/users", `{"id":"u1","labels":{"` + bad + `":"x"}}`},
		{"POST", "/v1/recommend", `{"user":"u1","exclude":["` + bad + `"]}`},
		{"POST", "/v1/campaigns", `{"id":"c1","advertiser":"` + bad + `"}`},
		{"POST", "/v1/audiences/a", `{"expression":"purchases > 0","description":"` + bad + `"}`},
		{"PUT", "/v1/experiments", `{"experiments":[{"id":"` + bad + `"}]}`},
	} {
		code, out := ts.do(c.method, c.path, "application/json", c.body)
		wantError(t, c.method+" "+c.path, code, out, 400, "invalid_json", "")
		if !strings.Contains(out, "UTF-8") {
			t.Errorf("%s %s = %s, want a message naming UTF-8", c.method, c.path, out)
		}
	}
	if code, _ := ts.rawBid([]byte(`{"id":"r` + bad + `","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`)); code != 400 {
		t.Errorf("bid with invalid UTF-8 = %d, want 400", code)
	}
}

// TestNumbersBounded: amounts and prices beyond MaxAmount are refused, so
// that sums over a profile cannot overflow.
func TestNumbersBounded(t *testing.T) {
	ts := newTestServer(t)
	for _, c := range []struct{ path, body, code, field string }{
		{"/v1/events", `{"user":"u1","type":"purchase","item":"i1","amount":1e308}`, "invalid_event", "amount"},
		{"/v1/events", `{"user":"u1","type":"purchase","item":"i1","amount":-1}`, "invalid_event", "amount"},
		{"/v1/events", `{"user":"u1","type":"purchase","item":"i1","amount":1000000001}`, "invalid_event", "amount"},
		{"/v1/items", `{"id":"i1","title":"x","price":1e308}`, "invalid_item", "price"},
		{"/v1/recommend", `{"boost":[{"audience":"a","category":["x"],"weight":1e300}]}`, "invalid_request", "boost[0].weight"},
	} {
		code, out := ts.post(c.path, c.body)
		wantError(t, "POST "+c.path+" "+c.body, code, out, 400, c.code, c.field)
	}
	// At the bound, lifetime value and monetary value stay exact and positive.
	for i := 0; i < 3; i++ {
		ts.mustPost("/v1/events", `{"user":"big","type":"purchase","item":"i1","amount":1000000000}`)
	}
	var p struct {
		RFM struct {
			Monetary      float64 `json:"monetary"`
			LifetimeValue float64 `json:"lifetime_value"`
		} `json:"rfm"`
	}
	if code := ts.getJSON("/v1/users/big", &p); code != 200 || p.RFM.LifetimeValue != 3e9 || p.RFM.Monetary != 3e9 {
		t.Errorf("profile of a big spender: %d %+v, want lifetime and monetary value 3e9", code, p.RFM)
	}
}
