package bench

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestHeapInUse(t *testing.T) {
	text := "# HELP go_memstats_heap_inuse_bytes ...\n# TYPE go_memstats_heap_inuse_bytes gauge\n" +
		"go_memstats_heap_inuse_bytes_other 7\ngo_memstats_heap_inuse_bytes 1.2345e+07\ngo_goroutines 9\n"
	if v, ok := heapInUse([]byte(text)); !ok || v != 12345000 {
		t.Errorf("heapInUse = %d, %v; want 12345000", v, ok)
	}
	if _, ok := heapInUse([]byte("go_goroutines 9\n")); ok {
		t.Error("heapInUse found a heap in an exposition without one")
	}
}

// TestMemoryGrowth: a resident memory that grows 2 MiB a minute in the
// second half of the window, whatever it did before, has a slope of 2
// MiB/min; a heap whose collections leave 1 MiB more each minute, with a
// sawtooth of 50 MiB between them, grows 1 MiB/min.
func TestMemoryGrowth(t *testing.T) {
	var samples []MemorySample
	for s := 0.0; s <= 630; s += 5 {
		rss := int64(100<<20) + int64(s/60*2*(1<<20))
		if s < 330 {
			rss = 10 << 20 // warm-up and first half: left out
		}
		heap := int64(200<<20) + int64(s/60)*(1<<20) + int64(int(s)%60)*(50<<20)/60
		samples = append(samples, MemorySample{T: s, RSS: rss, Heap: heap})
	}
	g, ok := memoryGrowth(samples, 30, 630, rssSeries)
	if !ok || math.Abs(g-2) > 1e-6 {
		t.Errorf("memoryGrowth(rss) = %v, %v; want 2 MiB/min", g, ok)
	}
	if g, ok := memoryGrowth(samples, 30, 630, heapSeries); !ok || math.Abs(g-1) > 0.01 {
		t.Errorf("memoryGrowth(heap) = %v, %v; want 1 MiB/min", g, ok)
	}
	if _, ok := memoryGrowth(samples, 30, 630, liveSeries); ok {
		t.Error("a live heap's slope from samples that have none")
	}
	if m, ok := memoryMax(samples, 30, 630, rssSeries); !ok || math.Abs(m-121) > 1e-6 {
		t.Errorf("memoryMax = %v, %v; want 121 MiB", m, ok)
	}
	if _, ok := memoryGrowth(samples[:1], 0, 600, rssSeries); ok {
		t.Error("a slope from one sample")
	}
}

// TestHeapGrowthReadsTheLiveHeap: under a memory limit, with GOGC raised,
// the collector may run less than once a minute. A heap whose live part is
// level, collected every 100 s with a sawtooth of 400 MiB between, grows
// nothing: the live heap says so, while the lows of the minutes without a
// collection sit anywhere on the sawtooth. A run without the live heap
// falls back to those lows.
func TestHeapGrowthReadsTheLiveHeap(t *testing.T) {
	run := &Run{WarmupS: 30, DurationS: 600}
	for s := 0.0; s <= 630; s += 5 {
		since := math.Mod(s, 100)
		run.Memory = append(run.Memory, MemorySample{T: s, RSS: 1 << 30,
			Heap: int64(500<<20) + int64(since*4)<<20, Live: 500 << 20})
	}
	if g, ok := heapGrowth(run); !ok || math.Abs(g) > 1e-6 {
		t.Errorf("heapGrowth = %v, %v; want 0 MiB/min from the level live heap", g, ok)
	}
	for i := range run.Memory {
		run.Memory[i].Live = 0
	}
	lows, ok := heapGrowth(run)
	if !ok || math.Abs(lows) < 1 {
		t.Errorf("heapGrowth without the live heap = %v, %v; want the minutes' lows, which wander", lows, ok)
	}
}

// TestDriveSamplesMemory: with the server's process id (this test's own) a
// run samples its resident memory, and the heap from its /metrics; the
// summary then has memory figures.
func TestDriveSamplesMemory(t *testing.T) {
	floor := NewFloor().Handler
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/metrics" {
			ctx.SetBodyString("go_memstats_heap_inuse_bytes 4.194304e+06\ngo_gc_heap_live_bytes 2.097152e+06\n")
			return
		}
		floor(ctx)
	})
	opts := RunOptions{Target: url, Rate: 200, Duration: 300 * time.Millisecond, Warmup: -1,
		Mix: Mix{{Name: "recommend", Weight: 1}}, ServerPID: os.Getpid(), MemoryEvery: 20 * time.Millisecond}
	run, err := Drive(context.Background(), testWorkload(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Memory) < 3 {
		t.Fatalf("%d memory samples, want one every 20 ms of 300", len(run.Memory))
	}
	for _, m := range run.Memory {
		if m.RSS <= 0 || m.Heap != 4<<20 || m.Live != 2<<20 {
			t.Fatalf("memory sample %+v: want a resident size, and the 4 MiB heap and 2 MiB live heap /metrics says", m)
		}
	}
	r := &Result{Runs: []*Run{run}}
	r.summarize()
	// (The heap's growth needs two minutes in the window's second half.)
	for _, name := range []string{"server rss max", "server rss growth", "go heap max", "go live heap max"} {
		if f, ok := r.Figure("all", name); !ok || f.Runs != 1 {
			t.Errorf("figure %q: %+v, %v; want one run's", name, f, ok)
		}
	}
	var page strings.Builder
	if err := WriteReport(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "server memory over time") {
		t.Error("the report has no memory plot")
	}
}
