// Package client_test runs the website client (src/tailor.js) in headless
// Chromium against a tailor server on loopback: the page is served from
// another origin, so that every call is a real cross-origin call with CORS.
package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	cdplog "github.com/chromedp/cdproto/log"

	"github.com/tailor-dev/tailor/internal/browsertest"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/server"
	"github.com/tailor-dev/tailor/service"
)

// Tokens of the test server: the page's, and the test's own for its checks.
const (
	tokenSite  = "site-token-0123456789abcdef"
	tokenAdmin = "admin-token-0123456789abcdef"
)

// xssID is an item id that is HTML; the page must show it as text.
const xssID = `<img src=x onerror=window.__xss=1>`

// catalogItem is an item of the test catalog, with the page's own details.
type catalogItem struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Category []string `json:"category"`
	Price    float64  `json:"price"`
	URL      string   `json:"-"` // the product page's link, as the site knows it
}

var catalog = []catalogItem{
	{ID: "shoe-1", Title: "Trail Running Shoes", Category: []string{"Sports", "Running", "Shoes"}, Price: 129, URL: "#shoe-1"},
	{ID: "sock-1", Title: "Merino Running Socks", Category: []string{"Sports", "Running", "Socks"}, Price: 19, URL: "#sock-1"},
	{ID: "vest-1", Title: "Hydration Vest", Category: []string{"Sports", "Running", "Apparel"}, Price: 89, URL: "#vest-1"},
	{ID: "cap-1", Title: "Running Cap", Category: []string{"Sports", "Running", "Apparel"}, Price: 25, URL: "#cap-1"},
	{ID: xssID, Title: "<script>window.__xss=2</script> Water Bottle", Category: []string{"Sports", "Running", "Accessories"},
		Price: 15, URL: "javascript:window.__xss=3"},
}

// TestClientInChromium loads a product page using the client in Chromium:
// it sends a view, renders a slot, reports the slot's impression once it is
// scrolled into view and a click with the answer's rec_id, and hands the
// last event to a beacon when the page goes away. The test then reads the
// user's profile and the experiment's counters through the API.
func TestClientInChromium(t *testing.T) {
	chromium := browsertest.Chromium(t, "runs the website client")

	pageLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageOrigin := "http://" + pageLn.Addr().String()
	api := startTailor(t, pageOrigin)
	servePage(t, pageLn)

	items := make([]map[string]any, len(catalog))
	for i, it := range catalog {
		items[i] = map[string]any{"id": it.ID, "title": it.Title, "category": it.Category, "price": it.Price}
	}
	body, _ := json.Marshal(items)
	api.do("POST", "/v1/items", string(body), nil)
	api.do("PUT", "/v1/experiments", `{"experiments":[{"id":"web-slots","arms":[{"name":"a"},{"name":"b"}]}]}`, nil)

	ctx, browser := startBrowser(t, chromium)

	t.Run("offline", func(t *testing.T) {
		browser.do(t, chromedp.Navigate(pageOrigin+"/testdata/offline.html"))
		for _, f := range run(t, browser, chromedp.Evaluate[[]string](`runOfflineChecks()`, chromedp.EvalAwaitPromise)) {
			t.Error(f)
		}
	})

	q := url.Values{"endpoint": {api.url}, "token": {tokenSite}}
	browser.do(t, chromedp.Navigate(pageOrigin+"/?"+q.Encode()))

	// The slot is rendered below the fold: nothing seen yet.
	type answer struct {
		RecID      string   `json:"recId"`
		Arm        string   `json:"arm"`
		Experiment string   `json:"experiment"`
		Items      []string `json:"items"`
	}
	slot := run(t, browser, chromedp.Evaluate[answer](
		`slotReady.then(s => ({recId: s.recId, arm: s.arm, experiment: s.experiment, items: s.items.map(i => i.id)}))`,
		chromedp.EvalAwaitPromise))
	if slot.RecID == "" || slot.Experiment != "web-slots" || (slot.Arm != "a" && slot.Arm != "b") {
		t.Fatalf("slot answer = %+v, want a rec_id from arm a or b of web-slots", slot)
	}
	if len(slot.Items) != 4 || !slices.Contains(slot.Items, xssID) || slices.Contains(slot.Items, "shoe-1") {
		t.Fatalf("slot items = %q, want the 4 items other than the page's shoe-1", slot.Items)
	}
	checkRendered(t, browser, slot.RecID, slot.Arm, slot.Items, pageOrigin)

	user := run(t, browser, chromedp.Evaluate[string](`tailor.user`))
	if stored := run(t, browser, chromedp.Evaluate[string](`localStorage.getItem("tailor.user")`)); !strings.HasPrefix(user, "anon-") || stored != user {
		t.Errorf("anonymous user = %q, stored %q; want an anon- id kept in localStorage", user, stored)
	}
	flush := chromedp.Evaluate[int](`tailor.flush().then(() => tailor.pending)`, chromedp.EvalAwaitPromise)
	if n := run(t, browser, flush); n != 0 {
		t.Errorf("%d events pending after flush, want 0", n)
	}
	api.wantCounts(t, user, map[string]uint32{"view": 1})
	api.wantArm(t, slot.Arm, armCounts{decisions: 1})

	// Scrolled into view: the impression is reported once, for every item.
	browser.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector("#recs").scrollIntoView({block: "center"})`))
	run(t, browser, chromedp.Poll[bool](`document.querySelector("#recs").dataset.tailorSeen === "true"`))
	if n := run(t, browser, flush); n != 0 {
		t.Errorf("%d events pending after flush, want 0", n)
	}
	api.wantArm(t, slot.Arm, armCounts{decisions: 1, impressions: 4})

	// A click on an item: a click event with the rec_id, sent at once.
	pos := slices.IndexFunc(slot.Items, func(id string) bool { return id != xssID })
	clicked := slot.Items[pos]
	browser.do(t, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#recs [data-tailor-position="%d"]`, pos))))
	run(t, browser, chromedp.Poll[bool](fmt.Sprintf(`location.hash === %q`, "#"+clicked)))
	run(t, browser, flush)
	api.wantArm(t, slot.Arm, armCounts{decisions: 1, impressions: 4, clicks: 1})
	api.wantCounts(t, user, map[string]uint32{"view": 1, "click": 1})

	// The page goes away with an event queued: a beacon delivers it. The
	// test wraps sendBeacon to note its calls where the site's next page
	// can read them.
	browser.do(t, chromedp.Evaluate[chromedp.Void](`(() => {
		const send = navigator.sendBeacon.bind(navigator);
		navigator.sendBeacon = (url, body) => {
			const ok = send(url, body);
			const calls = JSON.parse(localStorage.getItem("test.beacons") || "[]");
			localStorage.setItem("test.beacons", JSON.stringify([...calls, {url, ok, events: JSON.parse(body)}]));
			return ok;
		};
	})()`))
	if n := run(t, browser, chromedp.Evaluate[int](fmt.Sprintf(`tailor.track("cart", {item: %q}), tailor.pending`, clicked))); n != 1 {
		t.Errorf("%d events pending after track(cart), want 1", n)
	}
	browser.do(t, chromedp.Navigate(pageOrigin+"/testdata/left.html"))
	type beacon struct {
		URL    string
		OK     bool
		Events []struct{ ID, User, Type, Item string }
	}
	beacons := run(t, browser, chromedp.Evaluate[[]beacon](`JSON.parse(localStorage.getItem("test.beacons") || "[]")`))
	wantURL := api.url + "/v1/events?access_token=" + tokenSite
	if len(beacons) != 1 || beacons[0].URL != wantURL || !beacons[0].OK || len(beacons[0].Events) != 1 ||
		beacons[0].Events[0].Type != "cart" || beacons[0].Events[0].User != user || len(beacons[0].Events[0].ID) != 32 {
		t.Errorf("beacons at page hide = %+v, want one to %s taken by the browser, with the cart event of %s", beacons, wantURL, user)
	}
	waitCtx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for !api.hasCounts(user, map[string]uint32{"view": 1, "click": 1, "cart": 1}) {
		if err := sleepCtx(waitCtx, 20*time.Millisecond); err != nil {
			t.Fatalf("the cart event queued at page hide never arrived: %v", err)
		}
	}
	api.wantArm(t, slot.Arm, armCounts{decisions: 1, impressions: 4, clicks: 1})
	other := map[string]string{"a": "b", "b": "a"}[slot.Arm]
	api.wantArm(t, other, armCounts{})

	for _, m := range browser.consoleErrors() {
		t.Errorf("browser console: %s", m)
	}
}

// checkRendered checks the slot in the DOM: one element per item, in order,
// with the ids and the rec_id as data attributes, text filled from the
// page's details and the answer, and no HTML of it interpreted.
func checkRendered(t *testing.T, b *browserTab, recID, arm string, ids []string, pageOrigin string) {
	t.Helper()
	type item struct {
		ID, RecID, Title, IDText string
		Href                     *string
		Height                   float64
	}
	type dom struct {
		RecID, Arm, Seen string
		Elements         int
		XSS              any
		Items            []item
	}
	got := run(t, b, chromedp.Evaluate[dom](`(() => {
		const c = document.querySelector("#recs");
		return {
			RecID: c.dataset.tailorRecId, Arm: c.dataset.tailorArm, Seen: c.dataset.tailorSeen || "",
			Elements: c.querySelectorAll("img, script").length, XSS: window.__xss ?? null,
			Items: [...c.children].map((e) => ({
				ID: e.dataset.tailorItem, RecID: e.dataset.tailorRecId,
				Title: e.querySelector(".title").textContent, IDText: e.querySelector(".id").textContent,
				Href: e.getAttribute("href"), Height: e.getBoundingClientRect().height,
			})),
		};
	})()`))
	if got.RecID != recID || got.Arm != arm || got.Seen != "" {
		t.Errorf("container data: rec_id %q, arm %q, seen %q; want %q, %q and not seen yet", got.RecID, got.Arm, got.Seen, recID, arm)
	}
	if got.Elements != 0 || got.XSS != nil {
		t.Errorf("slot holds %d img or script elements and window.__xss = %v: API or page data was parsed as HTML", got.Elements, got.XSS)
	}
	if len(got.Items) != len(ids) {
		t.Fatalf("slot renders %d elements, want %d", len(got.Items), len(ids))
	}
	for i, it := range got.Items {
		c := catalog[slices.IndexFunc(catalog, func(c catalogItem) bool { return c.ID == ids[i] })]
		if it.ID != c.ID || it.RecID != recID || it.Title != c.Title || it.IDText != c.ID || it.Height <= 0 {
			t.Errorf("item %d = %+v, want %q titled %q with rec_id %q, laid out", i, it, c.ID, c.Title, recID)
		}
		switch {
		case strings.HasPrefix(c.URL, "javascript:"):
			if it.Href != nil {
				t.Errorf("item %d has href %q, want none for %q", i, *it.Href, c.URL)
			}
		case it.Href == nil || !strings.HasPrefix(*it.Href, pageOrigin+"/") || !strings.HasSuffix(*it.Href, c.URL):
			t.Errorf("item %d href = %v, want the page's URL with %s", i, it.Href, c.URL)
		}
	}
}

// tailorAPI is a tailor server on loopback, called with the admin token.
type tailorAPI struct {
	t   *testing.T
	url string
}

// startTailor serves tailor on a loopback port with learning on (labels
// learned as events arrive, no background sweeps), the page's token and
// the admin token, and CORS for origin.
func startTailor(t *testing.T, origin string) *tailorAPI {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	err := os.WriteFile(tokens, fmt.Appendf(nil, `{"tokens":[
		{"name":"site","token":%q,"scopes":["ingest","recommend"]},
		{"name":"test","token":%q,"scopes":["admin"]}]}`, tokenSite, tokenAdmin), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := server.LoadAuth(tokens)
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{
		Service: service.Options{
			Storage: service.StorageOptions{MinFreeBytes: -1},
			Logger:  log.New(io.Discard, "", 0),
			Learning: service.LearningOptions{Options: learn.Options{SweepEvery: -1, Window: 10 * time.Minute,
				Model: model.Options{Bits: 16}}},
		},
		Admission:   server.AdmissionOptions{Runnable: -1},
		Auth:        auth,
		CORSOrigins: []string{origin},
	}
	srv, err := server.Open(filepath.Join(dir, "data"), opts)
	if err != nil {
		t.Fatalf("server.Open() = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	return &tailorAPI{t: t, url: "http://" + ln.Addr().String()}
}

// do calls the API and decodes a 200 answer into out (when not nil); any
// other answer fails the test.
func (a *tailorAPI) do(method, path, body string, out any) {
	a.t.Helper()
	status, b, err := a.call(method, path, body)
	if err != nil || status != http.StatusOK {
		a.t.Fatalf("%s %s = %d %s, %v; want 200", method, path, status, b, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func (a *tailorAPI) call(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tokenAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// counts returns the user's event counts by type; nil for a user not seen.
func (a *tailorAPI) counts(user string) map[string]uint32 {
	a.t.Helper()
	status, b, err := a.call("GET", "/v1/users/"+url.PathEscape(user), "")
	if err == nil && status == http.StatusNotFound {
		return nil
	}
	if err != nil || status != http.StatusOK {
		a.t.Fatalf("GET /v1/users/%s = %d %s, %v", user, status, b, err)
	}
	var p struct {
		Counts map[string]uint32 `json:"counts"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		a.t.Fatal(err)
	}
	return p.Counts
}

func (a *tailorAPI) hasCounts(user string, want map[string]uint32) bool {
	got := a.counts(user)
	for typ, n := range want {
		if got[typ] != n {
			return false
		}
	}
	return true
}

func (a *tailorAPI) wantCounts(t *testing.T, user string, want map[string]uint32) {
	t.Helper()
	if !a.hasCounts(user, want) {
		t.Errorf("user's event counts = %v, want %v", a.counts(user), want)
	}
}

type armCounts struct{ decisions, impressions, clicks uint64 }

// wantArm checks the counters of an arm of the web-slots experiment in GET
// /v1/experiments.
func (a *tailorAPI) wantArm(t *testing.T, arm string, want armCounts) {
	t.Helper()
	var r struct {
		Arms []struct {
			Experiment, Arm                string
			Decisions, Impressions, Clicks uint64
		} `json:"arms"`
	}
	a.do("GET", "/v1/experiments", "", &r)
	i := slices.IndexFunc(r.Arms, func(s struct {
		Experiment, Arm                string
		Decisions, Impressions, Clicks uint64
	}) bool {
		return s.Experiment == "web-slots" && s.Arm == arm
	})
	var got armCounts
	if i >= 0 {
		got = armCounts{r.Arms[i].Decisions, r.Arms[i].Impressions, r.Arms[i].Clicks}
	}
	if got != want {
		t.Errorf("arm %s: decisions, impressions, clicks = %v, want %v", arm, got, want)
	}
}

// servePage serves, on ln, the test page at /, the package's files under
// /src/, the test pages under /testdata/ and the page's own item details
// at /catalog.json.
func servePage(t *testing.T, ln net.Listener) {
	t.Helper()
	details := map[string]map[string]string{}
	for _, it := range catalog {
		details[it.ID] = map[string]string{"title": it.Title, "url": it.URL}
	}
	catalogJSON, _ := json.Marshal(details)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "page.html"))
	})
	mux.HandleFunc("GET /catalog.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(catalogJSON)
	})
	mux.Handle("GET /src/", http.StripPrefix("/src/", http.FileServer(http.Dir("src"))))
	mux.Handle("GET /testdata/", http.StripPrefix("/testdata/", http.FileServer(http.Dir("testdata"))))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// browserTab is a Chromium tab that records the page's console errors and
// uncaught exceptions.
type browserTab struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// startBrowser starts headless Chromium and opens a tab.
func startBrowser(t *testing.T, chromium string) (context.Context, *browserTab) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(800, 600))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	b := &browserTab{ctx: ctx}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("cannot start %s: %v", chromium, err)
	}
	return ctx, b
}

// record keeps what the test checks of the tab's events. It runs on the
// tab's reading goroutine: it only appends under the lock.
func (b *browserTab) record(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if e := ev.ExceptionDetails.Exception; e != nil {
			msg += " " + e.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		msg = "console.error: " + strings.Join(args, " ")
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("%s error: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	b.mu.Lock()
	b.errs = append(b.errs, msg)
	b.mu.Unlock()
}

func (b *browserTab) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errs)
}

// stepTimeout bounds each browser step.
const stepTimeout = 10 * time.Second

// run runs a browser action within stepTimeout and returns its value.
func run[T any](t *testing.T, b *browserTab, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		var ee *chromedp.ExceptionError
		if errors.As(err, &ee) {
			t.Fatalf("in the page: %v", err)
		}
		t.Fatalf("browser: %v (console: %q)", err, b.consoleErrors())
	}
	return v
}

func (b *browserTab) do(t *testing.T, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, b, a)
}

// sleepCtx waits for d or until ctx ends, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
