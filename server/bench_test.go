package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/synth"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/service"
)

// The benchmark world's size: TAILOR_BENCH_ITEMS and TAILOR_BENCH_USERS,
// 100,000 each by default.
var (
	benchItems = envInt("TAILOR_BENCH_ITEMS", 100000)
	benchUsers = envInt("TAILOR_BENCH_USERS", 100000)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchWorld is a Server loaded with a generated world.
type benchWorld struct {
	srv   *Server
	world *synth.World
	now   time.Time
}

// loadWorld generates a world and loads it in process through the same
// Ingest path the API uses, in batches of 1,000 events. Each mod, if any,
// changes the service's options first.
func loadWorld(b *testing.B, cacheBytes int64, mods ...func(*service.Options)) *benchWorld {
	b.Helper()
	w := synth.New(synth.Options{Items: benchItems, Users: benchUsers, Seed: 1})
	now := w.Start.AddDate(0, 0, w.Days)
	opts := Options{Service: service.Options{
		CacheBytes: cacheBytes,
		Now:        func() time.Time { return now },
		Logger:     log.New(io.Discard, "", 0),
		Storage:    service.StorageOptions{MinFreeBytes: -1},
		// A decision log that the warm-up of every run fills, so that the
		// runs measure its steady state: a full log reuses its slots' memory.
		Learning: service.LearningOptions{Options: learn.Options{MaxDecisions: benchUsersPerRun}},
	}}
	for _, mod := range mods {
		mod(&opts.Service)
	}
	srv, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	items := make([]index.Item, 0, 5000)
	flushItems := func() {
		if err := srv.UpsertItems(items); err != nil {
			b.Fatal(err)
		}
		items = items[:0]
	}
	for _, it := range w.Items {
		avail := it.Available
		items = append(items, index.Item{ID: it.ID, Title: it.Title, Category: it.Category, Brand: it.Brand, Tags: it.Tags, Price: it.Price, Available: &avail})
		if len(items) == cap(items) {
			flushItems()
		}
	}
	flushItems()
	events := make([]features.Event, 0, 1000)
	flush := func() {
		if _, err := srv.svc.Ingest(events); err != nil {
			b.Fatal(err)
		}
		events = events[:0]
	}
	err = w.EachEvent(func(e synth.Event) error {
		events = append(events, toEvent(e))
		if len(events) == cap(events) {
			flush()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	flush()
	return &benchWorld{srv: srv, world: w, now: now}
}

// inProcess returns the world's handler and a request context to call it
// with in process (see serveOK).
func (bw *benchWorld) inProcess() (fasthttp.RequestHandler, *fasthttp.RequestCtx) {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(new(fasthttp.Request), nil, nil)
	return bw.srv.Handler(), ctx
}

func toEvent(e synth.Event) features.Event {
	t, _ := features.ParseEventType(e.Type)
	return features.Event{ID: e.ID, User: e.User, Type: t, Item: e.Item, Query: e.Query, Amount: e.Amount, TS: e.TS, Session: e.Session}
}

// latencies records per-call durations and reports their percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(at(0.999), "p99.9-ns")
}

// plainRecommend is the body of a recommend of 10 items for the u-th of the
// users a benchmark cycles through.
func (bw *benchWorld) plainRecommend(u int) string {
	return fmt.Sprintf(`{"user":%q,"n":10}`, bw.world.UserID(u*97%benchUsers))
}

// benchUsersPerRun is how many users a recommend benchmark cycles through.
const benchUsersPerRun = 1000

// benchRecommend runs the recommend handler in process (decode, profile, rank,
// encode) for users cycling through a set of `users`.
func benchRecommend(b *testing.B, bw *benchWorld, users int, body func(u int) string) {
	h, ctx := bw.inProcess()
	bodies := make([][]byte, users)
	for u := range bodies {
		bodies[u] = []byte(body(u))
	}
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/v1/recommend")
	// Warm the cache, the pools and the decision log.
	for u := 0; u < users; u++ {
		ctx.Request.SetBody(bodies[u])
		h(ctx)
	}
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Request.SetBody(bodies[i%users])
		ctx.Response.Reset()
		start := time.Now()
		h(ctx)
		lat = append(lat, time.Since(start))
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("recommend = %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	b.StopTimer()
	lat.report(b)
}

func BenchmarkRecommend(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		bw := loadWorld(b, 1<<30)
		benchRecommend(b, bw, benchUsersPerRun, bw.plainRecommend)
	})
	b.Run("pebble", func(b *testing.B) {
		// A cache too small to hold a profile: every read goes to Pebble.
		bw := loadWorld(b, 1)
		benchRecommend(b, bw, benchUsersPerRun, bw.plainRecommend)
	})
	b.Run("context", func(b *testing.B) {
		bw := loadWorld(b, 1<<30)
		benchRecommend(b, bw, benchUsersPerRun, func(u int) string {
			return fmt.Sprintf(`{"user":%q,"n":10,"context":{"item":%q}}`,
				bw.world.UserID(u*97%benchUsers), bw.world.Items[u*31%len(bw.world.Items)].ID)
		})
	})
}

// BenchmarkRecommendDepth times recommend as BenchmarkRecommend/cached does,
// at the ranker's default depths and at shallower ones, each set through an
// experiment that takes every user: what fewer candidates save (README,
// "What ranking costs"). The settings take turns over three rounds
// (default, default#01, default#02, ...), so that drift over the run, such
// as the load's compactions or a neighbour's work, falls on all of them.
func BenchmarkRecommendDepth(b *testing.B) {
	bw := loadWorld(b, 1<<30)
	h, ctx := bw.inProcess()
	depths := []struct{ name, ranker string }{
		{"default", `{}`},
		{"per_source=20", `{"per_source":20}`},
		{"per_source=15", `{"per_source":15}`},
		{"recent_items=10", `{"recent_items":10}`},
		{"top_categories=1", `{"top_categories":1}`},
		{"session_sample=5", `{"session_sample":5}`},
		{"similar_sessions=50", `{"similar_sessions":50}`},
		{"all_five", `{"per_source":15,"recent_items":10,"top_categories":1,"session_sample":5,"similar_sessions":50}`},
	}
	for range 3 {
		for _, d := range depths {
			serveOK(b, h, ctx, "PUT", "/v1/experiments",
				[]byte(`{"experiments":[{"id":"depth","arms":[{"name":"a","ranker":`+d.ranker+`}]}]}`))
			b.Run(d.name, func(b *testing.B) {
				benchRecommend(b, bw, benchUsersPerRun, bw.plainRecommend)
			})
		}
	}
}

// BenchmarkIngest posts batches of 100 new events for random users through the
// events handler; events/s is the figure to read.
func BenchmarkIngest(b *testing.B) {
	bw := loadWorld(b, 1<<30)
	h := bw.srv.Handler()
	const batch = 100
	ts := bw.now.UnixMilli()
	bodies := make([][]byte, 256)
	for i := range bodies {
		body := []byte("[")
		for j := 0; j < batch; j++ {
			if j > 0 {
				body = append(body, ',')
			}
			n := i*batch + j
			body = fmt.Appendf(body, `{"id":"bench-%%d-%d","user":%q,"type":"view","item":%q,"ts":%d}`,
				n, bw.world.UserID(n*7919%benchUsers), bw.world.Items[n*104729%len(bw.world.Items)].ID, ts)
		}
		bodies[i] = append(body, ']')
	}
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.SetParallelism(2) // eight concurrent clients on two cores
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI("/v1/events")
		ctx.Init(&req, nil, nil)
		var buf []byte
		var local latencies
		for i := 0; pb.Next(); i++ {
			// Fresh event ids every time, so nothing is a duplicate.
			buf = appendIDs(buf[:0], bodies[i%len(bodies)], strconv.FormatInt(time.Now().UnixNano(), 36))
			ctx.Request.SetBody(buf)
			ctx.Response.Reset()
			start := time.Now()
			h(&ctx)
			local = append(local, time.Since(start))
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("events = %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				return
			}
		}
		benchMu.Lock()
		lat = append(lat, local...)
		benchMu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	// The process's CPU time on every thread (Go code, runtime, Pebble's
	// syncs and compactions): the wall time is bound by the log's syncs.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*batch), "cpu-ns/event")
	lat.report(b)
}

// BenchmarkEventsAfterRecommend times the events a visitor sends after a
// recommendation (the impression of the list and a click on its first item)
// with an experiment of two arms running, so that every request moves the
// arms' counters; each iteration's recommend is not timed.
func BenchmarkEventsAfterRecommend(b *testing.B) {
	bw := loadWorld(b, 1<<30)
	h, ctx := bw.inProcess()
	do := func(method, uri string, body []byte) { serveOK(b, h, ctx, method, uri, body) }
	do("PUT", "/v1/experiments", []byte(`{"experiments":[{"id":"e","traffic":1,"arms":[`+
		`{"name":"a","ranker":{"model":false}},{"name":"b","ranker":{"per_source":60}}]}]}`))
	var rec struct {
		RecID string `json:"rec_id"`
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	var body []byte
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		user := bw.world.UserID(i * 97 % benchUsers)
		do("POST", "/v1/recommend", fmt.Appendf(body[:0], `{"user":%q,"n":10}`, user))
		if err := json.Unmarshal(ctx.Response.Body(), &rec); err != nil || len(rec.Items) == 0 {
			b.Fatalf("recommend: %v %s", err, ctx.Response.Body())
		}
		body = fmt.Appendf(body[:0], `[{"user":%q,"type":"impression","rec_id":%q,"items":[%q]},`+
			`{"id":"c%d","user":%q,"type":"click","item":%q,"rec_id":%q}]`,
			user, rec.RecID, rec.Items[0].ID, i, user, rec.Items[0].ID, rec.RecID)
		b.StartTimer()
		start := time.Now()
		do("POST", "/v1/events", body)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
}

// appendIDs copies body replacing every "%d" with tag.
func appendIDs(dst, body []byte, tag string) []byte {
	for i := 0; i < len(body); i++ {
		if body[i] == '%' && i+1 < len(body) && body[i+1] == 'd' {
			dst = append(dst, tag...)
			i++
			continue
		}
		dst = append(dst, body[i])
	}
	return dst
}

var benchMu sync.Mutex
