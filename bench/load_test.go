package bench

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// fakeAPI records the batches posted to it. It answers the first request of
// every path 503 (to be retried), and /v1/campaigns with campaignsStatus.
type fakeAPI struct {
	mu              sync.Mutex
	seen            map[string]bool
	batches         map[string][][]byte
	campaignsStatus int
}

func (f *fakeAPI) handle(ctx *fasthttp.RequestCtx) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := string(ctx.Path())
	if !f.seen[path] {
		f.seen[path] = true
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return
	}
	if path == "/v1/campaigns" && f.campaignsStatus != 0 {
		ctx.SetStatusCode(f.campaignsStatus)
		ctx.SetBodyString(`{"error":{"code":"invalid_campaign","field":"targeting.device_types"}}`)
		return
	}
	if string(ctx.Request.Header.ContentType()) != "application/x-ndjson" {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		return
	}
	f.batches[path] = append(f.batches[path], append([]byte(nil), ctx.PostBody()...))
	ctx.SetBodyString(`{"accepted":1,"duplicates":0}`)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	m, err := Gen(dir, smallWorld(5))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := OpenWorld(dir)
	for _, tt := range []struct {
		name            string
		campaignsStatus int
		skipped         string
	}{
		{"all loaded", 0, ""},
		{"no campaigns endpoint", fasthttp.StatusNotFound, "the server has no /v1/campaigns"},
		{"campaigns refused", fasthttp.StatusBadRequest, "device_types"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{seen: map[string]bool{}, batches: map[string][][]byte{}, campaignsStatus: tt.campaignsStatus}
			url := serve(t, api.handle)
			st, err := Load(context.Background(), w, LoadOptions{Target: url, ItemsBatch: 300, EventsBatch: 100, CampaignsBatch: 7})
			if err != nil {
				t.Fatalf("Load: got error %v, want nil", err)
			}
			if st.Items != int64(m.Items) || st.Events != m.Events || st.Retries < 2 {
				t.Errorf("Load: got %d items, %d events, %d retries, want %d, %d and at least 2", st.Items, st.Events, st.Retries, m.Items, m.Events)
			}
			if !strings.Contains(st.CampaignsSkipped, tt.skipped) || (tt.skipped == "") != (st.CampaignsSkipped == "") {
				t.Errorf("campaigns skipped: got %q, want %q", st.CampaignsSkipped, tt.skipped)
			}
			if tt.skipped == "" && st.Campaigns != int64(m.Campaigns) {
				t.Errorf("campaigns: got %d, want %d", st.Campaigns, m.Campaigns)
			}
			// Batches are whole lines, and no user's events are split
			// between two batches (they could be applied out of order).
			owner := map[string]int{}
			lines := 0
			for i, b := range api.batches["/v1/events"] {
				for line := range bytes.Lines(b) {
					lines++
					u := string(userOf(line))
					if j, ok := owner[u]; ok && j != i {
						t.Fatalf("user %s: events in batches %d and %d, want one batch", u, j, i)
					}
					owner[u] = i
				}
			}
			if int64(lines) != m.Events || len(api.batches["/v1/events"]) < 2 {
				t.Errorf("events: got %d lines in %d batches, want %d in several", lines, len(api.batches["/v1/events"]), m.Events)
			}
		})
	}
}

// With an admin target, the catalog and campaigns go to it and the events to
// the target, as a server with --admin-addr takes them.
func TestLoadAdminTarget(t *testing.T) {
	dir := t.TempDir()
	m, err := Gen(dir, smallWorld(7))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := OpenWorld(dir)
	public := &fakeAPI{seen: map[string]bool{}, batches: map[string][][]byte{}}
	admin := &fakeAPI{seen: map[string]bool{}, batches: map[string][][]byte{}}
	publicURL := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/v1/events" {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			return
		}
		public.handle(ctx)
	})
	adminURL := serve(t, admin.handle)
	st, err := Load(context.Background(), w, LoadOptions{Target: publicURL, AdminTarget: adminURL})
	if err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}
	if st.Items != int64(m.Items) || st.Campaigns != int64(m.Campaigns) || st.Events != m.Events {
		t.Errorf("Load: got %d items, %d campaigns, %d events, want %d, %d, %d", st.Items, st.Campaigns, st.Events, m.Items, m.Campaigns, m.Events)
	}
	if len(admin.batches["/v1/items"]) == 0 || len(admin.batches["/v1/campaigns"]) == 0 || len(admin.batches["/v1/events"]) != 0 {
		t.Errorf("admin listener got %d item, %d campaign and %d event batches, want some, some and none",
			len(admin.batches["/v1/items"]), len(admin.batches["/v1/campaigns"]), len(admin.batches["/v1/events"]))
	}
	if len(public.batches["/v1/events"]) == 0 {
		t.Error("public listener got no events")
	}
}

// A request refused with a 4xx stops the load with the server's message.
func TestLoadRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := Gen(dir, smallWorld(6)); err != nil {
		t.Fatal(err)
	}
	w, _ := OpenWorld(dir)
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetBodyString(`{"error":{"code":"invalid_item","field":"price"}}`)
	})
	_, err := Load(context.Background(), w, LoadOptions{Target: url})
	if err == nil || !strings.Contains(err.Error(), "/v1/items: 400") || !strings.Contains(err.Error(), "invalid_item") {
		t.Errorf("Load against a refusing server: got %v, want the 400 and its message", err)
	}
}

func TestUserOf(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"e1","user":"u000042","type":"view"}`: "u000042",
		`{"id":"e1","type":"view"}`:                  "",
		`{"user":"u1`:                                "",
	} {
		if got := string(userOf([]byte(in))); got != want {
			t.Errorf("userOf(%s) = %q, want %q", in, got, want)
		}
	}
}
