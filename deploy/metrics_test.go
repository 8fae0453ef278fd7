package deploy

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v4"

	"github.com/tailor-dev/tailor/server"
	"github.com/tailor-dev/tailor/service"
)

// exported starts a tailor in process, sends it a little of every kind of
// traffic so that labelled metrics have children, and returns the metric
// families it exports.
func exported(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srv, err := server.Open(t.TempDir(), server.Options{Service: service.Options{
		Now: func() time.Time { return now }, Logger: log.New(io.Discard, "", 0),
		Storage: service.StorageOptions{MinFreeBytes: -1}, Learning: service.LearningOptions{Disabled: false},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/items", `[{"id":"a","title":"Trail Shoe","category":["Sports","Running"],"price":90}]`},
		{"POST", "/v1/events", `[{"user":"u1","type":"view","item":"a"}]`},
		{"POST", "/v1/recommend", `{"user":"u1","n":3}`},
		{"POST", "/openrtb2/bid", `{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"page":"https://x.example"},"user":{"id":"u1"}}`},
		{"GET", "/openrtb2/win?t=forged", ""},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mfs, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestMetricsLint checks tailor's metrics against Prometheus' naming and
// documentation rules (promlint).
func TestMetricsLint(t *testing.T) {
	problems, err := promlint.NewWithMetricFamilies(exported(t)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// lazyMetrics are exported only once their first child exists: spend
// appears with the first billed notice in each currency.
var lazyMetrics = []string{"tailor_spend_micros_total"}

// metricRef finds the metric names in a PromQL expression.
var metricRef = regexp.MustCompile(`\b(?:tailor|go|process)_[a-z0-9_]+\b`)

// TestRulesAndDashboardNameExistingMetrics checks that the alert rules and
// the Grafana dashboard name only metrics tailor exports, and that every
// rule carries what an on-call reader needs.
func TestRulesAndDashboardNameExistingMetrics(t *testing.T) {
	names := map[string]bool{}
	for _, mf := range exported(t) {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+suffix] = true
			}
		}
	}
	for _, n := range lazyMetrics {
		names[n] = true
	}
	check := func(where, expr string) {
		t.Helper()
		if strings.TrimSpace(expr) == "" {
			t.Errorf("%s: empty expression", where)
		}
		for _, m := range metricRef.FindAllString(expr, -1) {
			if !names[m] {
				t.Errorf("%s names %s, which tailor does not export", where, m)
			}
		}
	}

	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			where := "alert " + r.Alert
			check(where, r.Expr)
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: a rule needs alert, labels.severity and annotations.summary", where)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("alerts.yml holds %d rules, want the set the README describes", n)
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err = os.ReadFile("grafana/tailor.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("tailor.json: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			check("panel "+p.Title, q.Expr)
		}
	}
}

// TestPromtoolChecksRules runs Prometheus' own checker on the alert rules
// and the scrape configuration, when promtool is installed (CI installs it
// and sets TAILOR_REQUIRE_PROMTOOL=1 so that a missing one fails).
func TestPromtoolChecksRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TAILOR_REQUIRE_PROMTOOL") == "" {
			t.Skip("promtool not found: install Debian's prometheus package (apt-get install prometheus) to check the rules with it")
		}
		t.Fatal("promtool not found and TAILOR_REQUIRE_PROMTOOL is set: apt-get install prometheus")
	}
	if out, err := exec.Command(promtool, "check", "rules", "prometheus/alerts.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	// The scrape configuration names files that exist in the container only:
	// check it with syntax only.
	if out, err := exec.Command(promtool, "check", "config", "--syntax-only", "prometheus/prometheus.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// TestTokensExampleLoads checks that the example tokens file the compose
// file mounts is one tailor accepts.
func TestTokensExampleLoads(t *testing.T) {
	a, err := server.LoadAuth("tokens.example.json")
	if err != nil {
		t.Fatalf("LoadAuth(tokens.example.json) = %v", err)
	}
	if a == nil {
		t.Fatal("LoadAuth(tokens.example.json) = nil")
	}
}
