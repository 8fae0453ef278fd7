package ledger

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// clock is a settable test clock.
type clock struct{ ms atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ms.Store(t.UnixMilli())
	return c
}

func (c *clock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func open(t testing.TB, db *pebble.DB, c *clock) *Ledger {
	t.Helper()
	l, err := Open(db, Options{Now: c.Now})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	return l
}

var noon = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func TestReserveNeverOverspends(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	l := open(t, db, c)
	lim := Limits{Daily: 1000, Total: 5000}
	a := l.Account("c")
	var granted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if l.Reserve(a, &lim, uint64(g*1000+i), 7, l.ReserveUntil(0)) {
					granted.Add(7)
				}
			}
		}(g)
	}
	wg.Wait()
	if g := granted.Load(); g > 1000 || g < 1000-7 {
		t.Errorf("reserved %d of a 1000 budget in 7s, want 994", g)
	}
	// The 6 left take a smaller bid; then nothing is left.
	if v := l.Admit(a, &lim, 0, 0, 0); v != Admitted || !l.Reserve(a, &lim, 9999, 6, l.ReserveUntil(0)) {
		t.Fatalf("the last 6 of the budget cannot be reserved")
	}
	granted.Add(6)
	if v := l.Admit(a, &lim, 0, 0, 0); v != OverBudget {
		t.Errorf("Admit with the budget reserved = %v, want budget", v)
	}
	st := l.Stats("c", &lim)
	if st.Reserved != 1000 || st.Bids != 143 || st.PaceState != "exhausted" {
		t.Errorf("stats %+v, want 1000 held by 143 bids", st)
	}
	// Reservations lapse.
	c.Advance(3 * time.Minute)
	if v := l.Admit(a, &lim, 0, 0, 0); v != Admitted {
		t.Errorf("Admit after the reservations lapsed = %v", v)
	}
	// Release gives one back and uncounts its bid.
	if !l.Reserve(a, &lim, 1, 1000, l.ReserveUntil(0)) || l.Reserve(a, &lim, 2, 1, l.ReserveUntil(0)) {
		t.Fatalf("a reservation of the whole budget, then none")
	}
	l.Release(a, 1)
	if st := l.Stats("c", &lim); st.Reserved != 0 || st.Bids != 143 {
		t.Errorf("after Release: %+v", st)
	}
}

func TestNotices(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	c := newClock(noon)
	l := open(t, db, c)
	lim := Limits{Daily: 100000, FreqImps: 2, FreqPer: time.Hour}
	a := l.Account("c")
	bidAt := c.Now().UnixMilli()
	if !l.Reserve(a, &lim, 7, 50, l.ReserveUntil(0)) {
		t.Fatal("Reserve failed")
	}
	apply := func(k Kind, price int64, want Outcome) {
		t.Helper()
		out, err := l.Apply(&Notice{Kind: k, Campaign: "c", Bid: 7, Auction: 99, BidAt: bidAt, User: 5, Price: price, Limits: lim})
		if err != nil || out != want {
			t.Fatalf("Apply(%v) = %v, %v, want %v", k, out, err, want)
		}
	}
	apply(Win, 40, Applied)
	apply(Win, 40, Duplicate)
	if st := l.Stats("c", &lim); st.Wins != 1 || st.Reserved != 40 {
		t.Errorf("after a win: %+v, want 40 held", st)
	}
	// The won reservation outlives the bid timeout.
	c.Advance(10 * time.Minute)
	if st := l.Stats("c", &lim); st.Reserved != 40 {
		t.Errorf("a won bid's reservation lapsed after 10 minutes: %+v", st)
	}
	apply(Billing, 40, Applied)
	apply(Billing, 40, Duplicate)
	apply(Loss, 0, Conflict) // the auction was won and billed
	st := l.Stats("c", &lim)
	if st.Wins != 1 || st.Impressions != 1 || st.Losses != 0 || st.Spent != 40 || st.SpentToday != 40 || st.Reserved != 0 {
		t.Errorf("after billing: %+v", st)
	}
	if l.freq.count(freqKey{user: 5, campaign: "c"}, c.Now().UnixMilli()-time.Hour.Milliseconds()) != 1 {
		t.Errorf("the billed impression was not counted for the user")
	}
	if _, err := l.Apply(&Notice{Kind: Billing, Campaign: "", Auction: 1}); err != ErrBadNotice {
		t.Errorf("a notice without a campaign = %v, want ErrBadNotice", err)
	}
	// Old bids' notices are refused.
	out, err := l.Apply(&Notice{Kind: Billing, Campaign: "c", Auction: 3, BidAt: bidAt - 49*time.Hour.Milliseconds(), Price: 1})
	if err != nil || out != Expired {
		t.Errorf("a notice 49h after its bid = %v, %v, want expired", out, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Counters, notices and frequency survive a restart.
	db = openDB(t, dir)
	defer db.Close()
	l = open(t, db, c)
	st = l.Stats("c", &lim)
	if st.Wins != 1 || st.Impressions != 1 || st.Losses != 0 || st.Spent != 40 || st.Bids != 1 {
		t.Errorf("after reopening: %+v", st)
	}
	apply(Billing, 40, Duplicate)
	if v := l.Admit(l.Account("c"), &Limits{FreqImps: 1, FreqPer: time.Hour}, 5, 0, 0); v != Capped {
		t.Errorf("Admit for a user at the cap after reopening = %v, want frequency", v)
	}
	if v := l.Admit(l.Account("c"), &Limits{FreqImps: 2, FreqPer: time.Hour}, 5, 1, 0); v != Capped {
		t.Errorf("Admit with one pending bid at a cap of 2 = %v, want frequency", v)
	}
	if v := l.Admit(l.Account("c"), &Limits{FreqImps: 1, FreqPer: time.Hour}, 0, 0, 0); v != NoUser {
		t.Errorf("Admit for a capped campaign without a user = %v, want no_user", v)
	}
	// The window passes; the sweep drops the entry.
	c.Advance(2 * time.Hour)
	if v := l.Admit(l.Account("c"), &lim, 5, 0, 0); v != Admitted {
		t.Errorf("Admit after the window = %v", v)
	}
	l.maybeSweep(c.Now().UnixMilli())
	if l.freq.get(freqKey{user: 5, campaign: "c"}) != nil {
		t.Errorf("the sweep kept an entry whose impressions all left the window")
	}
}

func TestDaysFollowTheTimeZone(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone data")
	}
	// 14:30 UTC is 23:30 in Tokyo.
	c := newClock(time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC))
	l := open(t, db, c)
	lim := Limits{Daily: 1000, Loc: tokyo}
	a := l.Account("c")
	l.Reserve(a, &lim, 1, 600, l.ReserveUntil(0))
	if _, err := l.Apply(&Notice{Kind: Billing, Campaign: "c", Bid: 1, Auction: 1, BidAt: c.Now().UnixMilli(), Price: 600, Limits: lim}); err != nil {
		t.Fatal(err)
	}
	if l.Reserve(a, &lim, 2, 600, l.ReserveUntil(0)) {
		t.Errorf("a second 600 fit in a 1000 day")
	}
	c.Advance(time.Hour) // 00:30 the next day in Tokyo
	st := l.Stats("c", &lim)
	if st.SpentToday != 0 || st.Spent != 600 || !st.DayStart.Equal(time.Date(2026, 3, 3, 0, 0, 0, 0, tokyo)) {
		t.Errorf("after midnight in Tokyo: %+v", st)
	}
	if !l.Reserve(a, &lim, 3, 600, l.ReserveUntil(0)) {
		t.Errorf("a new day in Tokyo has no budget")
	}
}

func TestPacing(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
	l := open(t, db, c)
	lim := Limits{Daily: 48000, Even: true} // 1000 a half hour
	a := l.Account("c")
	spend := func(amount int64, auction uint64) {
		l.Reserve(a, &lim, auction, amount, l.ReserveUntil(0))
		if _, err := l.Apply(&Notice{Kind: Billing, Campaign: "c", Bid: auction, Auction: auction, BidAt: c.Now().UnixMilli(), Price: amount, Limits: lim}); err != nil {
			t.Fatal(err)
		}
	}
	// At 06:00 the line is at 12000; the slack is 1000.
	spend(12900, 1)
	if v := l.Admit(a, &lim, 0, 0, 0); v != Admitted {
		t.Errorf("Admit within the slack = %v", v)
	}
	spend(200, 2)
	if v := l.Admit(a, &lim, 0, 0, 0); v != Paced {
		t.Errorf("Admit past the slack = %v, want pacing", v)
	}
	// Thirty minutes later the line has moved 1000: the throttle lets some
	// through, at a reduced rate while spend runs ahead.
	c.Advance(30 * time.Minute)
	passed := 0
	for i := uint64(0); i < 1000; i++ {
		if l.Admit(a, &lim, 0, 0, i*(1<<54)) == Admitted {
			passed++
		}
	}
	st := l.Stats("c", &lim)
	if st.PaceRate >= 1 || passed == 0 || passed == 1000 {
		t.Errorf("slightly ahead of the line: rate %v, %d of 1000 draws passed; want a partly closed throttle", st.PaceRate, passed)
	}
	// Far behind the line, the throttle opens fully.
	for i := 0; i < 10; i++ {
		c.Advance(time.Hour)
		l.Admit(a, &lim, 0, 0, 0)
	}
	if st := l.Stats("c", &lim); st.PaceRate != 1 || st.PaceState != "behind" {
		t.Errorf("far behind the line: %+v, want the throttle open", st)
	}
}

func TestAdmitAndReserveDoNotAllocate(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	l := open(t, db, c)
	lim := Limits{Daily: 1 << 40, Even: true, FreqImps: 3, FreqPer: time.Hour}
	a := l.Account("c")
	id := uint64(0)
	// Warm the reservation map and queue.
	for i := 0; i < 1000; i++ {
		id++
		l.Reserve(a, &lim, id, 1, c.Now().UnixMilli()+1)
	}
	c.Advance(time.Second)
	n := testing.AllocsPerRun(500, func() {
		id++
		l.Admit(a, &lim, 42, 0, id)
		l.Reserve(a, &lim, id, 1, c.Now().UnixMilli()+1)
		c.Advance(2 * time.Millisecond)
	})
	if n > 0.1 {
		t.Errorf("Admit and Reserve allocate %v times a call, want 0", n)
	}
}
