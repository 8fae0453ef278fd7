package bench

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve serves h on a loopback port for the duration of the test and
// returns its base URL.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, NoDefaultServerHeader: true, NoDefaultDate: true}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Shutdown(); <-done })
	return "http://" + ln.Addr().String()
}

// testWorkload is one small body per endpoint.
func testWorkload() Workload {
	return Workload{
		"recommend": NewBodies([][]byte{[]byte(`{"user":"u1"}`), []byte(`{"user":"u2"}`)}),
		"events":    NewBodies([][]byte{[]byte(`[{"id":"ev-0000000000000000-0-0","user":"u1","type":"view","item":"i1"}]`)}),
		"bid":       NewBodies([][]byte{[]byte(`{"id":"rq-0000000000000000-0","imp":[{"id":"1"}]}`)}),
	}
}

func onlyEndpoint(t *testing.T, run *Run) *EndpointRun {
	t.Helper()
	if len(run.Endpoints) != 1 {
		t.Fatalf("got %d endpoints, want 1", len(run.Endpoints))
	}
	return run.Endpoints[0]
}

// A server that holds one answer in N for 200 ms, and every answer queued
// behind it (a pause, as a garbage collector or a lock would cause). At 1000
// requests per second with N = 1000, about a fifth of the requests are
// scheduled during a stall: the open loop's p99 shows it. A closed loop with
// one connection waits out each stall, sends nothing meanwhile, and counts
// one slow answer per stall: its p99 hides the stall, though its maximum
// saw it.
func TestStallShowsInOpenLoopNotClosed(t *testing.T) {
	const (
		every = 1000
		stall = 200 * time.Millisecond
	)
	var n atomic.Int64
	var mu sync.Mutex
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		if n.Add(1)%every == 0 {
			time.Sleep(stall)
		}
		mu.Unlock()
		ctx.SetBodyString("{}")
	})
	opts := RunOptions{
		Target: url, Rate: 1000, Duration: 2 * time.Second, Warmup: 250 * time.Millisecond,
		Mix: Mix{{Name: "recommend", Weight: 1}}, Conns: 512,
	}
	open, err := Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Closed, opts.Conns = true, 1
	closed, err := Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	o, c := onlyEndpoint(t, open), onlyEndpoint(t, closed)
	t.Logf("open loop:   %d requests, p50 %s p99 %s max %s, service p99 %s, achieved %.0f/s",
		o.Requests, fmtUS(o.Latency.P50), fmtUS(o.Latency.P99), fmtUS(o.Latency.Max), fmtUS(o.Service.P99), open.Achieved)
	t.Logf("closed loop: %d requests, p50 %s p99 %s max %s, achieved %.0f/s, valid %v %v",
		c.Requests, fmtUS(c.Latency.P50), fmtUS(c.Latency.P99), fmtUS(c.Latency.Max), closed.Achieved, closed.Valid, closed.Invalid)
	if got, want := o.Latency.P99, float64(stall.Microseconds())/2; got < want {
		t.Errorf("open loop p99: got %s, want at least %s (half the stall)", fmtUS(got), fmtUS(want))
	}
	if got, want := c.Latency.Max, 0.9*float64(stall.Microseconds()); got < want {
		t.Errorf("closed loop max: got %s, want at least %s (it met a stall)", fmtUS(got), fmtUS(want))
	}
	if got, want := c.Latency.P99, float64(stall.Microseconds())/4; got >= want {
		t.Errorf("closed loop p99: got %s, want under %s (the stall hidden)", fmtUS(got), fmtUS(want))
	}
	if o.Errors != nil || c.Errors != nil {
		t.Errorf("errors: got open %v closed %v, want none", o.Errors, c.Errors)
	}
}

// When the server keeps up, the open loop offers the asked rate.
func TestAchievedRate(t *testing.T) {
	url := serve(t, NewFloor().Handler)
	const rate = 1000
	run, err := Drive(context.Background(), testWorkload(), RunOptions{
		Target: url, Rate: rate, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond,
		Mix: Mix{{Name: "recommend", Weight: 3}, {Name: "bid", Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !run.Valid {
		// Speed is not this test's to assert: a loaded machine may not offer
		// the rate, and the run says so rather than pass for one that did.
		t.Skipf("this machine could not offer %d req/s now: %v", rate, run.Invalid)
	}
	if run.Achieved < 0.97*rate || run.Achieved > 1.03*rate {
		t.Errorf("achieved: got %.1f req/s (valid %v %v), want %d +- 3%%", run.Achieved, run.Valid, run.Invalid, rate)
	}
	for _, e := range run.Endpoints {
		want := map[string]float64{"recommend": 750, "bid": 250}[e.Name]
		if e.Asked != want || e.Achieved < 0.97*want || e.Achieved > 1.03*want {
			t.Errorf("%s: got asked %.0f achieved %.1f req/s, want %.0f", e.Name, e.Asked, e.Achieved, want)
		}
		if e.OK != e.Requests || e.Requests < int64(1.9*want) || e.Status["200"] != e.OK {
			t.Errorf("%s: got %d requests, %d ok, status %v, want about %.0f, all 200", e.Name, e.Requests, e.OK, e.Status, 2*want)
		}
		if len(e.Curve) == 0 || len(e.Series) < 2 {
			t.Errorf("%s: got %d curve points and %d seconds, want both", e.Name, len(e.Curve), len(e.Series))
		}
	}
	if run.DriverCPU <= 0 {
		t.Errorf("driver CPU per request: got %v, want > 0", run.DriverCPU)
	}
}

// A missing endpoint is an error of its own kind, not a failed run; a dead
// server is another kind.
func TestErrorKinds(t *testing.T) {
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/openrtb2/") {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			ctx.SetBodyString(`{"error":{"code":"not_found"}}`)
			return
		}
		ctx.SetBodyString("{}")
	})
	opts := RunOptions{Target: url, Rate: 200, Duration: 500 * time.Millisecond, Warmup: -1,
		Mix: Mix{{Name: "recommend", Weight: 1}, {Name: "bid", Weight: 1}}}
	run, err := Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range run.Endpoints {
		switch e.Name {
		case "recommend":
			if e.Errors != nil || e.OK == 0 {
				t.Errorf("recommend: got %d ok, errors %v, want all ok", e.OK, e.Errors)
			}
		case "bid":
			if e.OK != 0 || e.Errors["http_404"] != e.Requests || !strings.Contains(e.ErrorSamples["http_404"], "not_found") {
				t.Errorf("bid: got %d ok, errors %v, samples %v, want every request an http_404", e.OK, e.Errors, e.ErrorSamples)
			}
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	opts.Target = dead
	run, err = Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range run.Endpoints {
		if e.Errors["conn_refused"] != e.Requests || e.Requests == 0 {
			t.Errorf("%s against a closed port: got %d requests, errors %v, want all conn_refused", e.Name, e.Requests, e.Errors)
		}
	}
}

func TestDriveInterrupted(t *testing.T) {
	url := serve(t, NewFloor().Handler)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run, err := Drive(ctx, testWorkload(), RunOptions{Target: url, Rate: 100, Duration: time.Hour, Mix: Mix{{Name: "events", Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if run.Valid {
		t.Errorf("interrupted run: got valid, want invalid")
	}
}

func TestDriveRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		wl   Workload
		opts RunOptions
	}{
		{"no target", testWorkload(), RunOptions{}},
		{"not a URL", testWorkload(), RunOptions{Target: "localhost:80"}},
		{"no bodies", Workload{}, RunOptions{Target: "http://127.0.0.1:1"}},
	} {
		if _, err := Drive(context.Background(), tt.wl, tt.opts); err == nil {
			t.Errorf("%s: got no error, want one", tt.name)
		}
	}
}

// Every send fills the id placeholders with a number of its own.
func TestBodiesFill(t *testing.T) {
	b := NewBodies([][]byte{
		[]byte(`[{"id":"ev-0000000000000000-0-0"},{"id":"ev-0000000000000000-0-1"}]`),
		[]byte(`{"user":"u1"}`),
	})
	got := string(b.fill(nil, 0, 0xabc))
	if want := `[{"id":"ev-0000000000000abc-0-0"},{"id":"ev-0000000000000abc-0-1"}]`; got != want {
		t.Errorf("fill(0, 0xabc) = %s, want %s", got, want)
	}
	if got := string(b.fill(nil, 1, 7)); got != `{"user":"u1"}` {
		t.Errorf("fill(1, 7) = %s, want the body unchanged", got)
	}
	if got := string(b.list[0]); !strings.Contains(got, placeholder) {
		t.Errorf("after fill, body 0 = %s, want the original kept", got)
	}
}

// The offered rate must be within the tolerance on both sides: above it,
// requests due in the warm-up were sent in the window (the driver fell
// behind and caught up).
func TestValidity(t *testing.T) {
	for _, tt := range []struct {
		sent  int64
		valid bool
		why   string
	}{
		{100, true, ""},
		{97, false, "could not keep up"},
		{103, false, "caught up"},
	} {
		d := &driver{opts: RunOptions{Rate: 100, Duration: time.Second, Tolerance: 0.02}, interval: time.Second}
		d.recs = []*recorder{{ep: endpoints[0], share: 1, sentInRange: tt.sent,
			latency: newHistogram(), service: newHistogram(), status: map[int]int64{}, errors: map[string]int64{}}}
		var run Run
		d.fill(&run, [2]cpuSample{})
		if run.Valid != tt.valid || (tt.why != "" && (len(run.Invalid) != 1 || !strings.Contains(run.Invalid[0], tt.why))) {
			t.Errorf("%d sent at 100 req/s: got valid %v %v, want %v %q", tt.sent, run.Valid, run.Invalid, tt.valid, tt.why)
		}
	}
}

func TestMachineCPU(t *testing.T) {
	busy, idle, err := MachineCPU()
	if err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
	self, err := ProcessCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if busy <= 0 || idle < 0 || busy < self {
		t.Errorf("MachineCPU: got busy %v idle %v (this process %v), want busy >= this process > 0", busy, idle, self)
	}
}

// TestDriveCountsWALSyncs: a server whose metrics count one sync of its
// write-ahead log for every two requests shows about half a sync a request;
// one whose metrics do not count them shows no such figure.
func TestDriveCountsWALSyncs(t *testing.T) {
	floor := NewFloor().Handler
	var served atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/metrics" {
			fmt.Fprintf(ctx, "tailor_pebble_wal_fsync_seconds_sum 1.5\ntailor_pebble_wal_fsync_seconds_count %d\n", served.Load()/2)
			return
		}
		served.Add(1)
		floor(ctx)
	})
	opts := RunOptions{Target: url, Rate: 400, Duration: 500 * time.Millisecond, Warmup: -1,
		Mix: Mix{{Name: "recommend", Weight: 1}}, ServerPID: os.Getpid()}
	run, err := Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if run.WALSyncs == nil || math.Abs(*run.WALSyncs-0.5) > 0.2 {
		t.Fatalf("WAL syncs a request = %v, want about 0.5", run.WALSyncs)
	}
	r := &Result{Runs: []*Run{run}}
	r.summarize()
	if f, ok := r.Figure("all", "server wal syncs"); !ok || f.Median != *run.WALSyncs {
		t.Errorf("figure: %+v, %v; want the run's %v", f, ok, *run.WALSyncs)
	}

	// The floor run beside it reads the floor's metrics, which count none,
	// not the server's.
	plain := serve(t, floor)
	opts.MetricsURL = url + "/metrics"
	res, err := Measure(context.Background(), testWorkload(), Options{RunOptions: opts, FloorTarget: plain, FloorPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 || res.Runs[0].WALSyncs == nil || len(res.Floor) != 1 {
		t.Fatalf("Measure: %d runs (syncs %v), %d floor runs; want one of each, the run with syncs", len(res.Runs), res.Runs[0].WALSyncs, len(res.Floor))
	}
	if s := res.Floor[0].WALSyncs; s != nil {
		t.Errorf("the floor's WAL syncs a request = %v, read from the server's metrics", *s)
	}
}

// TestMeasureWithoutWarmup: a negative Warmup means none, through Measure
// as through Drive (both apply the defaults, which once turned it into the
// default 5 s).
func TestMeasureWithoutWarmup(t *testing.T) {
	url := serve(t, NewFloor().Handler)
	opts := RunOptions{Target: url, Rate: 200, Duration: 200 * time.Millisecond, Warmup: -1, Mix: Mix{{Name: "recommend", Weight: 1}}}
	res, err := Measure(context.Background(), testWorkload(), Options{RunOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if w := res.Runs[0].WarmupS; w != 0 {
		t.Errorf("warm-up %v s, want none", w)
	}
	if w := res.Config.Warmup; w != "0s" {
		t.Errorf("configuration's warm-up %q, want 0s", w)
	}
}

// Even arrivals are exactly 1/rate apart; Poisson ones are random, the same
// for every run, with the mean gap 1/rate and the spread of exponential gaps.
func TestArrivals(t *testing.T) {
	even := newArrivals(2000, false)
	for i := range 5 {
		if got, want := even(), time.Duration(i)*500*time.Microsecond; got != want {
			t.Fatalf("even arrival %d at %v, want %v", i, got, want)
		}
	}
	const n = 200_000
	a, b := newArrivals(2000, true), newArrivals(2000, true)
	var sum, sumSq float64
	short := 0
	prev := a()
	b()
	for i := range n {
		at := a()
		if at2 := b(); at2 != at {
			t.Fatalf("arrival %d at %v in one schedule and %v in another: the seed must make them alike", i, at, at2)
		}
		gap := float64(at - prev)
		if gap < 0 {
			t.Fatalf("arrival %d at %v before the one before it at %v", i, at, prev)
		}
		sum += gap
		sumSq += gap * gap
		if gap < 50_000 { // a tenth of the mean
			short++
		}
		prev = at
	}
	mean := sum / n
	cv := math.Sqrt(sumSq/n-mean*mean) / mean
	if mean < 495_000 || mean > 505_000 || cv < 0.97 || cv > 1.03 {
		t.Errorf("Poisson gaps: mean %.0f ns, coefficient of variation %.3f; want 500,000 and 1 within 1%% and 3%%", mean, cv)
	}
	// An exponential gap is under a tenth of its mean with probability
	// 1-exp(-0.1), about 9.5%.
	if f := float64(short) / n; f < 0.09 || f > 0.10 {
		t.Errorf("Poisson gaps under a tenth of the mean: %.3f, want about 0.095", f)
	}
}

// A Poisson run offers the asked rate on average and says how it spaced its
// requests.
func TestPoissonRun(t *testing.T) {
	url := serve(t, NewFloor().Handler)
	const rate = 1000
	run, err := Drive(context.Background(), testWorkload(), RunOptions{
		Target: url, Rate: rate, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond, Poisson: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.Arrivals != "poisson" || run.Mode != "open" {
		t.Errorf("run's mode %q, arrivals %q; want open and poisson", run.Mode, run.Arrivals)
	}
	if !run.Valid {
		t.Skipf("this machine could not offer %d req/s now: %v", rate, run.Invalid)
	}
	// The schedule is fixed by its seed: count what it holds in the window
	// (2,024 requests).
	next, sent := newArrivals(rate, true), 0
	for at := next(); at < 2200*time.Millisecond; at = next() {
		if at >= 200*time.Millisecond {
			sent++
		}
	}
	// Even arrivals would offer 2,000 here.
	if got := run.Achieved * 2; math.Abs(got-float64(sent)) > 2 {
		t.Errorf("sent %.0f requests in the window, want the schedule's %d", got, sent)
	}
}

// A result names how its load was sent.
func TestSummaryNamesArrivals(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Mode: "open"}, ", open loop, "},
		{Config{Mode: "open", Arrivals: "poisson"}, ", open loop, Poisson arrivals, "},
		{Config{Mode: "closed"}, ", closed loop, "},
	} {
		var b strings.Builder
		if err := WriteSummary(&b, &Result{Config: c.cfg}); err != nil {
			t.Fatal(err)
		}
		if line, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(line, c.want) {
			t.Errorf("summary of %+v begins %q, want it to hold %q", c.cfg, line, c.want)
		}
	}
}
