package bench

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/internal/browsertest"
)

func TestSweep(t *testing.T) {
	url := serve(t, NewFloor().Handler)
	opts := SweepOptions{
		// Any offered rate is valid: the test is of the sweep's steps, and a
		// loaded machine may not keep the asked rate.
		Options: Options{RunOptions: RunOptions{Target: url, Duration: 400 * time.Millisecond, Warmup: 100 * time.Millisecond,
			Mix: Mix{{Name: "recommend", Weight: 1}}, Tolerance: 1}},
		From: 100, Step: 100, To: 300, SLO: time.Minute,
	}
	var stepped []float64
	opts.OnStep = func(rate float64, _ *Result) error { stepped = append(stepped, rate); return nil }
	res, err := RunSweep(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sweep.Held != 300 || len(res.Sweep.Steps) != 3 || len(stepped) != 3 || res.Config.Rate != 300 {
		t.Errorf("sweep to 300 with a loose SLO: got held %v after steps %+v (result at %v), want 300 after 3", res.Sweep.Held, res.Sweep.Steps, res.Config.Rate)
	}
	// An SLO no server meets: the first step fails and its result comes back.
	opts.SLO, opts.OnStep = time.Nanosecond, nil
	res, err = RunSweep(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sweep.Held != 0 || len(res.Sweep.Steps) != 1 || res.Sweep.Steps[0].Held || !strings.Contains(res.Sweep.Steps[0].Why, "p99") {
		t.Errorf("sweep with a 1 ns SLO: got held %v after %+v, want none held after one step failing on p99", res.Sweep.Held, res.Sweep.Steps)
	}
}

// TestSweepConfirms checks that a step spoiled by one stall holds when its
// confirming runs do, and that without them it ends the sweep.
func TestSweepConfirms(t *testing.T) {
	// The server stalls 100 ms on requests 20 to 29, which fall in the first
	// run's measured window (10 of warm-up, then about 40), and only there.
	var n atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if i := n.Add(1); i >= 20 && i < 30 {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := SweepOptions{
		Options: Options{RunOptions: RunOptions{Target: url, Duration: 400 * time.Millisecond, Warmup: 100 * time.Millisecond,
			Mix: Mix{{Name: "recommend", Weight: 1}}, Tolerance: 1}},
		From: 100, Step: 100, To: 100, SLO: 50 * time.Millisecond, Confirm: 2,
	}
	res, err := RunSweep(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Sweep.Steps; res.Sweep.Held != 100 || len(st) != 1 || !st[0].Held || st[0].Runs != 3 || len(res.Runs) != 3 {
		t.Errorf("one stalled run of three: got held %v after %+v, %d runs, want 100 held on 3 runs", res.Sweep.Held, st, len(res.Runs))
	}
	if p99 := res.Runs[0].Endpoints[0].Latency.P99; p99 < 100_000 {
		t.Errorf("first run's p99 = %v us, want the stall (at least 100 ms) in it", p99)
	}

	n.Store(0)
	opts.Confirm = 0
	res, err = RunSweep(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Sweep.Steps; res.Sweep.Held != 0 || len(st) != 1 || st[0].Held || st[0].Runs != 1 {
		t.Errorf("one stalled run, no confirming runs: got held %v after %+v, want none held on 1 run", res.Sweep.Held, st)
	}
}

// TestSweepConfirmsErrors: errors are judged like p99, on the median of a
// step's runs: requests shed in one stall of one run do not end a sweep that
// its confirming runs hold, and still do without them.
func TestSweepConfirmsErrors(t *testing.T) {
	// The server sheds requests 20 to 29, in the first run's measured
	// window, and no others.
	var n atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if i := n.Add(1); i >= 20 && i < 30 {
			ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
		}
	})
	opts := SweepOptions{
		Options: Options{RunOptions: RunOptions{Target: url, Duration: 400 * time.Millisecond, Warmup: 100 * time.Millisecond,
			Mix: Mix{{Name: "recommend", Weight: 1}}, Tolerance: 1}},
		From: 100, Step: 100, To: 100, SLO: time.Minute, Confirm: 2,
	}
	res, err := RunSweep(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Sweep.Steps; res.Sweep.Held != 100 || len(st) != 1 || !st[0].Held || st[0].Errors != 0 || st[0].ErrorsMax != 10 {
		t.Errorf("one run of three with 10 shed: got held %v after %+v, want 100 held, errors 0, errors_max 10", res.Sweep.Held, st)
	}

	n.Store(0)
	opts.Confirm = 0
	res, err = RunSweep(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Sweep.Steps; res.Sweep.Held != 0 || len(st) != 1 || st[0].Held || st[0].Why != "10 errors" {
		t.Errorf("one run with 10 shed, no confirming runs: got held %v after %+v, want none held on 10 errors", res.Sweep.Held, st)
	}
}

// TestSweepEndpointBounds: a bound of an endpoint's own replaces the
// default for it, and a bound of off leaves it unjudged. The server takes
// 20 ms over every events request and answers the others at once.
func TestSweepEndpointBounds(t *testing.T) {
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/v1/events" {
			time.Sleep(20 * time.Millisecond)
		}
	})
	sweep := func(slo string) *Result {
		t.Helper()
		bound, bounds, err := ParseSLO(slo)
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunSweep(context.Background(), testWorkload(), SweepOptions{
			Options: Options{RunOptions: RunOptions{Target: url, Duration: 400 * time.Millisecond, Warmup: 100 * time.Millisecond,
				Mix: Mix{{Name: "recommend", Weight: 1}, {Name: "events", Weight: 1}}, Tolerance: 1}},
			From: 100, Step: 100, To: 100, SLO: bound, EndpointSLO: bounds,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, c := range []struct {
		slo, bounds string
		held        bool
		why         string
	}{
		{"1s", "1s", true, ""},
		{"1s,events=10ms", "1s,events=10ms", false, "events p99"},
		{"1s,events=off", "1s,events=off", true, ""},
		{"10ms", "10ms", false, "events p99"},
		{"10ms,events=off", "10ms,events=off", true, ""},
		{"events=off,10ms", "10ms,events=off", true, ""},
		{"10ms,events=1s", "10ms,events=1s", true, ""},
	} {
		res := sweep(c.slo)
		sw, st := res.Sweep, res.Sweep.Steps[0]
		if st.Held != c.held || !strings.HasPrefix(st.Why, c.why) || sw.String() != c.bounds {
			t.Errorf("--slo %s: held %v (%q), bounds %q; want held %v (%q...), bounds %q", c.slo, st.Held, st.Why, sw, c.held, c.why, c.bounds)
		}
		if st.P99["events"] < 20_000 {
			t.Errorf("--slo %s: events p99 %v µs recorded, want its 20 ms wait in it, judged or not", c.slo, st.P99["events"])
		}
		var summary strings.Builder
		if err := WriteSummary(&summary, res); err != nil || !strings.Contains(summary.String(), "p99 bounds "+c.bounds+",") {
			t.Errorf("--slo %s: summary %q (%v), want it to name the bounds %s", c.slo, summary.String(), err, c.bounds)
		}
	}
}

func TestParseSLO(t *testing.T) {
	for _, c := range []struct {
		in   string
		def  time.Duration
		byEP map[string]time.Duration
	}{
		{"", 5 * time.Millisecond, nil},
		{"2ms", 2 * time.Millisecond, nil},
		{"events=off", 5 * time.Millisecond, map[string]time.Duration{"events": -1}},
		{" 3ms , bid = 1ms ,events=off", 3 * time.Millisecond, map[string]time.Duration{"bid": time.Millisecond, "events": -1}},
	} {
		def, byEP, err := ParseSLO(c.in)
		if err != nil || def != c.def || !maps.Equal(byEP, c.byEP) {
			t.Errorf("ParseSLO(%q) = %v, %v, %v; want %v, %v", c.in, def, byEP, err, c.def, c.byEP)
		}
	}
	for in, want := range map[string]string{
		"fast":              `"fast" is not a positive duration`,
		"0s":                `"0s" is not a positive duration`,
		"1ms,2ms":           "more than one default bound",
		"search=1ms":        `unknown endpoint "search"`,
		"bid=1ms,bid=off":   "bid given twice",
		"events=-1ms":       `bound of events must be a positive duration or off, got "-1ms"`,
		"recommend=forever": `bound of recommend must be a positive duration or off, got "forever"`,
	} {
		if _, _, err := ParseSLO(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSLO(%q) error %v, want one saying %s", in, err, want)
		}
	}
}

// The report opens in a real browser and its plots are drawn: each plot is
// an SVG with lines of many points.
func TestReportInChromium(t *testing.T) {
	chromium := browsertest.Chromium(t, "renders the report")
	target, floor := serve(t, NewFloor().Handler), serve(t, NewFloor().Handler)
	res, err := RunSweep(context.Background(), testWorkload(), SweepOptions{
		Options: Options{
			RunOptions:  RunOptions{Target: target, Duration: 600 * time.Millisecond, Warmup: 200 * time.Millisecond},
			FloorTarget: floor, Label: "report test <&>",
		},
		From: 200, Step: 200, To: 400, SLO: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteResult(dir, res); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResult(filepath.Join(dir, "result.json")); err != nil {
		t.Fatalf("ReadResult of what WriteResult wrote: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+filepath.Join(dir, "report.html"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	if !strings.Contains(dom, "report test &lt;&amp;&gt;") {
		t.Errorf("rendered DOM lacks the escaped title; got %d bytes:\n%.2000s", len(dom), dom)
	}
	if got := strings.Count(dom, "<svg"); got != 6 {
		t.Errorf("rendered DOM: got %d SVG plots, want 6 (3 percentile plots, throughput, p99 over time, sweep)", got)
	}
	paths := map[string]int{} // data-name -> points
	for _, tag := range regexp.MustCompile(`<path [^>]*>`).FindAllString(dom, -1) {
		name := regexp.MustCompile(`data-name="([^"]*)"`).FindStringSubmatch(tag)
		d := regexp.MustCompile(` d="([^"]*)"`).FindStringSubmatch(tag)
		if name == nil || d == nil {
			continue
		}
		if strings.Contains(d[1], "NaN") || strings.Contains(d[1], "Inf") {
			t.Errorf("path %q: got d=%q, want finite coordinates", name[1], d[1])
		}
		paths[name[1]] = strings.Count(d[1], "L") + 1
	}
	for _, want := range []struct {
		name string
		min  int
	}{
		{"recommend run 1 latency (from intended send)", 10},
		{"recommend run 1 service time (from actual send)", 10},
		{"events run 1 latency (from intended send)", 5},
		{"bid run 1 latency (from intended send)", 5},
		{"recommend floor run 1 latency (from intended send)", 10},
		{"recommend run 1: answered per second", 5},
		{"recommend run 1: p99 over time", 5},
		{"recommend: p99 (median of runs) by rate", 2},
	} {
		if got := paths[want.name]; got < want.min {
			t.Errorf("path %q: got %d points, want at least %d (paths drawn: %v)", want.name, got, want.min, paths)
		}
	}
	if t.Failed() {
		os.WriteFile(filepath.Join(t.TempDir(), "dom.html"), out, 0o644)
	}
}
