package features

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// benchProfiles is how many profiles BenchmarkSegment scores:
// TAILOR_BENCH_PROFILES, 1,000,000 by default.
func benchProfiles() int {
	if n, err := strconv.Atoi(os.Getenv("TAILOR_BENCH_PROFILES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// typicalEvents returns n events of one shopper over ten days: searches,
// views, some carts and orders in sessions.
func typicalEvents(r *rand.Rand, n int, start int64) []Event {
	cats := [][]string{{"Sports", "Running", "Shoes"}, {"Home", "Kitchen", "Cookware"}, {"Baby", "Feeding", "Formula"}}
	evs := make([]Event, n)
	ts := start
	for i := range evs {
		ts += int64(r.IntN(600_000))
		c := cats[r.IntN(len(cats))]
		e := Event{User: "u", TS: ts, Session: fmt.Sprintf("s%d", i/8), Category: c, Brand: fmt.Sprintf("b%d", r.IntN(5)),
			Item: fmt.Sprintf("i%05d", r.IntN(20000)), Price: float64(5 + r.IntN(200))}
		switch k := r.IntN(20); {
		case k < 3:
			e.Type, e.Item, e.Query, e.Terms = Search, "", "running shoes", []string{"running", "shoe"}
		case k < 16:
			e.Type = View
		case k < 18:
			e.Type = Cart
		default:
			e.Type, e.Amount = Purchase, e.Price
		}
		evs[i] = e
	}
	return evs
}

// BenchmarkApplyEvent is the per-event work of ingestion on the profile: decode
// a cached profile of 40 earlier events, fold one event into it, and encode it.
func BenchmarkApplyEvent(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	lim := Limits{}
	lim.setDefaults()
	evs := typicalEvents(r, 40+256, 1_760_000_000_000)
	base := &Profile{User: "u"}
	for i := range evs[:40] {
		base.apply(&evs[i], &lim)
	}
	enc := string(AppendEncoded(nil, base))
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	p := new(Profile)
	for i := 0; i < b.N; i++ {
		if err := decodeInto(p, enc); err != nil {
			b.Fatal(err)
		}
		p.apply(&evs[40+i%256], &lim)
		buf = AppendEncoded(buf[:0], p)
	}
}

// BenchmarkSegment scores a base of generated profiles (1,000,000 unless
// TAILOR_BENCH_PROFILES says otherwise) written straight to Pebble, and
// reports the peak Go heap in use during the scan.
func BenchmarkSegment(b *testing.B) {
	n := benchProfiles()
	db, err := kv.Open(b.TempDir(), kv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, Options{CacheBytes: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := int64(1_760_000_000_000)
	r := rand.New(rand.NewPCG(3, 4))
	lim := Limits{}
	lim.setDefaults()
	batch := db.NewBatch()
	var buf []byte
	for u := 0; u < n; u++ {
		p := &Profile{User: fmt.Sprintf("u%07d", u)}
		for _, e := range typicalEvents(r, 5+r.IntN(20), now-int64(r.IntN(400))*24*3_600_000) {
			e.User = p.User
			p.apply(&e, &lim)
		}
		buf = AppendEncoded(buf[:0], p)
		if err := batch.Set(kv.Key(kv.PrefixProfile, p.User), buf, nil); err != nil {
			b.Fatal(err)
		}
		if batch.Len() > 16<<20 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch = db.NewBatch()
		}
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		b.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	var g *Segmentation
	for i := 0; i < b.N; i++ {
		if g, err = s.Segment(now, Rules{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-done
	if g.Profiles != n {
		b.Fatalf("scored %d profiles, want %d", g.Profiles, n)
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/profile")
}

// BenchmarkDecode reads back a cached profile of 40 events, what every read
// of a profile pays.
func BenchmarkDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	lim := Limits{}
	lim.setDefaults()
	p := &Profile{User: "u"}
	for _, e := range typicalEvents(r, 40, 1_760_000_000_000) {
		p.apply(&e, &lim)
	}
	enc := string(AppendEncoded(nil, p))
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := decodeString(enc); err != nil {
			b.Fatal(err)
		}
	}
}
