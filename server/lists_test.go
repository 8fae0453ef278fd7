package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
)

// listPage is the shape of every list answer.
type listPage struct {
	Items     []struct{ ID string }   `json:"items"`
	Campaigns []struct{ ID string }   `json:"campaigns"`
	Audiences []struct{ Name string } `json:"audiences"`
	Next      *string                 `json:"next"`
}

// walk follows a list's pages of limit records and returns the ids in order.
func (ts *testServer) walk(path string, limit int) []string {
	ts.t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		var p listPage
		if code := ts.getJSON(fmt.Sprintf("%s?limit=%d&cursor=%s", path, limit, url.QueryEscape(cursor)), &p); code != 200 {
			ts.t.Fatalf("GET %s = %d", path, code)
		}
		n := 0
		for _, r := range p.Items {
			ids, n = append(ids, r.ID), n+1
		}
		for _, r := range p.Campaigns {
			ids, n = append(ids, r.ID), n+1
		}
		for _, r := range p.Audiences {
			ids, n = append(ids, r.Name), n+1
		}
		if n > limit {
			ts.t.Fatalf("GET %s?limit=%d returned %d records", path, limit, n)
		}
		if p.Next == nil {
			return ids
		}
		cursor = *p.Next
	}
	ts.t.Fatalf("GET %s never reached its last page", path)
	return nil
}

// TestListsPage checks the list endpoints of items, campaigns and
// audiences: every record once, in id order, a page at a time, and bad
// paging parameters named.
func TestListsPage(t *testing.T) {
	ts := newBidServer(t, nil)
	ts.loadCatalog()
	ts.campaigns(shoeAndPanCampaigns)
	for _, name := range []string{"c", "a", "b"} {
		ts.mustPost("/v1/audiences/"+name, `{"expression":"events > 0"}`)
	}
	all := ts.walk("/v1/items", 1000)
	if len(all) != 17 || !slices.IsSorted(all) {
		t.Fatalf("items in one page = %v, want the 17 of the catalog in id order", all)
	}
	for _, limit := range []int{1, 4, 17} {
		if got := ts.walk("/v1/items", limit); !slices.Equal(got, all) {
			t.Errorf("items by pages of %d = %v, want %v", limit, got, all)
		}
	}
	camps := ts.walk("/v1/campaigns", 1)
	if len(camps) != 2 || !slices.IsSorted(camps) {
		t.Errorf("campaigns = %v, want the 2 in id order", camps)
	}
	if got := ts.walk("/v1/audiences", 2); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("audiences = %v, want [a b c]", got)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=.."} {
		code, out := ts.do("GET", "/v1/items?"+q, "", "")
		field := "limit"
		if q == "cursor=.." {
			field = "cursor"
		}
		wantError(t, "GET /v1/items?"+q, code, out, 400, "invalid_request", field)
	}
}

// TestBackupRoute takes a backup through the API and checks its answers:
// off without a directory, a name taken, a name that is no id.
func TestBackupRoute(t *testing.T) {
	ts := newTestServer(t)
	code, out := ts.post("/v1/admin/backup", `{"name":"b1"}`)
	wantError(t, "backup without --backup-dir", code, out, 404, "not_found", "")

	dir := filepath.Join(t.TempDir(), "backups")
	ts = startServer(t, t.TempDir(), nil, Options{BackupDir: dir})
	ts.mustPost("/v1/events", `{"user":"u1","type":"view","item":"i1"}`)
	var got struct {
		Name, Path string
		Bytes      int64
	}
	if code := ts.postJSON("/v1/admin/backup", `{"name":"nightly-1"}`, &got); code != 200 || got.Path != filepath.Join(dir, "nightly-1") || got.Bytes <= 0 {
		t.Fatalf("backup = %d %+v", code, got)
	}
	code, out = ts.post("/v1/admin/backup", `{"name":"nightly-1"}`)
	wantError(t, "a second backup of the same name", code, out, 409, "exists", "name")
	code, out = ts.post("/v1/admin/backup", `{"name":".."}`)
	wantError(t, "a backup named ..", code, out, 400, "invalid_request", "name")
	code, out = ts.post("/v1/admin/backup", `{}`)
	wantError(t, "a backup without a name", code, out, 400, "invalid_request", "name")
}

// postJSON posts body and decodes the answer into v, returning the status.
func (ts *testServer) postJSON(path, body string, v any) int {
	ts.t.Helper()
	code, out := ts.post(path, body)
	if code == 200 {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			ts.t.Fatalf("POST %s: %v in %q", path, err, out)
		}
	}
	return code
}

// TestAudienceInputsNamed checks two answers that must name the field at
// fault: an unknown field of an audience, and a members cursor that is no
// id.
func TestAudienceInputsNamed(t *testing.T) {
	ts := newTestServer(t)
	code, out := ts.post("/v1/audiences/a", `{"expression":"events > 0","colour":"red"}`)
	wantError(t, "an audience with an unknown field", code, out, 400, "invalid_audience", "colour")
	ts.mustPost("/v1/audiences/a", `{"expression":"events > 0"}`)
	code, out = ts.do("GET", "/v1/audiences/a/users?cursor=..", "", "")
	wantError(t, "a members cursor ..", code, out, 400, "invalid_request", "cursor")
	code, out = ts.do("GET", "/v1/audiences/a/users?limit=1001", "", "")
	wantError(t, "a members page of 1001", code, out, 400, "invalid_request", "limit")
}

// TestHead answers HEAD as GET without a body, as load balancers' health
// probes and curl -I expect, and 405 where GET is not allowed either.
func TestHead(t *testing.T) {
	ts := newTestServer(t)
	ts.mustPost("/v1/events", `{"user":"u1","type":"view","item":"i1"}`)
	for _, path := range []string{"/healthz", "/readyz", "/v1/users/u1", "/openapi.json"} {
		if code, out := ts.do("HEAD", path, "", ""); code != 200 || out != "" {
			t.Errorf("HEAD %s = %d with %d bytes, want 200 without a body", path, code, len(out))
		}
	}
	if code, _ := ts.do("HEAD", "/v1/users/nobody", "", ""); code != 404 {
		t.Errorf("HEAD of an unknown user = %d, want 404", code)
	}
	if code, _ := ts.do("HEAD", "/v1/recommend", "", ""); code != 405 {
		t.Errorf("HEAD /v1/recommend = %d, want 405", code)
	}
}
