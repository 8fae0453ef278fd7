package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// clock is a settable test clock.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ms.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	return c
}

func (c *clock) Now() time.Time            { return time.UnixMilli(c.ms.Load()) }
func (c *clock) Advance(d time.Duration)   { c.ms.Add(d.Milliseconds()) }
func (c *clock) Stamp(d time.Duration) int { return int(c.ms.Load() + d.Milliseconds()) }

// testServer is a Server on a real data directory, answering real HTTP over an
// in-memory listener.
type testServer struct {
	t      *testing.T
	dir    string
	srv    *Server
	ln     *fasthttputil.InmemoryListener
	client *fasthttp.Client
	clock  *clock
	done   chan error
	token  string // sent as a bearer token when set
}

func startServer(t *testing.T, dir string, c *clock, opts Options) *testServer {
	t.Helper()
	if c == nil {
		c = newClock()
	}
	opts.Service.Now = c.Now
	opts.Service.Logger = log.New(io.Discard, "", 0)
	if opts.Service.Storage.MinFreeBytes == 0 {
		opts.Service.Storage.MinFreeBytes = -1 // no floor and no ballast file, but where a test asks
	}
	if opts.Admission.Runnable == 0 {
		opts.Admission.Runnable = -1 // a loaded test machine must not shed at random
	}
	srv, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q) = %v", dir, err)
	}
	ts := &testServer{t: t, dir: dir, srv: srv, ln: fasthttputil.NewInmemoryListener(), clock: c, done: make(chan error, 1)}
	ts.client = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ts.ln.Dial() }}
	go func() { ts.done <- srv.Serve(ts.ln) }()
	t.Cleanup(ts.stop)
	return ts
}

func newTestServer(t *testing.T) *testServer {
	return startServer(t, t.TempDir(), nil, Options{})
}

func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ts.ln.Close()
	<-ts.done
	if err := ts.srv.Close(); err != nil {
		ts.t.Errorf("Close() = %v", err)
	}
	ts.srv = nil
}

// do sends a request and returns the status and body.
func (ts *testServer) do(method, path, contentType, body string) (int, string) {
	ts.t.Helper()
	code, out, _ := ts.doHeader(method, path, contentType, body, "")
	return code, out
}

// doHeader is do that also returns the answer's header named header.
func (ts *testServer) doHeader(method, path, contentType, body, header string) (int, string, string) {
	ts.t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://tailor" + path)
	req.Header.SetMethod(method)
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	if contentType != "" {
		req.Header.SetContentType(contentType)
	}
	req.SetBodyString(body)
	if err := ts.client.Do(req, resp); err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	checkOpenAPI(ts.t, req, resp)
	return resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek(header))
}

func (ts *testServer) post(path, body string) (int, string) {
	return ts.do("POST", path, "application/json", body)
}

// mustPost posts and fails the test unless the answer is 200.
func (ts *testServer) mustPost(path, body string) string {
	ts.t.Helper()
	code, out := ts.post(path, body)
	if code != 200 {
		ts.t.Fatalf("POST %s = %d %s, want 200", path, code, out)
	}
	return out
}

type recReason struct {
	Code     string `json:"code"`
	Item     string `json:"item"`
	Query    string `json:"query"`
	Category string `json:"category"`
}

type recItem struct {
	ID      string      `json:"id"`
	Score   float64     `json:"score"`
	Reasons []recReason `json:"reasons"`
}

type recResponse struct {
	Items  []recItem `json:"items"`
	TookUS int64     `json:"took_us"`
}

func (ts *testServer) recommend(body string) recResponse {
	ts.t.Helper()
	out := ts.mustPost("/v1/recommend", body)
	var r recResponse
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		ts.t.Fatalf("recommend answer %q: %v", out, err)
	}
	return r
}

func ids(r recResponse) []string {
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.ID
	}
	return out
}

// testCatalog has running gear, cookware and books, some with CJK titles.
const testCatalog = `[
{"id":"shoe-trail-1","title":"Trail Running Shoes","category":["Sports","Running","Shoes"],"brand":"Fellstride","tags":["trail"],"price":120},
{"id":"shoe-trail-2","title":"Waterproof Trail Running Shoes","category":["Sports","Running","Shoes"],"brand":"Quickmere","tags":["trail","waterproof"],"price":140},
{"id":"shoe-road-1","title":"Road Running Shoes","category":["Sports","Running","Shoes"],"brand":"Fellstride","price":100},
{"id":"shoe-cjk-1","title":"轻量跑步鞋","category":["Sports","Running","Shoes"],"brand":"Quickmere","price":90},
{"id":"run-jacket","title":"Running Rain Jacket","category":["Sports","Running","Apparel"],"brand":"Quickmere","price":80},
{"id":"run-socks","title":"Running Socks","category":["Sports","Running","Apparel"],"brand":"Fellstride","price":15},
{"id":"run-vest","title":"Hydration Vest","category":["Sports","Running","Accessories"],"brand":"Quickmere","price":70},
{"id":"run-watch","title":"GPS Watch","category":["Sports","Running","Accessories"],"brand":"Pacely","price":250},
{"id":"pan-1","title":"Non-Stick Frying Pan","category":["Home","Kitchen","Cookware"],"brand":"Ironhearth","price":45},
{"id":"pan-2","title":"Cast Iron Skillet","category":["Home","Kitchen","Cookware"],"brand":"Ironhearth","price":55},
{"id":"pot-1","title":"Stainless Saucepan","category":["Home","Kitchen","Cookware"],"brand":"Copperly","price":60},
{"id":"wok-cjk","title":"不粘炒锅","category":["Home","Kitchen","Cookware"],"brand":"Copperly","price":50},
{"id":"knife-1","title":"Chef Knife","category":["Home","Kitchen","Knives"],"brand":"Edgewell","price":80},
{"id":"board-1","title":"Bamboo Cutting Board","category":["Home","Kitchen","Utensils"],"brand":"Edgewell","price":25},
{"id":"book-1","title":"Marathon Training","category":["Books","Sports"],"brand":"Northbook","price":20},
{"id":"book-2","title":"Weeknight Cooking","category":["Books","Cooking"],"brand":"Northbook","price":25},
{"id":"gone-1","title":"Trail Running Shoes Old Model","category":["Sports","Running","Shoes"],"brand":"Fellstride","price":60,"available":false}
]`

// background gives the catalog some shared history: other shoppers who
// looked at running gear together and at cookware together.
func (ts *testServer) background() {
	ts.t.Helper()
	var evs []string
	add := func(user string, items ...string) {
		for i, it := range items {
			evs = append(evs, fmt.Sprintf(`{"user":%q,"type":"view","item":%q,"ts":%d}`, user, it, ts.clock.Stamp(time.Duration(i-60)*time.Minute)))
		}
	}
	for i := 0; i < 5; i++ {
		add(fmt.Sprintf("bg-run-%d", i), "shoe-trail-1", "shoe-trail-2", "run-vest", "run-jacket")
		add(fmt.Sprintf("bg-cook-%d", i), "pan-1", "pan-2", "knife-1", "board-1")
	}
	add("bg-mixed", "book-1", "pot-1", "book-2")
	ts.mustPost("/v1/events", "["+strings.Join(evs, ",")+"]")
}

func (ts *testServer) loadCatalog() {
	ts.t.Helper()
	if out := ts.mustPost("/v1/items", testCatalog); out != `{"upserted":17}`+"\n" {
		ts.t.Fatalf("POST /v1/items = %q", out)
	}
}

func event(user, typ, target string, ts int) string {
	key := "item"
	if typ == "search" {
		key = "query"
	}
	return fmt.Sprintf(`{"user":%q,"type":%q,%q:%q,"ts":%d}`, user, typ, key, target, ts)
}

func TestPersonalizedSlots(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+strings.Join([]string{
		event("runner", "search", "trail running shoes", ts.clock.Stamp(-3*time.Minute)),
		event("runner", "view", "shoe-trail-1", ts.clock.Stamp(-2*time.Minute)),
		event("runner", "view", "shoe-trail-2", ts.clock.Stamp(-1*time.Minute)),
		event("cook", "view", "pan-1", ts.clock.Stamp(-2*time.Minute)),
		event("cook", "view", "pot-1", ts.clock.Stamp(-1*time.Minute)),
	}, ",")+"]")

	runner := ts.recommend(`{"user":"runner","n":4}`)
	if len(runner.Items) != 4 {
		t.Fatalf("runner got %d items, want 4: %+v", len(runner.Items), runner)
	}
	for _, it := range runner.Items {
		if !strings.HasPrefix(it.ID, "shoe-") && !strings.HasPrefix(it.ID, "run-") {
			t.Errorf("runner got %s among the first 4, want running items only: %v", it.ID, ids(runner))
		}
		if len(it.Reasons) == 0 {
			t.Errorf("runner item %s has no reasons", it.ID)
		}
	}
	hasReason := func(r recResponse, code string) bool {
		for _, it := range r.Items {
			for _, rs := range it.Reasons {
				if rs.Code == code {
					return true
				}
			}
		}
		return false
	}
	for _, code := range []string{"viewed_together", "matches_search"} {
		if !hasReason(runner, code) {
			t.Errorf("runner's slot carries no %s reason: %+v", code, runner)
		}
	}

	cook := ts.recommend(`{"user":"cook","n":4}`)
	for _, it := range cook.Items[:3] {
		if !strings.HasPrefix(it.ID, "pan-") && !strings.HasPrefix(it.ID, "pot-") &&
			!strings.HasPrefix(it.ID, "wok-") && !strings.HasPrefix(it.ID, "knife-") && !strings.HasPrefix(it.ID, "board-") {
			t.Errorf("cook got %s in the first 3, want cookware and kitchen: %v", it.ID, ids(cook))
		}
	}
	if !hasReason(cook, "viewed_together") {
		t.Errorf("cook's slot carries no viewed_together reason: %+v", cook)
	}

	// The unavailable item never shows, even for a user who searched for it.
	for _, r := range []recResponse{runner, ts.recommend(`{"user":"runner","n":20}`)} {
		for _, it := range r.Items {
			if it.ID == "gone-1" {
				t.Errorf("unavailable item recommended: %v", ids(r))
			}
		}
	}
}

func TestLeafCategoryCap(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+strings.Join([]string{
		event("shoes", "search", "running shoes", ts.clock.Stamp(-2*time.Minute)),
		event("shoes", "view", "shoe-road-1", ts.clock.Stamp(-1*time.Minute)),
	}, ",")+"]")
	r := ts.recommend(`{"user":"shoes","n":4}`)
	shoes := 0
	for _, id := range ids(r) {
		if strings.HasPrefix(id, "shoe-") {
			shoes++
		}
	}
	if shoes > 2 {
		t.Errorf("%d of 4 items from one leaf category, want at most 2: %v", shoes, ids(r))
	}
	// With a filter there is no alternative: the whole slot may be shoes.
	r = ts.recommend(`{"user":"shoes","n":3,"filter":{"category":["Sports","Running","Shoes"]}}`)
	if len(r.Items) != 3 {
		t.Fatalf("filtered slot has %d items, want 3: %v", len(r.Items), ids(r))
	}
	for _, id := range ids(r) {
		if !strings.HasPrefix(id, "shoe-") {
			t.Errorf("filter on Shoes returned %s", id)
		}
	}
}

func TestCJKQuery(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	r := ts.recommend(`{"n":3,"context":{"query":"跑步鞋"}}`)
	if len(r.Items) == 0 || r.Items[0].ID != "shoe-cjk-1" {
		t.Fatalf("query 跑步鞋 = %v, want shoe-cjk-1 first", ids(r))
	}
	if rs := r.Items[0].Reasons; len(rs) == 0 || rs[0].Code != "context_query" || rs[0].Query != "跑步鞋" {
		t.Errorf("reasons = %+v, want context_query 跑步鞋 first", rs)
	}
	r = ts.recommend(`{"n":1,"context":{"query":"炒锅"}}`)
	if len(r.Items) != 1 || r.Items[0].ID != "wok-cjk" {
		t.Errorf("query 炒锅 = %v, want wok-cjk", ids(r))
	}
	// A user's CJK search shapes the next slot too.
	ts.mustPost("/v1/events", `[{"user":"zh","type":"search","query":"跑步鞋"}]`)
	r = ts.recommend(`{"user":"zh","n":1}`)
	if len(r.Items) != 1 || r.Items[0].ID != "shoe-cjk-1" {
		t.Errorf("after searching 跑步鞋: %v, want shoe-cjk-1", ids(r))
	}
}

func TestPurchasedItemNeverReturns(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+strings.Join([]string{
		event("buyer", "view", "shoe-trail-1", ts.clock.Stamp(-3*time.Minute)),
		event("buyer", "view", "shoe-trail-2", ts.clock.Stamp(-2*time.Minute)),
		event("buyer", "purchase", "shoe-trail-2", ts.clock.Stamp(-1*time.Minute)),
	}, ",")+"]")
	for _, body := range []string{
		`{"user":"buyer","n":100}`,
		`{"user":"buyer","n":100,"context":{"item":"shoe-trail-1"}}`,
		`{"user":"buyer","n":100,"context":{"query":"waterproof trail shoes"}}`,
		`{"user":"buyer","n":100,"filter":{"category":["Sports","Running","Shoes"]}}`,
	} {
		for _, id := range ids(ts.recommend(body)) {
			if id == "shoe-trail-2" {
				t.Errorf("%s: purchased item recommended", body)
			}
		}
	}
	// Excluded and context items are left out too.
	for _, id := range ids(ts.recommend(`{"user":"buyer","n":100,"exclude":["run-vest"],"context":{"item":"run-jacket"}}`)) {
		if id == "run-vest" || id == "run-jacket" {
			t.Errorf("excluded or context item %s recommended", id)
		}
	}
}

func TestNextCallSeesEvent(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	ts.background()
	before := ts.recommend(`{"user":"fresh","n":3}`)
	for _, it := range before.Items {
		if len(it.Reasons) == 0 || it.Reasons[0].Code != "trending" {
			t.Errorf("unknown user: %+v, want trending items", it)
		}
	}
	for i, item := range []string{"pan-1", "shoe-trail-1", "pan-2", "run-vest"} {
		ts.mustPost("/v1/events", "["+event("fresh", "view", item, ts.clock.Stamp(time.Duration(i)*time.Second))+"]")
		r := ts.recommend(`{"user":"fresh","n":3}`)
		found := false
		for _, it := range r.Items {
			for _, rs := range it.Reasons {
				if rs.Code == "viewed_together" && rs.Item == item {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("after viewing %s the next slot has no viewed_together %s: %+v", item, item, r)
		}
	}
}

func TestSameStateSameAnswer(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ts := startServer(t, dir, c, Options{})
	ts.loadCatalog()
	ts.background()
	ts.mustPost("/v1/events", "["+event("u", "view", "shoe-trail-1", c.Stamp(-time.Minute))+"]")
	queries := []string{`{"user":"u","n":10}`, `{"n":5}`, `{"n":5,"context":{"item":"pan-1"}}`}
	var want []string
	for _, q := range queries {
		a, b := ts.do("POST", "/v1/recommend", "", q)
		_ = a
		want = append(want, stripTook(b))
		if _, again := ts.do("POST", "/v1/recommend", "", q); stripTook(again) != want[len(want)-1] {
			t.Errorf("%s: two calls differ:\n%s\n%s", q, want[len(want)-1], again)
		}
	}
	ts.stop()
	// A restart rebuilds the indexes from what was stored: same answers.
	ts = startServer(t, dir, c, Options{})
	for i, q := range queries {
		if _, got := ts.do("POST", "/v1/recommend", "", q); stripTook(got) != want[i] {
			t.Errorf("%s after restart:\n got %s\nwant %s", q, got, want[i])
		}
	}
}

func stripTook(s string) string {
	if i := strings.Index(s, `"took_us"`); i >= 0 {
		return s[:i]
	}
	return s
}

func TestBadBatchChangesNothing(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	good := event("b", "view", "pan-1", ts.clock.Stamp(0))
	tests := []struct {
		bad, field string
	}{
		{`{"user":"b","type":"view"}`, "item"},
		{`{"user":"b","type":"search"}`, "query"},
		{`{"type":"view","item":"pan-1"}`, "user"},
		{`{"user":"b","type":"like","item":"pan-1"}`, "type"},
		{`{"user":"b","type":"view","item":"pan-1","ts":"yesterday"}`, "ts"},
		{`{"user":"b","type":"view","item":"pan-1","ts":1.5}`, "ts"},
		{`{"user":"b","type":"purchase","item":"pan-1","amount":-3}`, "amount"},
		{`{"user":"b","type":"view","item":7}`, "item"},
		{`{"user":"` + strings.Repeat("x", 257) + `","type":"view","item":"pan-1"}`, "user"},
	}
	for _, tt := range tests {
		code, out := ts.post("/v1/events", "["+good+","+good+","+tt.bad+"]")
		var e struct {
			Error struct {
				Code, Message, Field string
				Index                int
			}
		}
		if err := json.Unmarshal([]byte(out), &e); err != nil || code != 400 {
			t.Fatalf("batch with %s = %d %s, want 400 JSON", tt.bad, code, out)
		}
		if e.Error.Field != tt.field || e.Error.Index != 2 || e.Error.Code != "invalid_event" || e.Error.Message == "" {
			t.Errorf("batch with %s: error %+v, want field %q index 2", tt.bad, e.Error, tt.field)
		}
	}
	if code, out := ts.do("GET", "/v1/users/b", "", ""); code != 404 {
		t.Errorf("after rejected batches GET /v1/users/b = %d %s, want 404", code, out)
	}
	// Items too: one bad item, nothing stored.
	code, out := ts.post("/v1/items", `[{"id":"new-1","title":"x"},{"id":"new-2","price":-1}]`)
	if code != 400 || !strings.Contains(out, `"field":"price"`) || !strings.Contains(out, `"index":1`) {
		t.Errorf("bad item batch = %d %s, want 400 naming price at index 1", code, out)
	}
	if code, _ := ts.do("GET", "/v1/items/new-1", "", ""); code != 404 {
		t.Errorf("GET /v1/items/new-1 after rejected batch = %d, want 404", code)
	}
}

func TestConcurrentEventsSameUser(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	const writers, perWriter, batch = 8, 1000, 50
	types := []string{"view", "click", "cart", "purchase"}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < perWriter/batch; b++ {
				evs := make([]string, batch)
				for i := range evs {
					n := b*batch + i
					evs[i] = fmt.Sprintf(`{"id":"w%d-%d","user":"hot","type":%q,"item":"pan-1","amount":2,"ts":%d}`,
						w, n, types[n%len(types)], ts.clock.Stamp(time.Duration(n)*time.Millisecond))
				}
				if code, out := ts.post("/v1/events", "["+strings.Join(evs, ",")+"]"); code != 200 {
					t.Errorf("writer %d: %d %s", w, code, out)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	code, out := ts.do("GET", "/v1/users/hot", "", "")
	if code != 200 {
		t.Fatalf("GET /v1/users/hot = %d %s", code, out)
	}
	var p struct {
		Events uint64
		Counts map[string]uint32
		RFM    struct {
			Purchases     uint32
			LifetimeValue float64 `json:"lifetime_value"`
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	const total = writers * perWriter
	if p.Events != total {
		t.Errorf("events = %d, want %d", p.Events, total)
	}
	for _, typ := range types {
		if p.Counts[typ] != total/4 {
			t.Errorf("counts[%s] = %d, want %d", typ, p.Counts[typ], total/4)
		}
	}
	if p.RFM.Purchases != total/4 || p.RFM.LifetimeValue != 2*total/4 {
		t.Errorf("rfm = %+v, want purchases %d lifetime value %d", p.RFM, total/4, 2*total/4)
	}
	// Replaying every batch is a no-op.
	evs := []string{fmt.Sprintf(`{"id":"w0-0","user":"hot","type":"view","item":"pan-1","ts":%d}`, ts.clock.Stamp(0))}
	if out := ts.mustPost("/v1/events", "["+evs[0]+"]"); out != `{"accepted":0,"duplicates":1}`+"\n" {
		t.Errorf("replayed event = %s, want duplicates 1", out)
	}
}

func TestNDJSON(t *testing.T) {
	ts := newTestServer(t)
	items := strings.Join([]string{
		`{"id":"a","title":"Alpha Pan","category":["Home","Kitchen"]}`,
		``,
		`{"id":"b","title":"Beta Pan","category":["Home","Kitchen"],"attrs":{"color":"red","sizes":[1,2]}}`,
	}, "\n")
	if code, out := ts.do("POST", "/v1/items", "application/x-ndjson", items); code != 200 || out != `{"upserted":2}`+"\n" {
		t.Fatalf("NDJSON items = %d %s", code, out)
	}
	_, out := ts.do("GET", "/v1/items/b", "", "")
	if !strings.Contains(out, `"attrs":{"color":"red","sizes":[1,2]}`) || !strings.Contains(out, `"available":true`) {
		t.Errorf("GET /v1/items/b = %s, want attrs kept and available true", out)
	}
	events := `{"user":"n","type":"view","item":"a"}` + "\n" + `{"user":"n","type":"view","item":"b"}` + "\n"
	if code, out := ts.do("POST", "/v1/events", "application/x-ndjson; charset=utf-8", events); code != 200 || out != `{"accepted":2,"duplicates":0}`+"\n" {
		t.Fatalf("NDJSON events = %d %s", code, out)
	}
	code, out := ts.do("POST", "/v1/events", "application/x-ndjson", events+`{"user":"n","type":"view"`)
	if code != 400 || !strings.Contains(out, `"index":2`) || !strings.Contains(out, "invalid_json") {
		t.Errorf("NDJSON with a broken line = %d %s, want 400 invalid_json at index 2", code, out)
	}
}

func TestUserProfileAndErasure(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	ts.mustPost("/v1/events", "["+strings.Join([]string{
		event("p", "search", "trail shoes", ts.clock.Stamp(-3*time.Hour)),
		event("p", "view", "shoe-trail-1", ts.clock.Stamp(-2*time.Hour)),
		`{"user":"p","type":"purchase","item":"shoe-trail-1","amount":120,"ts":"` + ts.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"}`,
	}, ",")+"]")
	code, out := ts.do("GET", "/v1/users/p", "", "")
	if code != 200 {
		t.Fatalf("GET /v1/users/p = %d %s", code, out)
	}
	var p struct {
		User   string
		Events int
		Recent []struct {
			Type, Item, Query string
		}
		Interests struct {
			Categories []struct {
				Key    string
				Weight float64
			}
			Terms []struct{ Key string }
		}
		RFM struct {
			RecencyDays *float64 `json:"recency_days"`
			Frequency   int
			Monetary    float64
		}
		Segments struct{ Lifecycle string }
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.User != "p" || p.Events != 3 || len(p.Recent) != 3 || p.Recent[0].Type != "purchase" || p.Recent[2].Query != "trail shoes" {
		t.Errorf("profile = %+v", p)
	}
	if len(p.Interests.Categories) == 0 || p.Interests.Categories[0].Key != "Sports" {
		t.Errorf("interests = %+v, want Sports first", p.Interests)
	}
	if p.RFM.Frequency != 1 || p.RFM.Monetary != 120 || p.RFM.RecencyDays == nil || p.Segments.Lifecycle != "new" {
		t.Errorf("rfm %+v segments %+v", p.RFM, p.Segments)
	}
	if code, out := ts.do("DELETE", "/v1/users/p", "", ""); code != 200 {
		t.Fatalf("DELETE /v1/users/p = %d %s", code, out)
	}
	if code, _ := ts.do("GET", "/v1/users/p", "", ""); code != 404 {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
	if code, _ := ts.do("DELETE", "/v1/users/p", "", ""); code != 404 {
		t.Errorf("second DELETE = %d, want 404", code)
	}
	// The erased user is a stranger now: trending, not their history.
	for _, it := range ts.recommend(`{"user":"p","n":3}`).Items {
		if it.Reasons[0].Code != "trending" {
			t.Errorf("erased user got %+v, want trending", it)
		}
	}
}

func TestItemsEndpoints(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	code, out := ts.do("GET", "/v1/items/pan-1", "", "")
	if code != 200 || !strings.Contains(out, `"title":"Non-Stick Frying Pan"`) {
		t.Errorf("GET /v1/items/pan-1 = %d %s", code, out)
	}
	if code, _ := ts.do("DELETE", "/v1/items/pan-1", "", ""); code != 200 {
		t.Errorf("DELETE /v1/items/pan-1 = %d", code)
	}
	if code, _ := ts.do("GET", "/v1/items/pan-1", "", ""); code != 404 {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
	for _, id := range ids(ts.recommend(`{"n":100,"context":{"query":"frying pan"}}`)) {
		if id == "pan-1" {
			t.Errorf("deleted item recommended")
		}
	}
	long := strings.Repeat("x", 257)
	if code, out := ts.post("/v1/items", `[{"id":"`+long+`"}]`); code != 400 || !strings.Contains(out, `"field":"id"`) {
		t.Errorf("item with a 257-byte id = %d %s, want 400 naming id", code, out)
	}
}

func TestHTTPErrors(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{MaxBodyBytes: 1 << 10})
	tests := []struct {
		method, path, body string
		code               int
		errCode            string
	}{
		{"POST", "/v1/events", strings.Repeat(" ", 2<<10), 413, "body_too_large"},
		{"POST", "/v1/events", `[{"user":`, 400, "invalid_json"},
		{"POST", "/v1/events", `[]`, 400, "invalid_json"},
		{"POST", "/v1/events", `"x"`, 400, "invalid_json"},
		{"GET", "/v1/events", ``, 405, "method_not_allowed"},
		{"POST", "/v1/nothing", `{}`, 404, "not_found"},
		{"POST", "/v1/recommend", `{"n":0}`, 400, "invalid_request"},
		{"POST", "/v1/recommend", `{"n":"ten"}`, 400, "invalid_request"},
		{"POST", "/v1/recommend", `{"context":{"category":"Sports"}}`, 400, "invalid_request"},
		{"POST", "/v1/recommend", `[1]`, 400, "invalid_request"},
		{"GET", "/v1/users/nobody", ``, 404, "not_found"},
		{"PUT", "/v1/users/nobody", ``, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		code, out := ts.do(tt.method, tt.path, "", tt.body)
		var e struct{ Error struct{ Code string } }
		if err := json.Unmarshal([]byte(out), &e); err != nil || code != tt.code || e.Error.Code != tt.errCode {
			t.Errorf("%s %s %.20q = %d %s, want %d %s", tt.method, tt.path, tt.body, code, out, tt.code, tt.errCode)
		}
	}
	if code, out := ts.do("GET", "/healthz", "", ""); code != 200 || !strings.Contains(out, "ok") {
		t.Errorf("GET /healthz = %d %s", code, out)
	}
	code, out := ts.do("GET", "/metrics", "", "")
	for _, want := range []string{"tailor_http_requests_total", "tailor_http_request_duration_seconds", "tailor_pebble_disk_usage_bytes", "tailor_profile_cache_hits_total", "tailor_events_ingested_total",
		"tailor_pebble_wal_fsync_seconds_bucket", "tailor_pebble_write_stalls_total", "go_sched_latencies_seconds_bucket",
		"go_gc_heap_live_bytes"} {
		if code != 200 || !strings.Contains(out, want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
}

func TestPanicAnswers500(t *testing.T) {
	ts := newTestServer(t)
	ts.srv.serveRoute = func(ctx *fasthttp.RequestCtx, r routeID) {
		if r == routeHealth {
			panic("broken invariant")
		}
		ts.srv.serve(ctx, r)
	}
	code, out := ts.do("GET", "/healthz", "", "")
	if code != 500 || !strings.Contains(out, `"code":"internal"`) {
		t.Errorf("panicking handler = %d %s, want 500 internal", code, out)
	}
	if code, _ := ts.do("GET", "/v1/users/x", "", ""); code != 404 {
		t.Errorf("after a panic the server answers %d, want it alive (404)", code)
	}
}
