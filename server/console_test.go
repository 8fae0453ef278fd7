package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/internal/browsertest"
)

// Tokens of the console tests: an operator who may do everything, and an
// analyst who may only read.
const (
	consoleOpsToken     = "console-ops-token-0123456789"
	consoleAnalystToken = "console-analyst-token-0123456789"
)

// consoleAuth holds the console tests' two tokens.
func consoleAuth(t *testing.T) *Auth {
	t.Helper()
	a, err := ParseAuth([]byte(fmt.Sprintf(`{"tokens":[
		{"name":"ops","token":%q,"scopes":["admin","recommend","ingest"]},
		{"name":"analyst","token":%q,"scopes":["read"]}]}`, consoleOpsToken, consoleAnalystToken)))
	if err != nil {
		t.Fatalf("ParseAuth() = %v", err)
	}
	return a
}

// consoleWorld is what the console tests put in through the API.
type consoleWorld struct {
	ts          *testServer
	base        string // http://127.0.0.1:PORT, the server on loopback TCP
	runnerCount int    // members of the runners audience
	events      int    // events ingested
}

// runnerClub is a campaign for the members of the runners audience, in a
// size the test's bid requests never ask for: it never bids, so that the
// runner's bid goes to run-shoes.
const runnerClub = `{"id":"runner-club","advertiser":"Fellstride Club","adomain":["fellstride.example"],
 "budget":{"daily":20,"total":200,"currency":"USD"},"pacing":"even",
 "bid":{"strategy":"cpm","max_cpm":2},"frequency_cap":{"impressions":3,"per":"24h"},
 "targeting":{"segments":["audience:runners"]},
 "creatives":[{"id":"club-728","format":"banner","w":728,"h":90,"cat":["IAB17"],"adm":"<b>club</b>"}]}`

// newConsoleWorld starts a bidding server behind tokens, fills it through
// the API (catalog, events, purchases, audiences, campaigns, a bid with its
// notices, a segmentation, an experiment with impressions and a click) and
// serves it on a loopback TCP listener for the browser.
func newConsoleWorld(t *testing.T) *consoleWorld {
	t.Helper()
	ts := startServer(t, t.TempDir(), nil, bidOptions(t, func(o *Options) { o.Auth = consoleAuth(t) }))
	ts.token = consoleOpsToken
	ts.shoppers()
	ts.mustPost("/v1/events", "["+strings.Join([]string{
		event("runner", "purchase", "shoe-trail-2", ts.clock.Stamp(-30*time.Second)),
		event("cook", "purchase", "pan-2", ts.clock.Stamp(-30*time.Second)),
	}, ",")+"]")
	put := func(path, body string) {
		t.Helper()
		if code, out := ts.do("PUT", path, "application/json", body); code != 200 {
			t.Fatalf("PUT %s = %d %s", path, code, out)
		}
	}
	put("/v1/audiences/runners", `{"expression":"interest(\"Sports/Running\") > 0.3","description":"people who run"}`)
	put("/v1/audiences/stage-new", `{"expression":"lifecycle = new","description":"first order within 30 days"}`)
	ts.campaigns(strings.TrimSuffix(shoeAndPanCampaigns, "]") + "," + runnerClub + "]")

	req := banner("a1", "runner", 0.5)
	b := onlyBid(t, ts.bid(req))
	if b.CID != "run-shoes" {
		t.Fatalf("the runner's bid went to %q, want run-shoes", b.CID)
	}
	ts.mustNotice(b.NURL, req, "1", "2.50", "applied")
	ts.mustNotice(b.BURL, req, "1", "2.50", "applied")
	ts.mustPost("/v1/segments/refresh", "")
	put("/v1/experiments", `{"experiments":[{"id":"ranker-v2","traffic":1,"arms":[
		{"name":"control","ranker":{"model":false}},{"name":"learned","ranker":{"model":true}}]}]}`)
	var evs []string
	for _, u := range []string{"runner", "cook", "bg-run-1", "bg-cook-1", "bg-mixed"} {
		var rec struct {
			recResponse
			RecID string `json:"rec_id"`
		}
		out := ts.mustPost("/v1/recommend", fmt.Sprintf(`{"user":%q,"n":4}`, u))
		if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.RecID == "" || len(rec.Items) == 0 {
			t.Fatalf("recommend for %s: %q (%v), want items and a rec_id", u, out, err)
		}
		items, _ := json.Marshal(ids(rec.recResponse))
		evs = append(evs, fmt.Sprintf(`{"type":"impression","rec_id":%q,"items":%s}`, rec.RecID, items))
		if u == "runner" {
			evs = append(evs, fmt.Sprintf(`{"user":"runner","type":"click","item":%q,"rec_id":%q}`, rec.Items[0].ID, rec.RecID))
		}
	}
	ts.mustPost("/v1/events", "["+strings.Join(evs, ",")+"]")

	w := &consoleWorld{ts: ts, events: int(ts.counter("tailor_events_ingested_total"))}
	var members struct{ Users []string }
	if code := ts.getJSON("/v1/audiences/runners/users?limit=1000", &members); code != 200 || len(members.Users) == 0 {
		t.Fatalf("GET runners' members = %d %v, want some", code, members.Users)
	}
	w.runnerCount = len(members.Users)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ln) }()
	t.Cleanup(func() { ln.Close(); <-done })
	w.base = "http://" + ln.Addr().String()
	return w
}

// consoleGet fetches path with the given token (none when empty) and returns the
// response, released by the caller.
func (ts *testServer) consoleGet(path, token string, header ...string) *fasthttp.Response {
	ts.t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	req.SetRequestURI("http://tailor" + path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if err := ts.client.Do(req, resp); err != nil {
		ts.t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// TestConsoleAssets checks the console's files: types, security headers,
// revalidation, 404 for unknown paths, and that its pages need no token
// while the API it calls does.
func TestConsoleAssets(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{Auth: consoleAuth(t)})
	for _, c := range []struct{ path, ctype string }{
		{"/console", "text/html; charset=utf-8"},
		{"/console/", "text/html; charset=utf-8"},
		{"/console/index.html", "text/html; charset=utf-8"},
		{"/console/console.js", "text/javascript; charset=utf-8"},
		{"/console/console.css", "text/css; charset=utf-8"},
	} {
		resp := ts.consoleGet(c.path, "")
		h := &resp.Header
		if resp.StatusCode() != 200 || string(h.ContentType()) != c.ctype {
			t.Errorf("GET %s = %d %q, want 200 %q", c.path, resp.StatusCode(), h.ContentType(), c.ctype)
		}
		csp := string(h.Peek("Content-Security-Policy"))
		for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", c.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: Content-Security-Policy %q allows inline or eval'd script", c.path, csp)
		}
		if got := string(h.Peek("X-Content-Type-Options")); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q, want nosniff", c.path, got)
		}
		if got := string(h.Peek("Cache-Control")); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control = %q, want no-cache", c.path, got)
		}
		etag := string(h.Peek("ETag"))
		if etag == "" {
			t.Errorf("GET %s: no ETag", c.path)
		} else if again := ts.consoleGet(c.path, "", "If-None-Match", etag); again.StatusCode() != 304 || len(again.Body()) != 0 {
			t.Errorf("GET %s with If-None-Match %s = %d with %d bytes, want 304 and no body", c.path, etag, again.StatusCode(), len(again.Body()))
		}
		fasthttp.ReleaseResponse(resp)
	}

	// The page loads its assets only from itself, with no inline script.
	page := ts.consoleGet("/console", "")
	html := string(page.Body())
	fasthttp.ReleaseResponse(page)
	for _, want := range []string{`<script src="/console/console.js" defer></script>`, `href="/console/console.css"`} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	if n := strings.Count(html, "<script"); n != 1 {
		t.Errorf("index.html has %d script tags, want only the external one", n)
	}
	if strings.Contains(html, " style=") || strings.Contains(html, "<style") {
		t.Error("index.html has inline styles, which the CSP refuses")
	}

	for _, path := range []string{"/console/nope.js", "/console/console", "/console/console/console.js", "/console/index.html/x"} {
		resp := ts.consoleGet(path, "")
		var body struct{ Error struct{ Code string } }
		err := json.Unmarshal(resp.Body(), &body)
		if resp.StatusCode() != 404 || err != nil || body.Error.Code != "not_found" || string(resp.Header.ContentType()) != "application/json" {
			t.Errorf("GET %s = %d %q %s, want a JSON 404 not_found", path, resp.StatusCode(), resp.Header.ContentType(), resp.Body())
		}
		fasthttp.ReleaseResponse(resp)
	}
	if code, _ := ts.do("POST", "/console", "application/json", "{}"); code != 405 {
		t.Errorf("POST /console = %d, want 405", code)
	}

	// What the pages call holds the data, and needs a token.
	for _, path := range []string{"/v1/users/u1", "/v1/segments", "/v1/audiences", "/v1/campaigns", "/v1/experiments", "/metrics"} {
		if code, out := ts.do("GET", path, "", ""); code != 401 {
			t.Errorf("GET %s without a token = %d %s, want 401", path, code, out)
		}
	}
}

// consoleBrowser is a headless Chromium tab, with the JavaScript errors and
// exceptions its pages caused.
type consoleBrowser struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	errs []string
}

// newConsoleBrowser starts headless Chromium for the test, or skips it when the
// browser is missing (fails instead with TAILOR_REQUIRE_BROWSER set).
func newConsoleBrowser(t *testing.T) *consoleBrowser {
	t.Helper()
	chromium := browsertest.Chromium(t, "renders the console")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	root, cancelRoot := chromedp.NewContext(actx)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil { // starts the browser, without a timeout
		t.Fatalf("starting chromium: %v", err)
	}
	return newConsoleTab(t, root)
}

// newConsoleTab opens a tab of b's browser: a fresh sessionStorage.
func newConsoleTab(t *testing.T, parent context.Context) *consoleBrowser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	b := &consoleBrowser{t: t, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				msg += " " + ex.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
				return
			}
			msg = "console." + string(ev.Type) + ":"
			for _, a := range ev.Args {
				msg += " " + string(a.Value) + a.Description
			}
		case *log.EventEntryAdded:
			// Failed loads (the 401s, 403s and 404s the pages are tested
			// with) are the network's; anything else at error level, such as
			// a refusal by the Content-Security-Policy, is a fault.
			if ev.Entry.Level != log.EntryLevelError || ev.Entry.Source == log.EntrySourceNetwork {
				return
			}
			msg = "log " + string(ev.Entry.Source) + ": " + ev.Entry.Text
		default:
			return
		}
		b.mu.Lock()
		b.errs = append(b.errs, msg)
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("listening to the tab: %v", err)
	}
	return b
}

// open loads the console at fragment and waits, at most 20 seconds, until
// the page's section has the state want.
func (b *consoleBrowser) open(base, fragment, page, want string) {
	b.t.Helper()
	u := base + "/console/?page=" + url.QueryEscape(page) + "#" + fragment
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitReady(`#page-`+page+`[data-state="`+want+`"]`))
	if err != nil {
		state, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.getElementById('page-`+page+`')||{}).dataset.state + ': ' + document.body.innerText.slice(0, 1500)`))
		b.t.Fatalf("%s: waiting for state %q: %v; page %s", u, want, err, state)
	}
}

// text returns the text content of the first element matching sel ("" when
// none does), without waiting.
func (b *consoleBrowser) text(sel string) string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(function(){const e=document.querySelector(`+string(q)+`);return e?e.textContent:''})()`))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// count returns how many elements match sel.
func (b *consoleBrowser) count(sel string) int {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+string(q)+`).length`))
	if err != nil {
		b.t.Fatalf("counting %s: %v", sel, err)
	}
	return n
}

// wait waits, at most 20 seconds, for an element matching sel.
func (b *consoleBrowser) wait(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitReady(sel)); err != nil {
		b.t.Fatalf("waiting for %s: %v; messages: %s", sel, err, b.text(`main`))
	}
}

// noErrors fails the test for every JavaScript error or exception so far.
func (b *consoleBrowser) noErrors(page string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("%s: %s", page, e)
	}
	b.errs = nil
}

// screenshot saves the page as dir/console-<name>.png when
// TAILOR_CONSOLE_SCREENSHOTS names a directory.
func (b *consoleBrowser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("TAILOR_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", name, err)
	}
	// Chromium compresses for speed; the images go into the repository.
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", name, err)
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), out.Bytes(), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// expectConsoleText fails the test unless got holds every one of want.
func expectConsoleText(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to hold %q", what, got, w)
		}
	}
}

// TestConsoleInChromium opens every page of the console in headless
// Chromium against a server holding data put in through the API, and checks
// that the page shows that data, says what a token lacks, and raises no
// JavaScript error.
func TestConsoleInChromium(t *testing.T) {
	b := newConsoleBrowser(t)
	w := newConsoleWorld(t)
	ops := "&token=" + url.QueryEscape(consoleOpsToken)

	t.Run("overview", func(t *testing.T) {
		b.t = t
		b.open(w.base, "overview"+ops, "overview", "ready")
		if got := b.text(`[data-metric="events"] .value`); got != strconv.Itoa(w.events) {
			t.Errorf("events ingested tile = %q, want %d", got, w.events)
		}
		expectConsoleText(t, "bids tile", b.text(`[data-metric="bids"] .value`), "1")
		expectConsoleText(t, "wins tile", b.text(`[data-metric="wins"]`), "1", "1 billed impression")
		expectConsoleText(t, "spend tile", b.text(`[data-metric="spend"] .value`), "0.0025 USD")
		expectConsoleText(t, "cache tile", b.text(`[data-metric="cache"] .value`), "%")
		for _, r := range []string{"events", "recommend", "bid", "metrics"} {
			if b.count(`tr[data-route="`+r+`"]`) != 1 {
				t.Errorf("the routes table has no row for %s", r)
			}
		}
		if got := b.text(`tr[data-route="metrics"] td:nth-child(2)`); got == "–" || got == "" {
			t.Errorf("metrics route rate = %q after two scrapes, want a number", got)
		}
		if b.count(`#ov-body svg`) < 3 {
			t.Errorf("overview draws %d plots, want at least 3", b.count(`#ov-body svg`))
		}
		b.screenshot("overview")
		b.noErrors("overview")
	})

	t.Run("portrait", func(t *testing.T) {
		b.t = t
		b.open(w.base, "portrait/runner"+ops, "portrait", "ready")
		expectConsoleText(t, "category interests", b.text(`#pt-categories`), "Sports/Running/Shoes")
		if got := b.text(`[data-lifecycle]`); got != "new" {
			t.Errorf("lifecycle = %q, want new (one purchase)", got)
		}
		expectConsoleText(t, "event timeline", b.text(`#pt-recent`), "trail running shoes", "shoe-trail-2", "purchase")
		if b.count(`#pt-body svg.timeline circle`) < 3 {
			t.Error("the timeline plots fewer than 3 events")
		}
		if n := b.count(`#pt-rec li[data-item]`); n == 0 {
			t.Errorf("the live recommendation lists no items: %q", b.text(`#pt-rec`))
		}
		expectConsoleText(t, "recommendation reasons", b.text(`#pt-rec`), "score")
		eligible := b.text(`#pt-eligible`)
		expectConsoleText(t, "eligible campaigns", eligible, "runner-club", "audience:runners", "run-shoes")
		if strings.Contains(eligible, "cookware") {
			t.Errorf("eligible campaigns %q hold cookware, which targets kitchen interest", eligible)
		}
		b.screenshot("portrait")
		b.noErrors("portrait")

		// An unknown user is said so.
		b.open(w.base, "portrait/nobody-at-all"+ops, "portrait", "error")
		expectConsoleText(t, "unknown user", b.text(`#pt-msg`), "No user with the id", "nobody-at-all")
		b.noErrors("portrait of an unknown user")
	})

	t.Run("portrait without the recommend scope", func(t *testing.T) {
		b.t = t
		b.open(w.base, "portrait/runner&token="+url.QueryEscape(consoleAnalystToken), "portrait", "partial")
		expectConsoleText(t, "category interests", b.text(`#pt-categories`), "Sports/Running")
		expectConsoleText(t, "recommendation", b.text(`[data-error="recommend"]`), "lacks the recommend scope")
		expectConsoleText(t, "eligible campaigns", b.text(`#pt-eligible`), "runner-club")
		b.noErrors("portrait with a read token")
	})

	t.Run("segments", func(t *testing.T) {
		b.t = t
		b.open(w.base, "segments"+ops, "segments", "ready")
		expectConsoleText(t, "purchasers", b.text(`[data-metric="purchasers"] .value`), "2")
		if b.count(`#sg-heatmap svg rect`) != 25 {
			t.Errorf("the R x F heat map has %d cells, want 25", b.count(`#sg-heatmap svg rect`))
		}
		expectConsoleText(t, "runners row", b.text(`tr[data-audience="runners"]`), "runners", `interest("Sports/Running") > 0.3`, "people who run")
		if got := b.text(`tr[data-audience="runners"] td[data-count]`); got != strconv.Itoa(w.runnerCount) {
			t.Errorf("runners' member count = %q, want %d", got, w.runnerCount)
		}
		if b.count(`#sg-lifecycle svg`) != 1 {
			t.Errorf("no lifecycle funnel drawn from the segmentation's stages: %q", b.text(`#sg-lifecycle`))
		}
		b.screenshot("segments")

		// The editor shows the API's message for a bad expression...
		err := chromedp.Do(b.ctx,
			chromedp.SetValue(chromedp.ID("au-name"), "cooks"),
			chromedp.SetValue(chromedp.ID("au-expr"), `interest("Home/Kitchen" > 0.3`),
			chromedp.SetValue(chromedp.ID("au-desc"), "people who cook"),
			chromedp.Click(chromedp.CSS(`#au-form button[type="submit"]`)))
		if err != nil {
			t.Fatal(err)
		}
		b.wait(`#au-edit-msg[data-state="error"]`)
		expectConsoleText(t, "editor message", b.text(`#au-edit-msg`), "The API refused it", "expression at")
		if code := w.ts.getJSON("/v1/audiences/cooks", nil); code != 404 {
			t.Errorf("GET the refused audience = %d, want 404", code)
		}
		// ... and stores a good one, which then lists with its members.
		err = chromedp.Do(b.ctx,
			chromedp.SetValue(chromedp.ID("au-expr"), `interest("Home/Kitchen") > 0.3`),
			chromedp.Click(chromedp.CSS(`#au-form button[type="submit"]`)))
		if err != nil {
			t.Fatal(err)
		}
		b.wait(`#au-edit-msg[data-state="saved"]`)
		b.wait(`#page-segments[data-state="ready"] tr[data-audience="cooks"]`)
		var cooks struct{ Users []string }
		if code := w.ts.getJSON("/v1/audiences/cooks/users", &cooks); code != 200 {
			t.Fatalf("GET the saved audience's members = %d", code)
		}
		if got := b.text(`tr[data-audience="cooks"] td[data-count]`); got != strconv.Itoa(len(cooks.Users)) {
			t.Errorf("cooks' member count = %q, want %d", got, len(cooks.Users))
		}
		b.noErrors("segments")
	})

	t.Run("campaigns", func(t *testing.T) {
		b.t = t
		b.open(w.base, "campaigns"+ops, "campaigns", "ready")
		for _, id := range []string{"run-shoes", "cookware", "runner-club"} {
			if b.count(`tr[data-campaign="`+id+`"]`) != 1 {
				t.Errorf("the campaigns table has no row for %s", id)
			}
		}
		row := b.text(`tr[data-campaign="run-shoes"]`)
		expectConsoleText(t, "run-shoes row", row, "Fellstride", "0.0025 USD of 500 USD", "100.0%")
		expectConsoleText(t, "run-shoes detail", b.text(`[data-detail="run-shoes"]`), "1 of 1 bids", "CTR", "no cap")
		expectConsoleText(t, "runner-club detail", b.text(`[data-detail="runner-club"]`), "capped at 3 per 24h", "audience:runners")
		if b.count(`[data-detail="runner-club"] svg.pacing`) != 1 {
			t.Error("runner-club (even pacing) has no pacing plot")
		}
		b.screenshot("campaigns")
		b.noErrors("campaigns")
	})

	t.Run("experiments", func(t *testing.T) {
		b.t = t
		b.open(w.base, "experiments"+ops, "experiments", "ready")
		if n := b.count(`[data-experiment="ranker-v2"] tr[data-arm]`); n != 2 {
			t.Errorf("ranker-v2 shows %d arms, want 2", n)
		}
		if n := b.count(`[data-experiment="ranker-v2"] svg.intervals`); n < 2 {
			t.Errorf("ranker-v2 draws %d interval plots, want the arms' CTR and their difference", n)
		}
		expectConsoleText(t, "experiment", b.text(`[data-experiment="ranker-v2"]`), "control", "learned", "Wilson")
		b.screenshot("experiments")
		b.noErrors("experiments")
	})

	t.Run("read token on the overview", func(t *testing.T) {
		b.t = t
		b.open(w.base, "overview&token="+url.QueryEscape(consoleAnalystToken), "overview", "error")
		expectConsoleText(t, "overview message", b.text(`#ov-msg`), "lacks the admin scope")
		b.noErrors("overview with a read token")
	})

	t.Run("no token", func(t *testing.T) {
		tab := newConsoleTab(t, b.ctx) // a fresh tab: no token in its sessionStorage
		for _, page := range []string{"portrait/runner", "segments", "campaigns", "experiments", "overview"} {
			name, _, _ := strings.Cut(page, "/")
			tab.open(w.base, page, name, "error")
			expectConsoleText(t, name+" notice", tab.text(`#notice`), "Enter an API token")
			expectConsoleText(t, name+" page", tab.text(`#page-`+name+` .msg.error`), "A token is needed")
		}
		if got := tab.text(`#pt-body`); got != "" {
			t.Errorf("the portrait without a token shows %q, want nothing", got)
		}
		tab.noErrors("pages without a token")
	})
}
