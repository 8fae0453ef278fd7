package server

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitFor spins until cond holds, failing the test after a generous
// deadline: a condition, not a duration, decides when the test goes on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestGateAdmitsNewestFirst: when a place frees, the newest waiter takes
// it; the oldest waits longest, and is the one shed when its time is up.
func TestGateAdmitsNewestFirst(t *testing.T) {
	g := newGate(1, 8, time.Hour)
	if !g.enter() {
		t.Fatal("enter() = false on an empty gate")
	}
	order := make(chan string, 2)
	var wg sync.WaitGroup
	for i, name := range []string{"older", "newer"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.enter() {
				order <- name
				g.leave()
			}
		}()
		waitFor(t, name+" waiting", func() bool { _, w := g.load(); return w == i+1 })
	}
	g.leave()
	wg.Wait()
	if first, second := <-order, <-order; first != "newer" || second != "older" {
		t.Errorf("admitted %s then %s, want newer then older", first, second)
	}
	if n, w := g.load(); n != 0 || w != 0 {
		t.Errorf("after all left: %d in, %d waiting", n, w)
	}
}

func TestGateSheds(t *testing.T) {
	g := newGate(1, 1, time.Millisecond)
	if !g.enter() {
		t.Fatal("enter() = false on an empty gate")
	}
	// One may wait: it is shed when its wait ends with the place still taken.
	if g.enter() {
		t.Error("enter() = true while the only place is held past the wait")
	}
	// With the queue full, the next is shed at once.
	g.wait = time.Hour
	done := make(chan bool)
	go func() { done <- g.enter() }()
	waitFor(t, "a waiter", func() bool { _, w := g.load(); return w == 1 })
	if g.enter() {
		t.Error("enter() = true with the queue full")
	}
	g.leave()
	if !<-done {
		t.Error("the waiter was not handed the place")
	}
	g.leave()
	if n, w := g.load(); n != 0 || w != 0 {
		t.Errorf("after all left: %d in, %d waiting", n, w)
	}
}

// TestShedAtCapacity: past its bound, recommend answers 429 with
// Retry-After and the bid route a no-bid; once a place frees, both answer
// again.
func TestShedAtCapacity(t *testing.T) {
	ts := newBidServer(t, func(o *Options) {
		o.Admission = AdmissionOptions{Recommend: 1, Bid: 1, Events: 1, Other: 1, Wait: time.Millisecond, Queue: 4}
	})
	ts.campaigns(`[{"id":"any","advertiser":"A","adomain":["a.example"],"budget":{"daily":100,"currency":"USD"},"pacing":"asap",
	 "bid":{"strategy":"cpm","max_cpm":4},"creatives":[{"id":"c","format":"banner","w":300,"h":250,"adm":"x"}]}]`)
	for _, c := range []admitClass{classRecommend, classBid, classEvents, classOther} {
		ts.srv.gates[c].enter()
	}
	code, out := ts.post("/v1/recommend", `{"user":"u1"}`)
	wantError(t, "recommend at capacity", code, out, 429, "overloaded", "")
	code, out = ts.post("/v1/events", `{"user":"u1","type":"view","item":"i1"}`)
	wantError(t, "events at capacity", code, out, 429, "overloaded", "")
	code, out = ts.do("GET", "/v1/audiences", "", "")
	wantError(t, "a REST route at capacity", code, out, 429, "overloaded", "")
	if resp := ts.bid(banner("b1", "", 0)); resp != nil {
		t.Errorf("a bid at capacity got %+v, want a no-bid", resp.SeatBid)
	}
	if code, _ := ts.do("GET", "/healthz", "", ""); code != 200 {
		t.Errorf("/healthz at capacity = %d, want 200", code)
	}
	if got := ts.counter("tailor_bid_nobids_total", "reason", "overload"); got != 1 {
		t.Errorf("no-bids for overload = %v, want 1", got)
	}
	for _, class := range []string{"recommend", "bid", "events", "other"} {
		if got := ts.counter("tailor_http_shed_total", "class", class); got != 1 {
			t.Errorf("tailor_http_shed_total{class=%s} = %v, want 1", class, got)
		}
	}
	for _, c := range []admitClass{classRecommend, classBid, classEvents, classOther} {
		ts.srv.gates[c].leave()
	}
	if code, out := ts.post("/v1/recommend", `{"user":"u1"}`); code != 200 {
		t.Errorf("recommend after capacity freed = %d %s", code, out)
	}
	if resp := ts.bid(banner("b2", "", 0)); resp == nil {
		t.Error("no bid after capacity freed")
	}
}

// TestCongestionShedsPastTheBound: requests are shed once more goroutines
// than the bound have waited for a CPU longer than the grace while the
// cores are busy, and let in again as soon as they do not.
func TestCongestionShedsPastTheBound(t *testing.T) {
	var n uint64
	var clock int64 = 1
	procs := int64(runtime.GOMAXPROCS(0))
	// Every core busy all the time: the CPU time used grows with the clock.
	c := newCongestion(8, 2*time.Millisecond, congestionProbe{
		runnable: func() uint64 { return n },
		now:      func() int64 { return clock },
		cpu:      func() int64 { return clock * procs },
	})
	limit := uint64(8 * runtime.GOMAXPROCS(0))
	ms := int64(time.Millisecond)
	for i, tc := range []struct {
		runnable uint64
		advance  int64
		want     bool
	}{
		{0, 0, true},
		{limit, 0, true},
		{limit + 1, 0, true},        // past the bound: the grace starts
		{10 * limit, ms, true},      // within the grace
		{10 * limit, 2 * ms, false}, // past it: shed
		{limit + 1, 0, false},
		{1, 0, true},          // the queue is back: let in, grace reset
		{limit + 1, ms, true}, // a new spike gets a new grace
	} {
		clock += tc.advance
		n = tc.runnable
		if got := c.allow(); got != tc.want {
			t.Errorf("step %d: allow() with %d runnable (bound %d) = %v", i, tc.runnable, limit, got)
		}
	}
	var off *congestion
	if !off.allow() {
		t.Error("a nil congestion sheds")
	}
	read := runnableGoroutines()
	if got := read(); got > 1<<20 {
		t.Errorf("runnableGoroutines() = %d", got)
	}
	if a := testing.AllocsPerRun(100, func() { read() }); a != 0 {
		t.Errorf("reading the runnable goroutines allocates %v times", a)
	}
}

// TestCongestionSparesAServerWithTimeToSpare: a long queue on a server that
// used little of its cores is a stall, and is let be however long it lasts;
// when the cores are kept busy, requests are shed within about busyWindow.
func TestCongestionSparesAServerWithTimeToSpare(t *testing.T) {
	var n uint64
	var clock, used int64 = 1, 0
	procs := int64(runtime.GOMAXPROCS(0))
	c := newCongestion(8, 2*time.Millisecond, congestionProbe{
		runnable: func() uint64 { return n },
		now:      func() int64 { return clock },
		cpu:      func() int64 { return used },
	})
	long := uint64(100 * runtime.GOMAXPROCS(0))
	step := func(d time.Duration, share float64) {
		clock += int64(d)
		used += int64(share * float64(procs) * float64(d))
	}
	// A second at a fifth of the cores, then a stall of 50 ms with the
	// cores all busy: the queue is long, nothing is shed.
	step(time.Second, 0.2)
	n = long
	for range 50 {
		step(time.Millisecond, 1)
		if !c.allow() {
			t.Fatalf("shed %v into a stall after a second at 20%% of the cores", time.Duration(clock-1-int64(time.Second)))
		}
	}
	// The queue clears, then an overload: every core busy from now on.
	n = 0
	step(10*time.Millisecond, 0.2)
	c.allow()
	n = long
	var shedAt time.Duration
	for i := range 300 {
		step(time.Millisecond, 1)
		if !c.allow() {
			shedAt = time.Duration(i+1) * time.Millisecond
			break
		}
	}
	if shedAt == 0 || shedAt > busyWindow+2*busyEvery {
		t.Errorf("an overload was first shed after %v, want within about %v", shedAt, busyWindow)
	}
	// A queue past the bound with the cores at half: let be.
	for range 300 {
		step(time.Millisecond, 0.5)
		c.allow()
	}
	if !c.allow() {
		t.Error("a long queue with the cores half used for 300 ms is shed")
	}
	// A process whose CPU time cannot be read sheds by the queue alone.
	blind := newCongestion(8, 2*time.Millisecond, congestionProbe{
		runnable: func() uint64 { return n },
		now:      func() int64 { return clock },
		cpu:      func() int64 { return -1 },
	})
	blind.allow()
	step(3*time.Millisecond, 0)
	if blind.allow() {
		t.Error("with no CPU time to judge by, a queue past the bound for longer than the grace is let be")
	}
	if processCPU() <= 0 {
		t.Errorf("processCPU() = %d", processCPU())
	}
}
