package bench

import (
	"context"
	"math"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// TestSlowestBetween works out by hand which bucket holds the slowest
// observation made between two readings of a histogram.
func TestSlowestBetween(t *testing.T) {
	inf := math.Inf(1)
	before := []bucket{{0.001, 10}, {0.01, 12}, {0.1, 12}, {inf, 13}}
	cases := []struct {
		name  string
		after []bucket
		want  float64
		ok    bool
	}{
		// 5 new syncs: 4 under 1 ms, 1 between 10 and 100 ms.
		{"one slow sync", []bucket{{0.001, 14}, {0.01, 16}, {0.1, 17}, {inf, 18}}, 0.1, true},
		// 3 new syncs, all under 1 ms.
		{"all fast", []bucket{{0.001, 13}, {0.01, 15}, {0.1, 15}, {inf, 16}}, 0.001, true},
		// 2 new syncs, one past the last finite bound: counted as that bound.
		{"past the last bound", []bucket{{0.001, 11}, {0.01, 13}, {0.1, 13}, {inf, 15}}, 0.1, true},
		{"none between", before, 0, false},
		{"other buckets", []bucket{{0.002, 11}, {0.01, 13}, {0.1, 13}, {inf, 15}}, 0, false},
		{"fewer buckets", []bucket{{0.001, 11}, {inf, 15}}, 0, false},
	}
	for _, c := range cases {
		got, ok := slowestBetween(before, c.after)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	if _, ok := slowestBetween(nil, nil); ok {
		t.Error("no histogram: want no figure")
	}
}

// TestDriveReadsServerPauses: a server whose metrics (a real Prometheus
// registry) record one collection, one flush, two compactions and one WAL
// sync of 150 ms in the middle of the measured window, among fast syncs,
// shows one GC cycle, one flush, two compactions and a slowest sync of at
// most 200 ms, the bound of the bucket holding it, in the run, its figures
// and a sweep's step; a server whose metrics lack them shows none.
func TestDriveReadsServerPauses(t *testing.T) {
	reg := prometheus.NewRegistry()
	gc := prometheus.NewSummary(prometheus.SummaryOpts{Name: gcCyclesMetric, Help: "GC pauses."})
	syncs := prometheus.NewHistogram(prometheus.HistogramOpts{Name: walSyncMetric, Help: "WAL syncs.",
		Buckets: []float64{0.0005, 0.001, 0.005, 0.02, 0.2, 1}})
	flushes := prometheus.NewCounter(prometheus.CounterOpts{Name: flushesMetric, Help: "Flushes."})
	compactions := prometheus.NewCounter(prometheus.CounterOpts{Name: compactionsMetric, Help: "Compactions."})
	flushes.Add(7) // before the window: not the run's
	compactions.Add(30)
	reg.MustRegister(gc, syncs, flushes, compactions)
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	floor := NewFloor().Handler
	var served atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/metrics" {
			metrics(ctx)
			return
		}
		// 400 req/s for 1 s: the 200th request comes half way through.
		switch served.Add(1) {
		case 200:
			gc.Observe(0.0001)
			syncs.Observe(0.15)
			flushes.Inc()
			compactions.Add(2)
		default:
			syncs.Observe(0.0003)
		}
		floor(ctx)
	})
	opts := RunOptions{Target: url, Rate: 400, Duration: time.Second, Warmup: -1,
		Mix: Mix{{Name: "recommend", Weight: 1}}, ServerPID: os.Getpid()}
	run, err := Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if run.GCCycles == nil || *run.GCCycles != 1 {
		t.Errorf("GC cycles = %v, want 1", run.GCCycles)
	}
	if run.WALSyncMax == nil || *run.WALSyncMax != 200_000 {
		t.Errorf("slowest WAL sync = %v µs, want at most 200,000 (the bucket of the 150 ms sync)", run.WALSyncMax)
	}
	r := &Result{Runs: []*Run{run}}
	r.summarize()
	if f, ok := r.Figure("all", "server wal sync max"); !ok || f.Median != 200_000 {
		t.Errorf("figure: %+v, %v; want the run's 200,000 µs", f, ok)
	}
	if f, ok := r.Figure("all", "server gc cycles"); !ok || f.Median != 1 {
		t.Errorf("figure: %+v, %v; want the run's 1", f, ok)
	}
	if run.Flushes == nil || *run.Flushes != 1 || run.Compactions == nil || *run.Compactions != 2 {
		t.Errorf("flushes %v, compactions %v; want 1 and 2", run.Flushes, run.Compactions)
	}
	if f, ok := r.Figure("all", "server compactions"); !ok || f.Median != 2 {
		t.Errorf("figure: %+v, %v; want the run's 2", f, ok)
	}
	step := judge(r, 400, &Sweep{SLO: 5000})
	if want := "GC cycles per run 1; flushes per run 1; compactions per run 2; slowest WAL sync per run up to 200ms"; step.Pauses() != want {
		t.Errorf("step pauses %q, want %q", step.Pauses(), want)
	}

	plain := serve(t, floor)
	opts.Target, opts.Duration = plain, 200*time.Millisecond
	run, err = Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if run.GCCycles != nil || run.WALSyncMax != nil || run.Flushes != nil || run.Compactions != nil {
		t.Errorf("a server without the metrics: GC cycles %v, slowest sync %v, flushes %v, compactions %v; want none",
			run.GCCycles, run.WALSyncMax, run.Flushes, run.Compactions)
	}
}
