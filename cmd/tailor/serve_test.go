package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/internal/kv"
)

// buildTailor builds the binary once per test run.
func buildTailor(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "tailor")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running `tailor serve`.
type process struct {
	cmd  *exec.Cmd
	base string
	logs chan string
}

var servingRE = regexp.MustCompile(`serving on (http://\S+)`)

func startTailor(t *testing.T, bin, dir string, flags ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--min-free-mb", "16"}, flags...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: make(chan string, 100)}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
			p.base = m[1]
			break
		}
	}
	if p.base == "" {
		t.Fatalf("tailor serve never said where it serves")
	}
	go func() {
		for sc.Scan() {
			select {
			case p.logs <- sc.Text():
			default:
			}
		}
		close(p.logs)
	}()
	return p
}

func (p *process) post(t *testing.T, path, body string) string {
	t.Helper()
	resp, err := http.Post(p.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s = %d %s", path, resp.StatusCode, out)
	}
	return string(out)
}

func (p *process) userEvents(t *testing.T, user string) int {
	t.Helper()
	resp, err := http.Get(p.base + "/v1/users/" + user)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 404 {
		return 0
	}
	var prof struct{ Events int }
	if err := json.NewDecoder(resp.Body).Decode(&prof); err != nil {
		t.Fatal(err)
	}
	return prof.Events
}

// TestKill9KeepsAcknowledgedEvents posts events to a real process, kills it
// with SIGKILL, restarts it on the same data directory and finds every
// acknowledged event.
func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	bin := buildTailor(t)
	dir := t.TempDir()
	p := startTailor(t, bin, dir)
	// The process re-executed itself (same id) with Go's monitor quiet
	// where the build detaches syncs: the guarantee below holds with both.
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
	if err == nil && kv.DetachedSyncs && !strings.Contains(string(env), quietMonitorSetting) {
		t.Errorf("tailor serve runs without %s in GODEBUG", quietMonitorSetting)
	}
	p.post(t, "/v1/items", `[{"id":"a","title":"Trail Shoe","category":["Sports","Running"]},{"id":"b","title":"Road Shoe","category":["Sports","Running"]}]`)
	const batches, perBatch = 40, 25
	for b := 0; b < batches; b++ {
		evs := make([]string, perBatch)
		for i := range evs {
			item := "a"
			if i%2 == 1 {
				item = "b"
			}
			evs[i] = fmt.Sprintf(`{"id":"k%d-%d","user":"crash","type":"view","item":%q}`, b, i, item)
		}
		if out := p.post(t, "/v1/events", "["+strings.Join(evs, ",")+"]"); !strings.Contains(out, fmt.Sprintf(`"accepted":%d`, perBatch)) {
			t.Fatalf("batch %d: %s", b, out)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()

	p = startTailor(t, bin, dir)
	if got := p.userEvents(t, "crash"); got != batches*perBatch {
		t.Errorf("after kill -9 the user has %d events, want %d", got, batches*perBatch)
	}
	// The rebuilt indexes know what the events taught them.
	out := p.post(t, "/v1/recommend", `{"n":1,"context":{"item":"a"}}`)
	if !strings.Contains(out, `"id":"b"`) || !strings.Contains(out, "context_item") {
		t.Errorf("after restart, recommend for context a = %s, want b as context_item", out)
	}
	// Replays of acknowledged events are still recognised.
	if out := p.post(t, "/v1/events", `[{"id":"k0-0","user":"crash","type":"view","item":"a"}]`); !strings.Contains(out, `"duplicates":1`) {
		t.Errorf("replayed event after restart = %s, want a duplicate", out)
	}

	// SIGTERM drains and exits cleanly.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM tailor exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tailor did not exit within 30s of SIGTERM")
	}
	// And the data directory opens again after the clean stop.
	p = startTailor(t, bin, dir)
	if got := p.userEvents(t, "crash"); got != batches*perBatch {
		t.Errorf("after SIGTERM and restart the user has %d events, want %d", got, batches*perBatch)
	}
}

// TestAuthFileReloadedOnSIGHUP: tokens come from the --auth file, and a
// SIGHUP reads it again without a restart.
func TestAuthFileReloadedOnSIGHUP(t *testing.T) {
	bin := buildTailor(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	write := func(token string) {
		t.Helper()
		body := fmt.Sprintf(`{"tokens":[{"name":"ops","token":%q,"scopes":["read"]}]}`, token)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-token-0123456789")
	p := startTailor(t, bin, t.TempDir(), "--auth", file)
	get := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", p.base+"/v1/audiences", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != 401 {
		t.Errorf("without a token = %d, want 401", code)
	}
	if code := get("first-token-0123456789"); code != 200 {
		t.Errorf("with the token = %d, want 200", code)
	}
	write("second-token-0123456789")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for get("second-token-0123456789") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the new token was never accepted after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := get("first-token-0123456789"); code != 401 {
		t.Errorf("the dropped token after SIGHUP = %d, want 401", code)
	}
}

func TestExposureNeedsAuth(t *testing.T) {
	for _, tc := range []struct {
		addr, auth string
		insecure   bool
		ok         bool
	}{
		{"127.0.0.1:8080", "", false, true},
		{"[::1]:8080", "", false, true},
		{"localhost:8080", "", false, true},
		{"0.0.0.0:8080", "", false, false},
		{":8080", "", false, false},
		{"10.1.2.3:8080", "", false, false},
		{"0.0.0.0:8080", "tokens.json", false, true},
		{"0.0.0.0:8080", "", true, true},
	} {
		err := checkExposure(tc.addr, tc.auth, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("checkExposure(%q, %q, %v) = %v, want ok %v", tc.addr, tc.auth, tc.insecure, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("checkExposure(%q) = %v, want it to name --insecure", tc.addr, err)
		}
	}
}

func TestAdmissionOptions(t *testing.T) {
	o, err := admissionOptions("recommend=16, bid=8,events=64,other=4", time.Millisecond, time.Second)
	if err != nil || o.Recommend != 16 || o.Bid != 8 || o.Events != 64 || o.Other != 4 || o.Wait != time.Millisecond ||
		o.EventsWait != time.Second {
		t.Errorf("admissionOptions() = %+v, %v", o, err)
	}
	for _, bad := range []string{"recommend", "recommend=0", "search=3", "bid=x"} {
		if _, err := admissionOptions(bad, 0, 0); err == nil {
			t.Errorf("admissionOptions(%q) = nil error", bad)
		}
	}
}

func TestRankerOptions(t *testing.T) {
	o, err := rankerOptions(`{"per_source":20,"similar_sessions":50}`)
	if err != nil || o.PerSource != 20 || o.SimilarSessions != 50 || o.RecentItems != 0 {
		t.Errorf("rankerOptions = %+v, %v; want per source 20, similar sessions 50, the rest default", o, err)
	}
	if o, err := rankerOptions(""); err != nil || o.PerSource != 0 || o.Sources != 0 {
		t.Errorf("rankerOptions(\"\") = %+v, %v; want the defaults", o, err)
	}
	for flag, want := range map[string]string{
		`{"per_sourc":20}`:          "per_sourc",
		`{"per_source":-1}`:         "per_source",
		`{"sources":["nope"]}`:      "nope",
		`{"max_per_leaf":2}`:        "max_per_leaf",
		`{"per_source":20} {}`:      "more than one",
		`{"weights":{"co_visit":1}`: "--ranker",
		`{"model":false}`:           "--hand-set",
	} {
		if _, err := rankerOptions(flag); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rankerOptions(%s) = %v, want an error naming %q", flag, err, want)
		}
	}
}

// TestServeRankerFlag starts the demo with and without --ranker and finds
// the flag's settings in the answers: with only the trending source, no item
// is there for the items or searches in the user's history.
func TestServeRankerFlag(t *testing.T) {
	bin := buildTailor(t)
	// fromHistory counts the reasons of runner-ana's items that name her
	// own items, searches or sessions like hers.
	fromHistory := func(flags ...string) int {
		p := startTailor(t, bin, t.TempDir(), append([]string{"--demo"}, flags...)...)
		var out struct {
			Items []struct{ Reasons []struct{ Code string } }
		}
		if err := json.Unmarshal([]byte(p.post(t, "/v1/recommend", `{"user":"runner-ana","n":5}`)), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Items) == 0 {
			t.Fatalf("no items for runner-ana (flags %q)", flags)
		}
		n := 0
		for _, it := range out.Items {
			for _, r := range it.Reasons {
				switch r.Code {
				case "viewed_together", "matches_search", "similar_sessions":
					n++
				}
			}
		}
		return n
	}
	if n := fromHistory(); n == 0 {
		t.Fatal("with every source no reason names runner-ana's history: the test cannot tell the flag's effect")
	}
	if n := fromHistory("--ranker", `{"sources":["trending"]}`); n != 0 {
		t.Errorf("--ranker with only the trending source: %d reasons name runner-ana's history, want none", n)
	}

	// Its weights are where learning starts on a new data directory.
	p := startTailor(t, bin, t.TempDir(), "--demo", "--ranker", `{"weights":{"popularity":0.9}}`)
	resp, err := http.Get(p.base + "/v1/experiments")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Weights struct {
			Learning bool
			Values   map[string]float64
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&exp)
	resp.Body.Close()
	if err != nil || !exp.Weights.Learning || exp.Weights.Values["popularity"] != 0.9 || exp.Weights.Values["co_visit"] != 1 {
		t.Errorf("GET /v1/experiments with --ranker weights: %+v, %v; want learning from popularity 0.9, co_visit 1", exp.Weights, err)
	}

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--ranker", `{"per_sourc":20}`)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown field "per_sourc"`) {
		t.Errorf("serve --ranker with a misspelt field: %v, %s; want it refused, naming the field", err, out)
	}
}
