package kv

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// pacedDB opens a real Pebble in a temporary directory with a pacer whose
// clock the test sets and whose sleeps it counts.
func pacedDB(t *testing.T) (db *pebble.DB, p *Pacer, clock *atomic.Int64, slept *atomic.Int64) {
	t.Helper()
	clock, slept = new(atomic.Int64), new(atomic.Int64)
	p = NewPacer(PacerOptions{Chunk: 4 << 10, Pause: 7 * time.Microsecond, Window: 10 * time.Millisecond, WriteRate: -1,
		Now: clock.Load, Sleep: func(d time.Duration) {
			if d != 7*time.Microsecond {
				t.Errorf("slept %v, want the pause", d)
			}
			slept.Add(1)
		}})
	db, err := Open(t.TempDir(), Options{Pacer: p, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, p, clock, slept
}

// write commits n synced values of 1 KiB that do not compress, spread over
// the key space.
func write(t *testing.T, db *pebble.DB, round, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(round), 1))
	val := make([]byte, 1<<10)
	for i := range n {
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		key := fmt.Appendf(nil, "k%05d-%d", (i*7919)%n, round)
		if err := db.Set(key, val, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
}

// flushIdle writes 500 values and flushes them before any request has
// started: the flush must run at full speed.
func flushIdle(t *testing.T, db *pebble.DB, slept *atomic.Int64) {
	t.Helper()
	write(t, db, 0, 500)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if slept.Load() != 0 {
		t.Fatalf("a flush before any request paused %d times", slept.Load())
	}
}

func TestPacerPausesBackgroundWritesWhileServing(t *testing.T) {
	db, p, clock, slept := pacedDB(t)
	clock.Store(int64(time.Second))
	p.Serving()

	write(t, db, 0, 500)
	if slept.Load() != 0 {
		t.Fatalf("commits paused %d times: the write-ahead log must never wait", slept.Load())
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	afterFlush := slept.Load()
	// 500 KiB of values in chunks of 4 KiB: about 120 pauses.
	if afterFlush < 60 {
		t.Errorf("a flush of 500 KiB while serving paused %d times, want about one per 4 KiB", afterFlush)
	}
	write(t, db, 1, 500)
	if err := db.Compact(t.Context(), []byte("k"), []byte("l"), true); err != nil {
		t.Fatal(err)
	}
	if slept.Load()-afterFlush < 60 {
		t.Errorf("a flush and a compaction of 1 MiB while serving paused %d times", slept.Load()-afterFlush)
	}
	if n, asked := p.Pauses(); n != slept.Load() || asked != time.Duration(n)*7*time.Microsecond {
		t.Errorf("Pauses() = %d, %v; want %d, %v", n, asked, slept.Load(), time.Duration(slept.Load())*7*time.Microsecond)
	}
}

func TestPacerLetsBackgroundWritesRunWhenIdle(t *testing.T) {
	db, p, clock, slept := pacedDB(t)
	// Never served: full speed.
	flushIdle(t, db, slept)
	// Served, but longer ago than the window: full speed again.
	clock.Store(int64(time.Second))
	p.Serving()
	clock.Add(int64(10 * time.Millisecond))
	write(t, db, 1, 500)
	if err := db.Compact(t.Context(), []byte("k"), []byte("l"), true); err != nil {
		t.Fatal(err)
	}
	if slept.Load() != 0 {
		t.Errorf("a compaction 10 ms after the last request paused %d times", slept.Load())
	}
	// Every value is there.
	for _, key := range []string{"k00000-0", "k00499-1"} {
		if _, closer, err := db.Get([]byte(key)); err != nil {
			t.Errorf("get %s: %v", key, err)
		} else {
			closer.Close()
		}
	}
}

// Serving writes the shared clock only when it has moved by an eighth of the
// window, so that many cores marking requests do not contend for it.
func TestPacerServingWritesTheClockSparingly(t *testing.T) {
	var clock atomic.Int64
	p := NewPacer(PacerOptions{Window: 8 * time.Millisecond, Now: clock.Load})
	clock.Store(int64(time.Second))
	p.Serving()
	if got := p.last.Load(); got != int64(time.Second) {
		t.Fatalf("first request: clock %d, want %d", got, int64(time.Second))
	}
	clock.Add(int64(time.Millisecond))
	p.Serving()
	if got := p.last.Load(); got != int64(time.Second) {
		t.Errorf("a request an eighth of the window later moved the clock to %d", got)
	}
	clock.Add(1)
	p.Serving()
	if got := p.last.Load(); got != int64(time.Second+time.Millisecond+1) {
		t.Errorf("a request past an eighth of the window: clock %d", got)
	}
}

// A compaction that drops what it reads writes almost nothing: its reads are
// paced.
func TestPacerPausesCompactionReads(t *testing.T) {
	db, p, clock, slept := pacedDB(t)
	flushIdle(t, db, slept)
	// Serving from here on (the clock stands still): Pebble may start the
	// compaction that drops the values by itself as soon as the table of
	// tombstones is flushed, and it must find the requests already coming.
	clock.Store(int64(time.Second))
	p.Serving()
	for i := range 500 {
		if err := db.Delete(fmt.Appendf(nil, "k%05d-0", i), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Compact(t.Context(), []byte("k"), []byte("l"), true); err != nil {
		t.Fatal(err)
	}
	tables := int64(0)
	for _, l := range db.Metrics().Levels {
		tables += l.TablesSize
	}
	if tables > 64<<10 {
		t.Fatalf("the compaction left %d bytes of tables: it did not drop the values", tables)
	}
	// 500 KiB read in chunks of 4 KiB, next to nothing written: the flush of
	// the tombstones writes a few KiB, a few pauses at most.
	if slept.Load() < 60 {
		t.Errorf("a compaction reading 500 KiB while serving paused %d times", slept.Load())
	}
}

// A pause lasts as long as the chunk before it took (Yield 1), at least
// Pause and at most MaxPause: a short pause let one request through before
// the sleeper's wake-up took the P back, and a compaction held a server on
// one core to about one request per chunk.
func TestPacerPausesAsLongAsTheChunkTook(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1)
	var slept []time.Duration
	p := NewPacer(PacerOptions{Chunk: 1 << 10, Pause: 20 * time.Microsecond, MaxPause: 2 * time.Millisecond,
		Window: 10 * time.Millisecond, Now: clock.Load, Sleep: func(d time.Duration) {
			slept = append(slept, d)
			clock.Add(int64(d))
		}})
	p.Serving()
	var pr progress
	for _, took := range []time.Duration{700 * time.Microsecond, 5 * time.Microsecond, 30 * time.Millisecond} {
		// Half the chunk, time passes, the other half.
		p.moved(&pr, 512, false)
		clock.Add(int64(took))
		p.Serving()
		p.moved(&pr, 512, false)
	}
	want := []time.Duration{700 * time.Microsecond, 20 * time.Microsecond, 2 * time.Millisecond}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Errorf("pauses after chunks of 700µs, 5µs and 30ms = %v, want %v", slept, want)
	}
	if n, asked := p.Pauses(); n != 3 || asked != 2720*time.Microsecond {
		t.Errorf("Pauses() = %d, %v; want 3, 2.72ms", n, asked)
	}
}

// While requests are served, what flushes and compactions write is held to
// the rate: a chunk of 64 KiB at 32 MiB a second is 1.953125 ms, less the
// time the chunk took. Reads are not held to it, nor writes while Pebble
// is behind (asked at most every 50 ms), nor writes while no request runs.
func TestPacerHoldsWritesToTheRate(t *testing.T) {
	var clock atomic.Int64
	clock.Store(int64(time.Second))
	var slept []time.Duration
	p := NewPacer(PacerOptions{Chunk: 64 << 10, Pause: 20 * time.Microsecond, MaxPause: 2 * time.Millisecond,
		Window: 10 * time.Millisecond, WriteRate: 32 << 20, Now: clock.Load, Sleep: func(d time.Duration) {
			slept = append(slept, d)
			clock.Add(int64(d))
		}})
	late, asked := false, 0
	p.watch(func() bool { asked++; return late })
	var w, r progress
	chunk := func(pr *progress, write bool, took time.Duration) {
		p.Serving()
		p.moved(pr, 32<<10, write)
		clock.Add(int64(took))
		p.moved(pr, 32<<10, write)
	}
	chunk(&w, true, 100*time.Microsecond)  // held to the rate
	chunk(&r, false, 100*time.Microsecond) // a read: as long as it took
	chunk(&w, true, 3*time.Millisecond)    // slower than the rate: the pause for the CPU
	late = true
	clock.Add(int64(50 * time.Millisecond))
	w = progress{}
	chunk(&w, true, 100*time.Microsecond) // behind: as long as it took
	late = false
	chunk(&w, true, 100*time.Microsecond) // asked again within 50 ms: still behind
	clock.Add(int64(50 * time.Millisecond))
	w = progress{}
	chunk(&w, true, 100*time.Microsecond) // caught up: held to the rate again
	want := []time.Duration{1853125 * time.Nanosecond, 100 * time.Microsecond, 2 * time.Millisecond,
		100 * time.Microsecond, 100 * time.Microsecond, 1853125 * time.Nanosecond}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Errorf("pauses = %v, want %v", slept, want)
	}
	if asked != 3 {
		t.Errorf("asked whether behind %d times, want 3 (once per 50 ms, writes only)", asked)
	}

	// Not serving: no pause at all.
	slept = nil
	clock.Add(int64(time.Second))
	p.moved(&w, 64<<10, true)
	clock.Add(int64(100 * time.Microsecond))
	p.moved(&w, 64<<10, true)
	if len(slept) != 0 {
		t.Errorf("writes with no request served paused %v", slept)
	}
}

// A flush of real Pebble while serving asks to sleep as long as its tables'
// bytes take at the rate.
func TestPacerHoldsAFlushToTheRate(t *testing.T) {
	var clock atomic.Int64
	clock.Store(int64(time.Second))
	var asked atomic.Int64
	const rate = 8 << 20
	p := NewPacer(PacerOptions{Chunk: 4 << 10, Window: 10 * time.Millisecond, WriteRate: rate,
		Now: clock.Load, Sleep: func(d time.Duration) { asked.Add(int64(d)) }})
	db, err := Open(t.TempDir(), Options{Pacer: p, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p.Serving()
	write(t, db, 0, 500)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	size := db.Metrics().Levels[0].TablesSize
	want := time.Duration(float64(size) / rate * float64(time.Second))
	if got := time.Duration(asked.Load()); got < want*8/10 || got > want*12/10 {
		t.Errorf("a flush of %d bytes while serving asked to sleep %v, want about %v (the bytes at 8 MiB a second)", size, got, want)
	}
}

func TestBehind(t *testing.T) {
	po := &pebble.Options{L0CompactionThreshold: 4, MemTableStopWritesThreshold: 4}
	for _, c := range []struct {
		sublevels int32
		memtables int64
		want      bool
	}{{0, 1, false}, {7, 3, false}, {8, 1, true}, {0, 4, true}} {
		m := &pebble.Metrics{}
		m.Levels[0].Sublevels, m.MemTable.Count = c.sublevels, c.memtables
		if got := behind(m, po); got != c.want {
			t.Errorf("behind with %d sublevels in L0 and %d memtables = %v, want %v", c.sublevels, c.memtables, got, c.want)
		}
	}
}
