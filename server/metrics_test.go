package server

import (
	"regexp"
	"strings"
	"testing"
)

// TestMetricsExportSeenSeries: a scrape carries a route's request counts and
// latency once the route has answered, by the codes it answered with, and
// nothing for the routes and codes never seen, which once were hundreds of
// series of zeros that made every scrape cost the serving core.
func TestMetricsExportSeenSeries(t *testing.T) {
	ts := newTestServer(t)
	for range 2 {
		if code, _ := ts.do("GET", "/healthz", "", ""); code != 200 {
			t.Fatalf("GET /healthz = %d", code)
		}
	}
	if code, _ := ts.do("POST", "/v1/recommend", "application/json", `[1]`); code != 400 {
		t.Fatalf("a bad recommend = %d, want 400", code)
	}
	code, out := ts.do("GET", "/metrics", "", "")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`tailor_http_requests_total{code="200",route="healthz"} 2`,
		`tailor_http_requests_total{code="400",route="recommend"} 1`,
		`tailor_http_request_duration_seconds_count{route="healthz"} 2`,
		`tailor_http_request_duration_seconds_count{route="recommend"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	for _, unseen := range []string{`route="audience"`, `code="500",route="healthz"`, `code="200",route="recommend"`} {
		if strings.Contains(out, unseen) {
			t.Errorf("the scrape has a series of %s, never seen", unseen)
		}
	}
	// healthz by one code and recommend by another; the scrape is counted
	// once answered, after its own body.
	series := regexp.MustCompile(`(?m)^tailor_http_requests_total\{`).FindAllString(out, -1)
	if len(series) != 2 {
		t.Errorf("%d request count series, want 2 (healthz 200, recommend 400)", len(series))
	}
}
