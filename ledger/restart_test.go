package ledger

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// reserveThree holds 300 for bid 1 (two minutes), 200 for bid 2 (one
// minute) and 100 for bid 3, won (an hour): 600 in all.
func reserveThree(t *testing.T, l *Ledger, c *clock, lim *Limits) {
	t.Helper()
	a := l.Account("c")
	now := c.Now().UnixMilli()
	if !l.Reserve(a, lim, 1, 300, l.ReserveUntil(0)) || !l.Reserve(a, lim, 2, 200, now+time.Minute.Milliseconds()) ||
		!l.Reserve(a, lim, 3, 150, l.ReserveUntil(0)) {
		t.Fatal("Reserve failed")
	}
	if out, err := l.Apply(&Notice{Kind: Win, Campaign: "c", Bid: 3, Auction: 3, BidAt: now, Price: 100, Limits: *lim}); err != nil || out != Applied {
		t.Fatalf("Apply(win) = %v, %v", out, err)
	}
	if st := l.Stats("c", lim); st.Reserved != 600 {
		t.Fatalf("Reserved = %d, want 600", st.Reserved)
	}
}

// storedReservations counts the reservation records in db.
func storedReservations(t *testing.T, db *pebble.DB) int {
	t.Helper()
	n := 0
	if err := scan(db, []byte{kv.PrefixLedger, subReservation}, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReservationsSurviveClose(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	c := newClock(noon)
	l := open(t, db, c)
	lim := Limits{Daily: 1000}
	reserveThree(t, l, c, &lim)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	l = open(t, db, c)
	if st := l.Stats("c", &lim); st.Reserved != 600 {
		t.Errorf("after a graceful restart: Reserved = %d, want 600", st.Reserved)
	}
	if n := storedReservations(t, db); n != 0 {
		t.Errorf("Open left %d reservation records, want 0", n)
	}
	// A reservation that lapses while the ledger is closed is not restored.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	c.Advance(90 * time.Second)
	l = open(t, db, c)
	a := l.Account("c")
	a.mu.Lock()
	_, ok := a.resv[2]
	a.mu.Unlock()
	if ok {
		t.Errorf("a reservation that lapsed before Open was restored")
	}
	if st := l.Stats("c", &lim); st.Reserved != 400 {
		t.Errorf("90s on: Reserved = %d, want 400", st.Reserved)
	}
	// The restored holds count against the budget...
	if l.Reserve(a, &lim, 4, 601, l.ReserveUntil(0)) {
		t.Errorf("601 fit next to 400 held in a 1000 budget")
	}
	// ...and notices release them.
	for _, n := range []Notice{
		{Kind: Billing, Campaign: "c", Bid: 1, Auction: 1, Price: 250},
		{Kind: Billing, Campaign: "c", Bid: 3, Auction: 3, Price: 100},
	} {
		n.BidAt, n.Limits = noon.UnixMilli(), lim
		if out, err := l.Apply(&n); err != nil || out != Applied {
			t.Fatalf("Apply(billing %d) = %v, %v", n.Bid, out, err)
		}
	}
	st := l.Stats("c", &lim)
	if st.Reserved != 0 || st.SpentToday != 350 || st.Wins != 2 || st.Impressions != 2 {
		t.Errorf("after billing both: %+v, want 350 spent, nothing held", st)
	}
}

func TestReservationsReleasedByCrash(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	lim := Limits{Daily: 1000}
	reserveThree(t, open(t, db, c), c, &lim)
	// No Close: to the ledger, a crash.
	l := open(t, db, c)
	if st := l.Stats("c", &lim); st.Reserved != 0 {
		t.Errorf("after a crash: Reserved = %d, want 0", st.Reserved)
	}
}

func TestReservationsRestoredOnce(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newClock(noon)
	lim := Limits{Daily: 1000}
	l := open(t, db, c)
	reserveThree(t, l, c, &lim)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, db, c)
	if st := l.Stats("c", &lim); st.Reserved != 600 {
		t.Fatalf("after Close and Open: Reserved = %d, want 600", st.Reserved)
	}
	// A crash now: whatever was settled since must not be held again.
	l = open(t, db, c)
	if st := l.Stats("c", &lim); st.Reserved != 0 {
		t.Errorf("after a crash that followed a restart: Reserved = %d, want 0", st.Reserved)
	}
}
