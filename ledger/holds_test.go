package ledger

import (
	"math/rand/v2"
	"testing"
	"time"
)

// A won bid's hour-long hold, queued before many two-minute holds, must not
// keep them past their time.
func TestHoldsExpireWhateverTheirOrder(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	l := open(t, db, c)
	// Exactly what the won hold and the 50 bids below take.
	lim := Limits{Daily: 800 + 50*1000}
	a := l.Account("c")
	if !l.Reserve(a, &lim, 1, 1000, l.ReserveUntil(0)) {
		t.Fatal("Reserve(1) failed")
	}
	out, err := l.Apply(&Notice{Kind: Win, Campaign: "c", Bid: 1, Auction: 1, BidAt: c.Now().UnixMilli(), Price: 800, Limits: lim})
	if err != nil || out != Applied {
		t.Fatalf("Apply(win) = %v, %v, want applied", out, err)
	}
	for bid := uint64(2); bid < 52; bid++ {
		if !l.Reserve(a, &lim, bid, 1000, l.ReserveUntil(0)) {
			t.Fatalf("Reserve(%d) failed", bid)
		}
	}
	if v := l.Admit(a, &lim, 0, 0, 0); v != OverBudget {
		t.Fatalf("Admit with the budget held = %v, want budget", v)
	}
	c.Advance(3 * time.Minute)
	if st := l.Stats("c", &lim); st.Reserved != 800 || st.PaceState != "on_track" {
		t.Errorf("3 minutes on: Reserved = %d, PaceState %q; want 800 (the won hold), on_track", st.Reserved, st.PaceState)
	}
	if v := l.Admit(a, &lim, 0, 0, 0); v != Admitted {
		t.Errorf("Admit 3 minutes on = %v, want admitted", v)
	}
	c.Advance(58 * time.Minute)
	if st := l.Stats("c", &lim); st.Reserved != 0 {
		t.Errorf("61 minutes on: Reserved = %d, want 0", st.Reserved)
	}
}

// Holds of mixed lengths, re-held, released and re-reserved in random order,
// expire exactly when a map of bid to deadline says they do.
func TestHoldsMatchOracle(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	l := open(t, db, c)
	lim := Limits{}
	a := l.Account("c")
	type hold struct{ amount, until int64 }
	oracle := map[uint64]hold{}
	lengths := []time.Duration{time.Millisecond, time.Second, 2 * time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour}
	r := rand.New(rand.NewPCG(1, 2))
	nextBid := uint64(0)
	maxLive := 0
	pick := func() uint64 { // mostly recent bids, sometimes unknown ones
		if nextBid == 0 || r.IntN(10) == 0 {
			return nextBid + 1 + r.Uint64N(10)
		}
		return nextBid - r.Uint64N(min(nextBid, 200))
	}
	for step := 0; step < 20000; step++ {
		now := c.Now().UnixMilli()
		for bid, h := range oracle {
			if h.until <= now {
				delete(oracle, bid)
			}
		}
		var until int64
		if r.IntN(4) == 0 {
			until = now + r.Int64N(time.Hour.Milliseconds())
		} else {
			until = now + lengths[r.IntN(len(lengths))].Milliseconds()
		}
		amount := 1 + r.Int64N(1000)
		switch op := r.IntN(10); {
		case op < 5: // a new bid, or the same id reserved again
			bid := nextBid + 1
			if r.IntN(10) == 0 {
				bid = pick()
			}
			nextBid = max(nextBid, bid)
			l.Reserve(a, &lim, bid, amount, until)
			oracle[bid] = hold{amount, until}
		case op < 7: // a win re-holds an outstanding bid
			bid := pick()
			a.mu.Lock()
			a.expire(now)
			a.hold(bid, amount, until)
			a.mu.Unlock()
			if _, ok := oracle[bid]; ok {
				oracle[bid] = hold{amount, until}
			}
		case op < 8:
			bid := pick()
			l.Release(a, bid)
			delete(oracle, bid)
		default:
			c.Advance(time.Duration(r.Int64N(int64(10 * time.Minute))))
		}
		now = c.Now().UnixMilli()
		want := int64(0)
		live := 0
		for _, h := range oracle {
			if h.until > now {
				want += h.amount
				live++
			}
		}
		if st := l.Stats("c", &lim); st.Reserved != want {
			t.Fatalf("step %d: Reserved = %d, want %d", step, st.Reserved, want)
		}
		maxLive = max(maxLive, live)
		a.mu.Lock()
		got, h := len(a.resv), a.expiries
		for i := 1; i < len(h); i++ {
			if h[(i-1)/2].until > h[i].until {
				t.Fatalf("step %d: heap out of order at %d", step, i)
			}
		}
		a.mu.Unlock()
		if got != live {
			t.Fatalf("step %d: %d reservations held, want %d", step, got, live)
		}
		// Entries left behind by released and re-held reservations are
		// compacted away.
		if len(h) > 2*maxLive+minCompact {
			t.Fatalf("step %d: %d heap entries for at most %d reservations", step, len(h), maxLive)
		}
	}
}

// Hour-long holds settled at once leave no hour's worth of heap entries
// behind.
func TestSettledHoldsDoNotAccumulate(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	l := open(t, db, c)
	lim := Limits{}
	a := l.Account("c")
	for bid := uint64(1); bid <= 10000; bid++ {
		l.Reserve(a, &lim, bid, 1, c.Now().UnixMilli()+time.Hour.Milliseconds())
		if bid%10 != 0 {
			l.Release(a, bid)
		}
	}
	a.mu.Lock()
	n, live := len(a.expiries), len(a.resv)
	a.mu.Unlock()
	if live != 1000 || n > 2*live+minCompact {
		t.Errorf("%d heap entries for %d reservations, want at most %d", n, live, 2*live+minCompact)
	}
	if st := l.Stats("c", &lim); st.Reserved != 1000 {
		t.Errorf("Reserved = %d, want 1000", st.Reserved)
	}
}
