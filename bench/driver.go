package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// RunOptions configure one run of load. Zero fields take their defaults.
type RunOptions struct {
	// Target is the server's base URL, http://HOST:PORT. Required.
	Target string
	// Rate is the arrival rate, in requests per second over all endpoints.
	// Default 1,000.
	Rate float64
	// Duration is the measured window. Default 30 s.
	Duration time.Duration
	// Warmup is sent at the same rate before the measured window and not
	// measured. Default 5 s; negative for none.
	Warmup time.Duration
	// Mix splits the requests between endpoints. Default DefaultMix.
	Mix Mix
	// Conns bounds the concurrent requests, one connection each: the open
	// loop's senders, or the closed loop's clients. Default 256.
	Conns int
	// Timeout bounds one request, from its actual send. Default 5 s.
	Timeout time.Duration
	// Token, if set, is sent as a bearer token with every request, for a
	// server that checks tokens (--auth): it needs the recommend and ingest
	// scopes.
	Token string
	// Closed selects a closed loop: Conns clients, each sending its share of
	// the rate but never before its previous answer, with latency measured
	// from the actual send. It exists to show what an open loop measures
	// that a closed loop hides; its percentiles understate stalls.
	Closed bool
	// Poisson spaces the open loop's requests by random intervals of mean
	// 1/Rate (exponential, from a fixed seed, so two runs send alike)
	// rather than exactly 1/Rate apart: the bursts that many independent
	// users make, and no lock-step with a sampler that ticks at a rate
	// dividing evenly into Rate, such as the kernel's split of CPU time
	// between user and system. A closed loop ignores it.
	Poisson bool
	// Tolerance is how far the offered rate may be from Rate, as a fraction,
	// before the run is invalid. Default 0.02.
	Tolerance float64
	// WaitIdle, if positive, makes the run first wait (up to two minutes)
	// until the machine's CPUs have been at least this idle, as a fraction,
	// for two seconds: on a shared machine, a run then starts between other
	// people's builds rather than during one.
	WaitIdle float64
	// ServerPID, if positive, is the server's process id: its CPU time over
	// the measured window, per request, goes into the result (Linux only).
	ServerPID int
	// MemoryEvery is how often, with ServerPID, the server's resident memory
	// and Go heap (from MetricsURL) are sampled over the run, so that a long
	// run shows whether they grow. Default 5 s.
	MemoryEvery time.Duration
	// MetricsURL is where the server's Prometheus metrics are read for its
	// Go heap. Default Target + "/metrics" (a server with --admin-addr
	// serves them on its admin listener).
	MetricsURL string
	// Progress, if not nil, receives a progress line every second.
	Progress io.Writer
}

func (o *RunOptions) setDefaults() {
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 5 * time.Second
	}
	if len(o.Mix) == 0 {
		o.Mix, _ = ParseMix(DefaultMix)
	}
	if o.Conns <= 0 {
		o.Conns = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 0.02
	}
	if o.MemoryEvery <= 0 {
		o.MemoryEvery = 5 * time.Second
	}
	if o.MetricsURL == "" {
		o.MetricsURL = o.Target + "/metrics"
	}
}

// warmup is the warm-up's length: Warmup, none when negative. Negative stays
// negative through setDefaults, which Measure and Drive both apply.
func (o *RunOptions) warmup() time.Duration { return max(o.Warmup, 0) }

// loop returns the run's mode ("open" or "closed") and its arrivals
// ("poisson", or empty for even ones and for a closed loop), as Run and
// Config record them.
func (o *RunOptions) loop() (mode, arrivals string) {
	switch {
	case o.Closed:
		return "closed", ""
	case o.Poisson:
		return "open", "poisson"
	}
	return "open", ""
}

// Run is the outcome of one run of load against one target.
type Run struct {
	Target  string    `json:"target"`
	Started time.Time `json:"started"`
	Mode    string    `json:"mode"` // open or closed
	// Arrivals is "poisson" for an open loop with RunOptions.Poisson, and
	// empty for one that spaces its requests evenly (or a closed loop).
	Arrivals  string  `json:"arrivals,omitempty"`
	Rate      float64 `json:"rate"` // asked, requests per second
	WarmupS   float64 `json:"warmup_s"`
	DurationS float64 `json:"duration_s"`
	// IntervalS is the length of the time series' intervals: 1 s, or 0.1 s
	// for runs shorter than 10 s.
	IntervalS float64 `json:"interval_s"`
	// Achieved is the rate offered during the measured window: requests
	// actually sent in it (answered or not) per second.
	Achieved float64  `json:"achieved"`
	Valid    bool     `json:"valid"`
	Invalid  []string `json:"invalid,omitempty"`
	// ServerCPU and DriverCPU are the CPU time of the server process (if
	// known) and of this process over the measured window, per request sent
	// in it, in microseconds.
	ServerCPU float64 `json:"server_cpu_us_per_req,omitempty"`
	DriverCPU float64 `json:"driver_cpu_us_per_req"`
	// WALSyncs is how many syncs of its write-ahead log the server made
	// over the measured window, per request sent in it, when the server's
	// process id is known and its metrics (RunOptions.MetricsURL) count
	// them (tailor_pebble_wal_fsync_seconds_count): how many writes each
	// sync carried, group commit at work.
	WALSyncs *float64 `json:"server_wal_syncs_per_req,omitempty"`
	// GCCycles is how many collections the server's Go runtime ran over
	// the measured window (go_gc_duration_seconds), and WALSyncMax how long
	// the slowest sync of its write-ahead log took, at most, in
	// microseconds: the upper bound of the histogram bucket that holds it
	// (tailor_pebble_wal_fsync_seconds). Both are known when the server's
	// process id is and its metrics have them; they are the pauses that
	// most often make a run's tail, a sync that stalls on the disk holding
	// every write that waits for it.
	GCCycles   *float64 `json:"server_gc_cycles,omitempty"`
	WALSyncMax *float64 `json:"server_wal_sync_max_us,omitempty"`
	// Flushes and Compactions are how many memtable flushes and
	// compactions Pebble finished over the measured window
	// (tailor_pebble_flushes_total, tailor_pebble_compactions_total), when
	// the server's process id is known and its metrics have them: the
	// background work that shares the serving core and the disk.
	Flushes     *float64 `json:"server_flushes,omitempty"`
	Compactions *float64 `json:"server_compactions,omitempty"`
	// OtherCPU is the CPU used on the machine during the measured window
	// by everything but the server and the driver, in cores: other
	// processes (the noise of a shared machine), and kernel work charged to
	// no process, such as part of the loopback network's.
	OtherCPU float64 `json:"other_cpu_cores"`
	// IdleBefore is the idle fraction of the machine's CPUs just before the
	// run, if the run waited for it (RunOptions.WaitIdle).
	IdleBefore float64        `json:"idle_before,omitempty"`
	Endpoints  []*EndpointRun `json:"endpoints"`
	// Memory is the server's memory over the run, sampled every
	// RunOptions.MemoryEvery when its process id is known.
	Memory []MemorySample `json:"memory,omitempty"`
}

// window returns the measured window, in seconds since the run's start.
func (r *Run) window() (from, to float64) { return r.WarmupS, r.WarmupS + r.DurationS }

// EndpointRun is what one endpoint saw in a run.
type EndpointRun struct {
	Name     string  `json:"name"`
	Path     string  `json:"path"`
	Asked    float64 `json:"asked"`    // requests per second
	Achieved float64 `json:"achieved"` // requests per second, offered in the window
	// Requests counts the requests intended in the measured window; OK those
	// answered with a 2xx status. Status counts answers by HTTP status and
	// Errors failures by kind, with a sample of each kind's message or body.
	Requests     int64             `json:"requests"`
	OK           int64             `json:"ok"`
	Status       map[string]int64  `json:"status"`
	Errors       map[string]int64  `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Latency runs from each request's intended send time to its answer;
	// Service from its actual send.
	Latency Percentiles  `json:"latency"`
	Service Percentiles  `json:"service"`
	Curve   []CurvePoint `json:"curve"`
	// Series has one point per interval (Run.IntervalS) of intended send
	// time, warm-up included.
	Series []SeriesPoint `json:"series"`
}

// SeriesPoint is one interval of an endpoint's time series: the requests
// intended in it, answered (2xx) or failed, and their p99 latency.
type SeriesPoint struct {
	T      float64 `json:"t_s"` // start of the interval, seconds since the run started
	OK     int64   `json:"ok"`
	Errors int64   `json:"errors"`
	P99    float64 `json:"p99_us"`
}

// Errors returns the number of failed requests in the measured window.
func (e *EndpointRun) errorCount() int64 {
	var n int64
	for _, c := range e.Errors {
		n += c
	}
	return n
}

// Drive runs load against opts.Target with the bodies of wl and returns what
// it measured. It returns an error only if the run could not start; a run
// cut short by ctx is returned, marked invalid.
func Drive(ctx context.Context, wl Workload, opts RunOptions) (*Run, error) {
	opts.setDefaults()
	addr, isTLS, err := parseTarget(opts.Target)
	if err != nil {
		return nil, err
	}
	d := &driver{
		opts:  opts,
		from:  opts.warmup(),
		to:    opts.warmup() + opts.Duration,
		order: opts.Mix.order(),
		client: &fasthttp.HostClient{
			Addr:                          addr,
			IsTLS:                         isTLS,
			Name:                          "tailor-bench",
			MaxConns:                      opts.Conns,
			MaxIdleConnDuration:           time.Minute,
			DisableHeaderNamesNormalizing: true,
		},
	}
	for i, m := range opts.Mix {
		ep, ok := endpointByName(m.Name)
		if !ok {
			return nil, fmt.Errorf("bench: unknown endpoint %q", m.Name)
		}
		b := wl[m.Name]
		if b == nil || b.Len() == 0 {
			return nil, fmt.Errorf("bench: no request bodies for %s", m.Name)
		}
		d.recs = append(d.recs, &recorder{
			ep: ep, uri: strings.TrimSuffix(opts.Target, "/") + ep.path, bodies: b, share: opts.Mix.share(i),
			latency: newHistogram(), service: newHistogram(),
			status: map[int]int64{}, errors: map[string]int64{}, samples: map[string]string{},
		})
	}
	d.interval = time.Second
	if d.to < 10*time.Second {
		d.interval = 100 * time.Millisecond
	}
	mode, arrivals := opts.loop()
	run := &Run{Target: opts.Target, Started: time.Now().UTC(), Mode: mode, Arrivals: arrivals, Rate: opts.Rate,
		WarmupS: opts.warmup().Seconds(), DurationS: opts.Duration.Seconds(), IntervalS: d.interval.Seconds()}

	if opts.WaitIdle > 0 {
		if run.IdleBefore, err = WaitIdle(ctx, opts.WaitIdle, 2*time.Minute, opts.Progress); err != nil && ctx.Err() == nil {
			return nil, err
		}
		run.Started = time.Now().UTC()
	}
	d.tty = opts.Progress != nil && isTerminal(opts.Progress)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.base = time.Now()
	d.nonce = uint64(d.base.UnixNano())
	var wg sync.WaitGroup
	cpu := make(chan [2]cpuSample, 1)
	go d.watch(ctx, cpu)
	mem := d.sampleMemory(ctx)
	if opts.Closed {
		for w := range opts.Conns {
			wg.Go(func() { d.closedLoop(ctx, w) })
		}
	} else {
		jobs := make(chan job, min(max(1024, int(opts.Rate)), 1<<16))
		for range opts.Conns {
			wg.Go(func() {
				var ws workerState
				for j := range jobs {
					d.send(&ws, j)
				}
			})
		}
		go d.dispatch(ctx, jobs)
	}
	wg.Wait()
	cancel()
	d.client.CloseIdleConnections()
	samples := <-cpu
	d.fill(run, samples)
	run.Memory = <-mem
	if d.interrupted.Load() {
		run.Valid = false
		run.Invalid = append(run.Invalid, "interrupted before the end of the measured window")
	}
	return run, nil
}

func parseTarget(target string) (addr string, isTLS bool, err error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("bench: target must be http://HOST:PORT, got %q", target)
	}
	addr = u.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return addr, u.Scheme == "https", nil
}

// driver is the state of one run.
type driver struct {
	opts     RunOptions
	client   *fasthttp.HostClient
	recs     []*recorder
	order    []int         // endpoint of request i is order[i%len(order)]
	base     time.Time     // time zero of the run; intended times count from it
	from, to time.Duration // the measured window of intended (and send) times
	nonce    uint64        // added to the send sequence to fill id placeholders
	interval time.Duration // of the time series
	seq      atomic.Uint64 // sends so far
	picks    atomic.Uint64 // the closed loop's requests so far

	inflight, failed atomic.Int64
	interrupted      atomic.Bool
	tty              bool // Progress is a terminal
}

type job struct {
	ep       int
	intended time.Duration
}

// workerState is one sender's reusable request, response and body buffer.
type workerState struct {
	req  fasthttp.Request
	resp fasthttp.Response
	buf  []byte
}

// lead is how long before its intended time a job is handed to a sender,
// which then sleeps until that time: the hand-off (waking a goroutine, and
// perhaps a thread) happens off the critical path.
const lead = time.Millisecond

// newArrivals returns what gives the open loop's intended send times in
// turn, from 0: i/rate for the i-th, or with poisson, the sum of i
// exponential draws of mean 1/rate from a fixed seed.
func newArrivals(rate float64, poisson bool) func() time.Duration {
	interval := float64(time.Second) / rate
	if !poisson {
		var i int64
		return func() time.Duration {
			t := time.Duration(float64(i) * interval)
			i++
			return t
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var at float64
	return func() time.Duration {
		t := time.Duration(at)
		at += rng.ExpFloat64() * interval
		return t
	}
}

// dispatch hands job i to the senders shortly before its intended time
// (newArrivals). Sleeps use preciseSleep, in slices of at most 20 ms so that
// dispatch notices ctx ending. A job that reaches a sender late (a sleep
// that woke late, every sender busy with slow answers) is sent at once and
// keeps its intended time, so the delay shows in its latency (and the
// service time shows it apart).
func (d *driver) dispatch(ctx context.Context, jobs chan<- job) {
	defer close(jobs)
	next := newArrivals(d.opts.Rate, d.opts.Poisson)
	for i := int64(0); ; i++ {
		intended := next()
		if intended >= d.to {
			return
		}
		for {
			if ctx.Err() != nil {
				d.interrupted.Store(true)
				return
			}
			wait := intended - lead - time.Since(d.base)
			if wait <= 0 {
				break
			}
			preciseSleep(min(wait, 20*time.Millisecond))
		}
		select {
		case jobs <- job{ep: d.order[i%int64(len(d.order))], intended: intended}:
		case <-ctx.Done():
			d.interrupted.Store(true)
			return
		}
	}
}

// send waits for a job's intended time and sends it.
func (d *driver) send(ws *workerState, j job) {
	if wait := j.intended - time.Since(d.base); wait > 0 {
		preciseSleep(wait)
	}
	d.do(ws, j.ep, j.intended)
}

// closedLoop is client w of a closed loop: it sends at its share of the
// rate, but never before the previous answer, and never catches up on sends
// a slow answer made it miss.
func (d *driver) closedLoop(ctx context.Context, w int) {
	var ws workerState
	every := time.Duration(float64(d.opts.Conns) * float64(time.Second) / d.opts.Rate)
	next := time.Duration(w) * every / time.Duration(d.opts.Conns)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for next < d.to {
		if wait := next - time.Since(d.base); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				d.interrupted.Store(true)
				return
			case <-timer.C:
			}
		}
		i := d.picks.Add(1) - 1
		d.do(&ws, d.order[i%uint64(len(d.order))], -1)
		next = max(next+every, time.Since(d.base))
	}
}

// do sends one request of endpoint ep intended at the given time (-1: at
// its actual send) and records the outcome.
func (d *driver) do(ws *workerState, ep int, intended time.Duration) {
	rec := d.recs[ep]
	k := rec.next.Add(1) - 1
	n := d.seq.Add(1)
	ws.buf = rec.bodies.fill(ws.buf, int(k%uint64(rec.bodies.Len())), d.nonce+n)
	req, resp := &ws.req, &ws.resp
	req.Reset()
	req.SetRequestURI(rec.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	for _, h := range rec.ep.header {
		req.Header.Set(h[0], h[1])
	}
	if d.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.opts.Token)
	}
	req.SetBodyRaw(ws.buf)
	d.inflight.Add(1)
	start := time.Now()
	sent := start.Sub(d.base)
	if intended < 0 {
		intended = sent
	}
	err := d.client.DoDeadline(req, resp, start.Add(d.opts.Timeout))
	done := time.Since(d.base)
	d.inflight.Add(-1)
	status := 0
	if err == nil {
		status = resp.StatusCode()
	}
	if !rec.record(d, intended, sent, done, status, err, resp.Body()) {
		d.failed.Add(1)
	}
}

// recorder accumulates one endpoint's outcomes.
type recorder struct {
	ep     endpoint
	uri    string
	bodies *Bodies
	share  float64
	next   atomic.Uint64 // bodies sent

	mu                        sync.Mutex
	latency, service          *hdr.Histogram
	status                    map[int]int64
	errors                    map[string]int64
	samples                   map[string]string
	requests, ok, sentInRange int64
	series                    []interval
}

type interval struct {
	ok, errors int64
	latency    *hdr.Histogram
}

// record adds one outcome and reports whether it was a success.
func (r *recorder) record(d *driver, intended, sent, done time.Duration, status int, err error, body []byte) bool {
	kind := ""
	switch {
	case err != nil:
		kind = errorKind(err)
	case status < 200 || status > 299:
		kind = "http_" + strconv.Itoa(status)
	}
	measured := intended >= d.from && intended < d.to
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent >= d.from && sent < d.to {
		r.sentInRange++
	}
	k := int(intended / d.interval)
	for len(r.series) <= k {
		r.series = append(r.series, interval{})
	}
	s := &r.series[k]
	if kind == "" {
		s.ok++
		if s.latency == nil {
			s.latency = newSecondHistogram()
		}
		record(s.latency, done-intended)
	} else {
		s.errors++
	}
	if !measured {
		return kind == ""
	}
	r.requests++
	if status != 0 {
		r.status[status]++
	}
	if kind == "" {
		r.ok++
		record(r.latency, done-intended)
		record(r.service, done-sent)
		return true
	}
	r.errors[kind]++
	if _, ok := r.samples[kind]; !ok {
		msg := string(body)
		if err != nil {
			msg = err.Error()
		}
		if len(msg) > 300 {
			msg = strings.ToValidUTF8(msg[:300], "")
		}
		r.samples[kind] = msg
	}
	return false
}

// errorKind names the kind of a failed request.
func errorKind(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
		return "conn_closed"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_conns"
	}
	return "other"
}

type cpuSample struct {
	server, driver, machine time.Duration
	ok                      bool
	walSyncs                float64 // the server's WAL syncs so far
	walOK                   bool    // its metrics had them
	pauses                  serverPauses
}

// watch samples CPU times at the edges of the measured window and writes
// the progress line; it sends the two samples when ctx ends.
func (d *driver) watch(ctx context.Context, out chan<- [2]cpuSample) {
	var samples [2]cpuSample
	defer func() { out <- samples }()
	sample := func() cpuSample {
		s := cpuSample{ok: true}
		var err error
		if s.driver, err = ProcessCPU(0); err != nil {
			s.ok = false
		}
		if s.machine, _, err = MachineCPU(); err != nil {
			s.ok = false
		}
		if d.opts.ServerPID > 0 {
			if s.server, err = ProcessCPU(d.opts.ServerPID); err != nil {
				s.ok = false
			}
			if m, ok := d.readMetrics(); ok {
				s.walSyncs, s.walOK = metricValue(m, "tailor_pebble_wal_fsync_seconds_count")
				s.pauses = readPauses(m)
			}
		}
		return s
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	edge := time.NewTimer(d.from)
	defer edge.Stop()
	stage := 0
	for {
		select {
		case <-ctx.Done():
			// The last answers can come before the window's end: sample
			// the end now if the timer has not.
			if stage == 1 {
				samples[1] = sample()
			}
			if d.tty {
				fmt.Fprintln(d.opts.Progress)
			}
			return
		case <-edge.C:
			if stage < 2 {
				samples[stage] = sample()
			}
			if stage++; stage == 1 {
				edge.Reset(d.to - time.Since(d.base))
			}
		case <-tick.C:
			if d.opts.Progress != nil {
				d.progress()
			}
		}
	}
}

// progress writes one status line.
func (d *driver) progress() {
	now := time.Since(d.base)
	phase := "measuring"
	switch {
	case now < d.from:
		phase = "warm-up"
	case now >= d.to:
		phase = "draining"
	}
	line := fmt.Sprintf("%-9s %3.0fs/%.0fs  sent %s  in flight %d  errors %d  p99 last second:",
		phase, now.Seconds(), d.to.Seconds(), commas(int64(d.seq.Load())), d.inflight.Load(), d.failed.Load())
	for _, r := range d.recs {
		r.mu.Lock()
		h := newSecondHistogram()
		for k := int((now - time.Second) / d.interval); k >= 0 && k < int(now/d.interval) && k < len(r.series); k++ {
			if r.series[k].latency != nil {
				h.Merge(r.series[k].latency)
			}
		}
		r.mu.Unlock()
		p99 := "-"
		if h.TotalCount() > 0 {
			p99 = fmtUS(us(h.ValueAtQuantile(99)))
		}
		line += " " + r.ep.name + " " + p99
	}
	if d.tty {
		fmt.Fprintf(d.opts.Progress, "\r%-120s", line)
	} else if int(now/time.Second)%5 == 0 {
		fmt.Fprintln(d.opts.Progress, line)
	}
}

// fill writes the measurements into run.
func (d *driver) fill(run *Run, cpu [2]cpuSample) {
	window := d.opts.Duration.Seconds()
	var sent int64
	for _, r := range d.recs {
		r.mu.Lock()
		e := &EndpointRun{
			Name: r.ep.name, Path: r.ep.path,
			Asked:    d.opts.Rate * r.share,
			Achieved: float64(r.sentInRange) / window,
			Requests: r.requests, OK: r.ok,
			Status:  map[string]int64{},
			Latency: percentiles(r.latency), Service: percentiles(r.service),
			Curve: curve(r.latency, r.service),
		}
		for code, n := range r.status {
			e.Status[strconv.Itoa(code)] = n
		}
		if len(r.errors) > 0 {
			e.Errors, e.ErrorSamples = r.errors, r.samples
		}
		for k, s := range r.series {
			p := SeriesPoint{T: float64(k) * d.interval.Seconds(), OK: s.ok, Errors: s.errors}
			if s.latency != nil {
				p.P99 = us(s.latency.ValueAtQuantile(99))
			}
			e.Series = append(e.Series, p)
		}
		sent += r.sentInRange
		r.mu.Unlock()
		run.Endpoints = append(run.Endpoints, e)
	}
	run.Achieved = float64(sent) / window
	run.Valid = true
	switch {
	case run.Achieved < d.opts.Rate*(1-d.opts.Tolerance):
		run.Valid = false
		run.Invalid = append(run.Invalid, fmt.Sprintf("offered %.0f req/s of the %.0f asked (%.1f%%): the driver or the server could not keep up",
			run.Achieved, d.opts.Rate, 100*run.Achieved/d.opts.Rate))
	case run.Achieved > d.opts.Rate*(1+d.opts.Tolerance):
		// Requests due in the warm-up went out in the window: every
		// connection was busy waiting for slow answers, and the backlog
		// made the window's load heavier than asked.
		run.Valid = false
		run.Invalid = append(run.Invalid, fmt.Sprintf("offered %.0f req/s of the %.0f asked (%.1f%%): the driver fell behind (every connection waiting for answers) and caught up in the window",
			run.Achieved, d.opts.Rate, 100*run.Achieved/d.opts.Rate))
	}
	if cpu[0].ok && cpu[1].ok && sent > 0 {
		driver, server := cpu[1].driver-cpu[0].driver, cpu[1].server-cpu[0].server
		run.DriverCPU = us(int64(driver) / sent)
		if d.opts.ServerPID > 0 {
			run.ServerCPU = us(int64(server) / sent)
		}
		others := cpu[1].machine - cpu[0].machine - driver - server
		run.OtherCPU = math.Round(100*max(0, others.Seconds())/window) / 100
	}
	if cpu[0].walOK && cpu[1].walOK && sent > 0 {
		per := math.Round(1000*(cpu[1].walSyncs-cpu[0].walSyncs)/float64(sent)) / 1000
		run.WALSyncs = &per
	}
	before, after := &cpu[0].pauses, &cpu[1].pauses
	run.GCCycles = after.gcCycles.since(before.gcCycles)
	run.Flushes = after.flushes.since(before.flushes)
	run.Compactions = after.compactions.since(before.compactions)
	if le, ok := slowestBetween(before.walBuckets, after.walBuckets); ok {
		v := le * 1e6
		run.WALSyncMax = &v
	}
	slices.SortFunc(run.Endpoints, func(a, b *EndpointRun) int { return endpointRank(a.Name) - endpointRank(b.Name) })
}

func endpointRank(name string) int {
	for i, e := range endpoints {
		if e.name == name {
			return i
		}
	}
	return len(endpoints)
}
