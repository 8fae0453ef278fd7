package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/service"
	"github.com/tailor-dev/tailor/trigger"
)

func (ts *testServer) getJSON(path string, v any) int {
	ts.t.Helper()
	code, out := ts.do("GET", path, "", "")
	if code == 200 && v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			ts.t.Fatalf("GET %s: %v in %s", path, err, out)
		}
	}
	return code
}

type segResponse struct {
	Purchasers int        `json:"purchasers"`
	Recency    [4]float64 `json:"recency_days_cuts"`
	Frequency  [4]float64 `json:"frequency_cuts"`
	Monetary   [4]float64 `json:"monetary_cuts"`
	RSizes     [5]int     `json:"r_sizes"`
	FSizes     [5]int     `json:"f_sizes"`
	MSizes     [5]int     `json:"m_sizes"`
	Tiers      []struct {
		Name     string
		MinScore int `json:"min_score"`
		Users    int
	}
	Triggers int `json:"triggers_appended"`
}

func (ts *testServer) refresh() segResponse {
	ts.t.Helper()
	var g segResponse
	if err := json.Unmarshal([]byte(ts.mustPost("/v1/segments/refresh", "")), &g); err != nil {
		ts.t.Fatal(err)
	}
	return g
}

// nearestRank is the reference quintile computation: sort, then take the
// values at ranks ceil(k*n/5).
func nearestRank(values []float64) [4]float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	var out [4]float64
	for k := 1; k <= 4; k++ {
		out[k-1] = v[int(math.Ceil(float64(k*len(v))/5))-1]
	}
	return out
}

func TestRFMQuintilesMatchReference(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	const users = 10000
	now := ts.clock.Now()
	r := rand.New(rand.NewPCG(7, 11))
	type ref struct{ rec, freq, mon float64 }
	refs := make([]ref, users)
	var evs []string
	flush := func() {
		ts.mustPost("/v1/events", "["+strings.Join(evs, ",")+"]")
		evs = evs[:0]
	}
	for u := 0; u < users; u++ {
		orders := 1 + r.IntN(8)
		var last time.Time
		total := 0.0
		for o := 0; o < orders; o++ {
			at := now.Add(-time.Duration(r.IntN(300*24)) * time.Hour).Truncate(time.Millisecond)
			amount := float64(1+r.IntN(50000)) / 100
			total += amount
			if at.After(last) {
				last = at
			}
			evs = append(evs, fmt.Sprintf(`{"user":"u%05d","type":"purchase","item":"pan-1","amount":%.2f,"ts":%d,"session":"o%d-%d"}`,
				u, amount, at.UnixMilli(), u, o))
		}
		refs[u] = ref{rec: float64(now.Sub(last).Milliseconds()) / 86400000, freq: float64(orders), mon: total}
		if len(evs) >= 5000 {
			flush()
		}
	}
	flush()
	g := ts.refresh()
	var rec, freq, mon []float64
	for _, x := range refs {
		rec, freq, mon = append(rec, x.rec), append(freq, x.freq), append(mon, x.mon)
	}
	if g.Purchasers != users {
		t.Fatalf("purchasers = %d, want %d", g.Purchasers, users)
	}
	check := func(name string, got, want [4]float64) {
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-6*math.Max(1, math.Abs(want[i])) {
				t.Errorf("%s cuts = %v, want %v", name, got, want)
				return
			}
		}
	}
	wantR, wantF, wantM := nearestRank(rec), nearestRank(freq), nearestRank(mon)
	check("recency", g.Recency, wantR)
	check("frequency", g.Frequency, wantF)
	check("monetary", g.Monetary, wantM)
	// Score sizes from the reference cuts.
	var rs, fs, ms [5]int
	score := func(v float64, cuts [4]float64) int {
		n := 0
		for _, c := range cuts {
			if v > c {
				n++
			}
		}
		return n
	}
	for _, x := range refs {
		rs[4-score(x.rec, wantR)]++
		fs[score(x.freq, wantF)]++
		ms[score(x.mon, wantM)]++
	}
	if g.RSizes != rs || g.FSizes != fs || g.MSizes != ms {
		t.Errorf("sizes R %v F %v M %v, want %v %v %v", g.RSizes, g.FSizes, g.MSizes, rs, fs, ms)
	}
	// Monetary quintiles hold about a fifth each (amounts are continuous).
	for i, n := range g.MSizes {
		if n < users/5-50 || n > users/5+50 {
			t.Errorf("M score %d holds %d users, want about %d", i+1, n, users/5)
		}
	}
	if len(g.Tiers) != 3 || g.Tiers[0].Name != "champions" || g.Tiers[2].Name != "nurture" ||
		g.Tiers[0].Users+g.Tiers[1].Users+g.Tiers[2].Users != users {
		t.Errorf("tiers = %+v", g.Tiers)
	}
	if share := float64(g.Tiers[0].Users) / users; share < 0.08 || share > 0.22 {
		t.Errorf("champions hold %.2f of purchasers, want about 0.15", share)
	}
	// A user's profile shows the scores.
	var p struct {
		Segments struct {
			ValueTier string `json:"value_tier"`
		}
		RFM struct{ R, F, M, Frequency int }
	}
	ts.getJSON("/v1/users/u00042", &p)
	if p.RFM.R < 1 || p.RFM.F < 1 || p.RFM.M < 1 || p.Segments.ValueTier == "" || p.RFM.Frequency != int(refs[42].freq) {
		t.Errorf("profile segments = %+v rfm = %+v, want frequency %v", p.Segments, p.RFM, refs[42].freq)
	}
}

func TestLifecycleTriggersOncePerTransition(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	for _, a := range []struct{ name, expr string }{
		{"at-risk", "lifecycle = at_risk"},
		{"lapsed", "lifecycle = lapsed AND due_wakeup"},
		{"new-customers", "lifecycle = new"},
	} {
		ts.mustPost("/v1/audiences/"+a.name, fmt.Sprintf(`{"expression":%q,"trigger":{}}`, a.expr))
	}
	read := func(after uint64) ([]trigger.Record, uint64) {
		var out struct {
			Records []trigger.Record
			Next    uint64
		}
		if code := ts.getJSON(fmt.Sprintf("/v1/triggers?after=%d", after), &out); code != 200 {
			t.Fatalf("GET /v1/triggers = %d", code)
		}
		return out.Records, out.Next
	}
	stage := func() string {
		var p struct{ Segments struct{ Lifecycle string } }
		ts.getJSON("/v1/users/buyer", &p)
		return p.Segments.Lifecycle
	}
	// Two orders a month apart make an active customer. The first order
	// triggers the new-customer follow-up at once, from the event itself.
	ts.mustPost("/v1/events", "["+event("buyer", "purchase", "pan-1", ts.clock.Stamp(-25*24*time.Hour))+"]")
	recs, cursor := read(0)
	if len(recs) != 1 || recs[0].Audience != "new-customers" || recs[0].User != "buyer" {
		t.Fatalf("after the first order: %+v, want one new-customers record", recs)
	}
	ts.mustPost("/v1/events", "["+event("buyer", "purchase", "pan-2", ts.clock.Stamp(-10*24*time.Hour))+"]")
	if got := stage(); got != "active" {
		t.Fatalf("stage = %s, want active", got)
	}
	want := []struct {
		advance time.Duration
		stage   string
		records []string
	}{
		{0, "active", nil},
		{49 * 24 * time.Hour, "active", nil}, // 59 days since the last order
		{24 * time.Hour, "at_risk", []string{"at-risk"}},
		{24 * time.Hour, "at_risk", nil}, // already there: nothing new
		{29 * 24 * time.Hour, "lapsed", []string{"lapsed"}},
		{30 * 24 * time.Hour, "lapsed", nil},
	}
	for i, w := range want {
		ts.clock.Advance(w.advance)
		ts.refresh()
		ts.refresh() // a second evaluation at the same time adds nothing
		if got := stage(); got != w.stage {
			t.Errorf("step %d: stage %s, want %s", i, got, w.stage)
		}
		recs, cursor = read(cursor)
		var names []string
		for _, r := range recs {
			names = append(names, r.Audience)
		}
		if !slices.Equal(names, w.records) {
			t.Errorf("step %d: records %v, want %v", i, names, w.records)
		}
	}
	// A comeback purchase leaves lapsed; lapsing again triggers again.
	ts.mustPost("/v1/events", "["+event("buyer", "purchase", "pan-1", ts.clock.Stamp(0))+"]")
	ts.clock.Advance(91 * 24 * time.Hour)
	ts.refresh()
	recs, _ = read(cursor)
	var names []string
	for _, r := range recs {
		names = append(names, r.Audience)
	}
	if !slices.Equal(names, []string{"lapsed"}) {
		t.Errorf("after a comeback and a new lapse: %v, want [lapsed]", names)
	}
}

func TestAudienceSelectsExactly(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	const n = 300
	r := rand.New(rand.NewPCG(3, 5))
	type user struct {
		tier    int
		country string
		baby    bool // browsed cookware heavily
		lapsed  bool
	}
	users := make([]user, n)
	var attrs, evs []string
	for i := range users {
		u := user{tier: r.IntN(4), country: []string{"GB", "FR", "DE"}[r.IntN(3)], baby: r.IntN(2) == 0, lapsed: r.IntN(2) == 0}
		users[i] = u
		id := fmt.Sprintf("a%03d", i)
		attrs = append(attrs, fmt.Sprintf(`{"id":%q,"tier":%d,"country":%q,"channels":["email"]}`, id, u.tier, u.country))
		buyAt := ts.clock.Stamp(-5 * 24 * time.Hour)
		if u.lapsed {
			buyAt = ts.clock.Stamp(-100 * 24 * time.Hour)
		}
		evs = append(evs, event(id, "purchase", "run-socks", buyAt))
		if u.baby {
			for k := 0; k < 3; k++ {
				evs = append(evs, event(id, "view", "pan-1", buyAt+k))
			}
		} else {
			evs = append(evs, event(id, "view", "shoe-road-1", buyAt+1))
		}
	}
	ts.mustPost("/v1/users", "["+strings.Join(attrs, ",")+"]")
	ts.mustPost("/v1/events", "["+strings.Join(evs, ",")+"]")
	expr := `lifecycle = lapsed AND interest("Home/Kitchen") > 0.3 AND tier >= 2 AND country IN ("GB", "DE") AND accepts("email")`
	ts.mustPost("/v1/audiences/winback", fmt.Sprintf(`{"expression":%q}`, expr))
	var want []string
	for i, u := range users {
		if u.lapsed && u.baby && u.tier >= 2 && (u.country == "GB" || u.country == "DE") {
			want = append(want, fmt.Sprintf("a%03d", i))
		}
	}
	// Page through with a small limit to exercise the cursor.
	var got []string
	cursor := ""
	for pages := 0; pages < 100; pages++ {
		var page struct {
			Users []string
			Next  *string
		}
		if code := ts.getJSON("/v1/audiences/winback/users?limit=7&cursor="+cursor, &page); code != 200 {
			t.Fatalf("members page = %d", code)
		}
		got = append(got, page.Users...)
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("members (%d) = %v\nwant (%d) %v", len(got), got, len(want), want)
	}
	if len(want) == 0 {
		t.Fatal("the generated base has no member: the test cannot fail")
	}
	// The profile of a member lists the audience.
	var p struct{ Audiences []string }
	ts.getJSON("/v1/users/"+want[0], &p)
	if !slices.Contains(p.Audiences, "winback") {
		t.Errorf("member's profile audiences = %v", p.Audiences)
	}
	// Bad expressions are refused with the position.
	for _, bad := range []string{`lifecycle > 3`, `tier >= "gold"`, `nosuch = 1`, `interest(`, `lifecycle = at_risk AND`} {
		code, out := ts.post("/v1/audiences/bad", fmt.Sprintf(`{"expression":%q}`, bad))
		if code != 400 || !strings.Contains(out, `"field":"expression"`) {
			t.Errorf("expression %q = %d %s, want 400 naming expression", bad, code, out)
		}
	}
}

func TestPriceBandOrdering(t *testing.T) {
	ts := newTestServer(t)
	ts.mustPost("/v1/items", `[
{"id":"k-cheap","title":"Basic Kettle","category":["Home","Kitchen","Kettles"],"price":15,"tags":["value"]},
{"id":"k-mid","title":"Kettle","category":["Home","Kitchen","Kettles"],"price":40},
{"id":"k-lux","title":"Designer Kettle","category":["Home","Kitchen","Kettles"],"price":160,"tags":["warranty"]},
{"id":"t-cheap","title":"Basic Toaster","category":["Home","Kitchen","Toasters"],"price":12,"tags":["deal"]},
{"id":"t-mid","title":"Toaster","category":["Home","Kitchen","Toasters"],"price":45},
{"id":"t-lux","title":"Designer Toaster","category":["Home","Kitchen","Toasters"],"price":180,"tags":["premium"]}]`)
	// Both users view the same mid-priced items; one buys cheap, one expensive.
	var evs []string
	for i, it := range []string{"k-mid", "t-mid", "k-mid", "t-mid"} {
		evs = append(evs, event("thrifty", "view", it, ts.clock.Stamp(time.Duration(i-20)*time.Minute)))
		evs = append(evs, event("lavish", "view", it, ts.clock.Stamp(time.Duration(i-20)*time.Minute)))
	}
	evs = append(evs, event("thrifty", "purchase", "t-cheap", ts.clock.Stamp(-5*time.Minute)))
	evs = append(evs, event("lavish", "purchase", "t-lux", ts.clock.Stamp(-5*time.Minute)))
	ts.mustPost("/v1/events", "["+strings.Join(evs, ",")+"]")
	band := func(u string) string {
		var p struct {
			Segments struct {
				PriceBand string `json:"price_band"`
			}
		}
		ts.getJSON("/v1/users/"+u, &p)
		return p.Segments.PriceBand
	}
	if b := band("thrifty"); b != "budget" {
		t.Errorf("thrifty price band = %q, want budget", b)
	}
	if b := band("lavish"); b != "premium" {
		t.Errorf("lavish price band = %q, want premium", b)
	}
	slot := `{"user":%q,"n":4,"filter":{"category":["Home","Kitchen","Kettles"]}}`
	cheap := ids(ts.recommend(fmt.Sprintf(slot, "thrifty")))
	lux := ids(ts.recommend(fmt.Sprintf(slot, "lavish")))
	if len(cheap) == 0 || cheap[0] != "k-cheap" {
		t.Errorf("budget user's kettles = %v, want k-cheap first", cheap)
	}
	if len(lux) == 0 || lux[0] != "k-lux" {
		t.Errorf("premium user's kettles = %v, want k-lux first", lux)
	}
}

func TestAttributesUpsert(t *testing.T) {
	ts := newTestServer(t)
	ts.mustPost("/v1/users", `[{"id":"m1","region":"North","country":"gb","age_band":"25-34","gender":"f","tier":2,"channels":["Email","sms"],"labels":{"vip":"yes"}}]`)
	var p struct {
		Events     int
		Attributes struct {
			Region, Country string
			AgeBand         string `json:"age_band"`
			Tier            int
			Channels        []string
			Labels          map[string]string
		}
	}
	if code := ts.getJSON("/v1/users/m1", &p); code != 200 {
		t.Fatalf("GET a user with attributes only = %d", code)
	}
	a := p.Attributes
	if a.Country != "GB" || a.Tier != 2 || !slices.Equal(a.Channels, []string{"email", "sms"}) || a.Labels["vip"] != "yes" || a.AgeBand != "25-34" {
		t.Errorf("attributes = %+v", a)
	}
	// A partial update keeps the rest; null clears.
	ts.mustPost("/v1/users", `{"id":"m1","tier":3,"region":null}`)
	var q struct {
		Attributes struct {
			Region, Country string
			Tier            int
		}
	}
	ts.getJSON("/v1/users/m1", &q)
	if q.Attributes.Tier != 3 || q.Attributes.Region != "" || q.Attributes.Country != "GB" {
		t.Errorf("after a partial update: %+v", q.Attributes)
	}
	for _, tt := range []struct{ body, field string }{
		{`[{"id":"x","tier":-1}]`, "tier"},
		{`[{"id":"x","tier":"gold"}]`, "tier"},
		{`[{"id":"x","country":"Great Britain"}]`, "country"},
		{`[{"id":"x","channels":"email"}]`, "channels"},
		{`[{"id":"x","channels":["e mail"]}]`, "channels[0]"},
		{`[{"id":"x","labels":["a"]}]`, "labels"},
		{`[{"id":"x","labels":{"k":1}}]`, "labels.k"},
		{`[{"country":"GB"}]`, "id"},
		{`[{"id":"ok","tier":1},{"id":"x","gender":7}]`, "gender"},
	} {
		code, out := ts.post("/v1/users", tt.body)
		if code != 400 || !strings.Contains(out, `"field":"`+tt.field+`"`) {
			t.Errorf("POST /v1/users %s = %d %s, want 400 naming %s", tt.body, code, out, tt.field)
		}
	}
	if code := ts.getJSON("/v1/users/ok", nil); code != 404 {
		t.Errorf("a rejected batch stored its first user: GET = %d", code)
	}
}

// webhookSecret signs the webhook tests' POSTs.
const webhookSecret = "server-test-secret-0123"

// webhookOptions deliver fast, to hooks on 127.0.0.1.
func webhookOptions() Options {
	return Options{Service: service.Options{Webhooks: trigger.DeliveryOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		Poll: time.Millisecond, AllowPrivate: true}}}
}

// putHook creates an audience of purchasers POSTed to url.
func (ts *testServer) putHook(name, url string) string {
	ts.t.Helper()
	return ts.mustPost("/v1/audiences/"+name, fmt.Sprintf(`{"expression":"purchases > 0","trigger":{"webhook":%q,"secret":%q}}`, url, webhookSecret))
}

// signedBy reports whether header is the signature of body with secret, as
// a receiver checks it.
func signedBy(secret string, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || sig != strings.ToLower(sig) {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// recordHook answers status (500 and up: a dead hook) or, when the POST is
// signed with webhookSecret, 200, passing the record on.
func recordHook(t *testing.T, status int) (*httptest.Server, chan trigger.Record) {
	got := make(chan trigger.Record, 100)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !signedBy(webhookSecret, body, r.Header.Get(trigger.SignatureHeader)) {
			t.Errorf("POST %s: signature %q does not verify", body, r.Header.Get(trigger.SignatureHeader))
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if status >= 300 {
			http.Error(w, "down", status)
			return
		}
		var rec trigger.Record
		json.Unmarshal(body, &rec)
		got <- rec
	}))
	t.Cleanup(h.Close)
	return h, got
}

// nextUser returns the user of the next record on got.
func nextUser(t *testing.T, got <-chan trigger.Record) string {
	t.Helper()
	select {
	case rec := <-got:
		return rec.User
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook received nothing in 30 s")
		return ""
	}
}

func TestWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	got := make(chan trigger.Record, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var rec trigger.Record
		json.NewDecoder(r.Body).Decode(&rec)
		got <- rec
	}))
	defer hook.Close()
	ts := startServer(t, t.TempDir(), nil, Options{Service: service.Options{Webhooks: trigger.DeliveryOptions{MinBackoff: time.Millisecond, Poll: time.Millisecond, AllowPrivate: true}}})
	ts.loadCatalog()
	ts.putHook("buyers", hook.URL)
	ts.mustPost("/v1/events", "["+event("w1", "purchase", "pan-1", ts.clock.Stamp(0))+"]")
	select {
	case rec := <-got:
		if rec.User != "w1" || rec.Audience != "buyers" {
			t.Errorf("webhook got %+v", rec)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("webhook never delivered")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("webhook called %d times, want 3 (two failures, then success)", n)
	}
}

func TestWebhookDeadHookHoldsUpOnlyItsAudience(t *testing.T) {
	dead, _ := recordHook(t, 500)
	live, got := recordHook(t, 200)
	ts := startServer(t, t.TempDir(), nil, webhookOptions())
	ts.loadCatalog()
	ts.putHook("a-dead", dead.URL) // first in the outbox: it held up every other
	ts.putHook("b-live", live.URL)
	for _, u := range []string{"w1", "w2", "w3"} {
		ts.mustPost("/v1/events", "["+event(u, "purchase", "pan-1", ts.clock.Stamp(0))+"]")
		if got := nextUser(t, got); got != u {
			t.Errorf("live hook received %s, want %s", got, u)
		}
	}
}

// countingTransport counts the requests sent to each host, in the goroutine
// that sends them: once a queue has stopped, none of its can be counted.
type countingTransport struct {
	mu   sync.Mutex
	sent map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.sent == nil {
		c.sent = map[string]int{}
	}
	c.sent[r.URL.Host]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[host]
}

func TestWebhookDeleteStopsRetries(t *testing.T) {
	dead, _ := recordHook(t, 500)
	live, got := recordHook(t, 200)
	sent := &countingTransport{}
	opts := webhookOptions()
	opts.Service.Webhooks.Client = &http.Client{Transport: sent}
	ts := startServer(t, t.TempDir(), nil, opts)
	ts.loadCatalog()
	ts.putHook("a-dead", dead.URL)
	ts.putHook("b-live", live.URL)
	ts.mustPost("/v1/events", "["+event("w1", "purchase", "pan-1", ts.clock.Stamp(0))+"]")
	if u := nextUser(t, got); u != "w1" {
		t.Fatalf("live hook received %s, want w1", u)
	}
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	running := func() bool {
		for _, q := range ts.srv.svc.Outbox().Queues() {
			if q.Audience == "a-dead" {
				return true
			}
		}
		return false
	}
	end := time.Now().Add(30 * time.Second)
	for sent.count(deadHost) < 3 {
		if time.Now().After(end) {
			t.Fatal("the dead hook was not retried")
		}
		time.Sleep(time.Millisecond)
	}
	if code, out := ts.do("DELETE", "/v1/audiences/a-dead", "", ""); code != 200 {
		t.Fatalf("DELETE = %d %s", code, out)
	}
	for running() {
		if time.Now().After(end) {
			t.Fatal("the deleted audience's queue still runs")
		}
		time.Sleep(time.Millisecond)
	}
	stopped := sent.count(deadHost)
	for _, u := range []string{"w2", "w3", "w4"} {
		ts.mustPost("/v1/events", "["+event(u, "purchase", "pan-1", ts.clock.Stamp(0))+"]")
		if got := nextUser(t, got); got != u {
			t.Errorf("live hook received %s, want %s", got, u)
		}
	}
	if n := sent.count(deadHost); n != stopped {
		t.Errorf("%d POSTs to the deleted audience's hook after its queue stopped", n-stopped)
	}
}

func TestWebhookSignedSecretNeverShown(t *testing.T) {
	hook, got := recordHook(t, 200)
	dir := t.TempDir()
	ts := startServer(t, dir, nil, webhookOptions())
	ts.loadCatalog()
	for _, tt := range []struct{ trigger, field string }{
		{fmt.Sprintf(`{"webhook":%q}`, hook.URL), "trigger.secret"},
		{fmt.Sprintf(`{"webhook":%q,"secret":"too-short"}`, hook.URL), "trigger.secret"},
		{fmt.Sprintf(`{"webhook":%q,"secret":%q}`, hook.URL, strings.Repeat("s", 257)), "trigger.secret"},
	} {
		code, out := ts.post("/v1/audiences/buyers", `{"expression":"purchases > 0","trigger":`+tt.trigger+`}`)
		if code != 400 || !strings.Contains(out, `"field":"`+tt.field+`"`) {
			t.Errorf("trigger %s = %d %s, want 400 naming %s", tt.trigger, code, out, tt.field)
		}
	}
	answers := []string{ts.putHook("buyers", hook.URL)}
	for _, path := range []string{"/v1/audiences", "/v1/audiences/buyers"} {
		code, out := ts.do("GET", path, "", "")
		if code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, out)
		}
		answers = append(answers, out)
	}
	for _, out := range answers {
		if strings.Contains(out, webhookSecret) || !strings.Contains(out, `"secret_set":true`) {
			t.Errorf("answer %s shows the secret or lacks secret_set", out)
		}
	}
	ts.mustPost("/v1/events", "["+event("w1", "purchase", "pan-1", ts.clock.Stamp(0))+"]")
	if u := nextUser(t, got); u != "w1" {
		t.Errorf("hook received %s, want w1", u)
	}
	// The secret survives a restart: the next POST is signed with it. (Wait
	// for the cursor first: a POST cut short by the stop is sent again.)
	end := time.Now().Add(30 * time.Second)
	for q := ts.srv.svc.Outbox().Queues(); len(q) != 1 || q[0].Cursor != 1; q = ts.srv.svc.Outbox().Queues() {
		if time.Now().After(end) {
			t.Fatalf("queues %+v, want buyers past record 1", q)
		}
		time.Sleep(time.Millisecond)
	}
	ts.stop()
	ts = startServer(t, dir, ts.clock, webhookOptions())
	ts.mustPost("/v1/events", "["+event("w2", "purchase", "pan-1", ts.clock.Stamp(0))+"]")
	if u := nextUser(t, got); u != "w2" {
		t.Errorf("hook received %s after a restart, want w2", u)
	}
}

func TestWebhookRefusesInternalAddresses(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{}) // AllowPrivate false, the default
	for _, url := range []string{
		"http://127.0.0.1:1/x",
		"http://10.0.0.1/",
		"http://[::1]/",
		"http://169.254.169.254/latest",
		"http://localhost:8080/hook",
		"http://user:pw@hooks.example.com/",
	} {
		code, out := ts.post("/v1/audiences/hooked", fmt.Sprintf(`{"expression":"purchases > 0","trigger":{"webhook":%q,"secret":%q}}`, url, webhookSecret))
		if code != 400 || !strings.Contains(out, `"field":"trigger.webhook"`) {
			t.Errorf("webhook %s = %d %s, want 400 naming trigger.webhook", url, code, out)
		}
	}
	if code := ts.getJSON("/v1/audiences/hooked", nil); code != 404 {
		t.Errorf("a refused audience was stored: GET = %d", code)
	}
	// A host name is not resolved when stored: the dialer checks it.
	ts.putHook("hooked", "https://hooks.example.com/tailor")
}

var _ = features.StageNew

func TestContextCategoryListsColdItems(t *testing.T) {
	ts := newTestServer(t)
	ts.mustPost("/v1/items", `[{"id":"g1","title":"Rake","category":["Garden","Tools"]},{"id":"g2","title":"Spade","category":["Garden","Tools"]}]`)
	got := ids(ts.recommend(`{"n":5,"context":{"category":["Garden"]}}`))
	slices.Sort(got)
	if !slices.Equal(got, []string{"g1", "g2"}) {
		t.Errorf("a category no one has browsed = %v, want its two items", got)
	}
}
