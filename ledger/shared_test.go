package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/internal/redistest"
)

// sharedBanks are the banks the shared-budget tests run against: Pebble
// always, a real Redis Cluster of three masters when redis-server is there.
func sharedBanks(t *testing.T) map[string]func(t *testing.T) bank.Bank {
	return map[string]func(t *testing.T) bank.Bank{
		"pebble": func(t *testing.T) bank.Bank {
			db := openDB(t, t.TempDir())
			t.Cleanup(func() { db.Close() })
			b, err := bank.NewPebble(db, nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		"redis": func(t *testing.T) bank.Bank {
			c := redistest.Start(t, redistest.Options{Masters: 3})
			b, err := bank.NewRedis(c.Client(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
}

// openShared opens a ledger of node on its own database, sharing bk.
func openShared(t *testing.T, c *clock, bk Bank, node string) *Ledger {
	t.Helper()
	db := openDB(t, t.TempDir())
	l, err := Open(db, Options{Now: c.Now, Shared: SharedOptions{Bank: bk, Node: node, RefillEvery: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		db.Close()
	})
	return l
}

// TestSharedBudgetNeverOverspent: three nodes' ledgers bid for one campaign
// from several goroutines each, book every reserved bid's spend (some
// billing notices reach another node than the one that bid, and some come
// twice), and top up their leases when short. At no time does the bank hold
// more spent and leased than the budget, spend never passes it, and the
// budget is spent down to less than one bid per node.
func TestSharedBudgetNeverOverspent(t *testing.T) {
	for name, newBank := range sharedBanks(t) {
		t.Run(name, func(t *testing.T) {
			bk := newBank(t)
			c := newClock(noon)
			nodes := []*Ledger{openShared(t, c, bk, "n0"), openShared(t, c, bk, "n1"), openShared(t, c, bk, "n2")}
			lim := Limits{Total: 2_000_000}
			const maxBid = 40_000
			total := bank.Budget{Campaign: "c", Period: "total", Limit: lim.Total}
			ctx := context.Background()

			var stop atomic.Bool
			var monitorErr atomic.Value
			monitored := make(chan struct{})
			go func() {
				defer close(monitored)
				for !stop.Load() {
					st, err := bk.State(ctx, total)
					if err == nil && st.Spent+st.Leased > lim.Total {
						monitorErr.Store(fmt.Sprintf("spent %d + leased %d > budget %d", st.Spent, st.Leased, lim.Total))
					}
				}
			}()
			var bidIDs atomic.Uint64
			var wg sync.WaitGroup
			for n, l := range nodes {
				for g := range 3 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := rand.New(rand.NewPCG(uint64(n), uint64(g)))
						a := l.Account("c")
						for misses := 0; misses < 3; {
							amount := int64(1_000 + r.IntN(maxBid-1_000))
							bid := bidIDs.Add(1)
							if l.Admit(a, &lim, 0, 0, 0) != Admitted || !l.Reserve(a, &lim, bid, amount, l.ReserveUntil(0)) {
								if err := l.Refill(ctx); err != nil {
									t.Error(err)
									return
								}
								misses++
								continue
							}
							misses = 0
							notice := &Notice{Kind: Billing, Campaign: "c", Bid: bid, Auction: bid, BidAt: c.Now().UnixMilli(),
								Price: amount * 9 / 10, Limits: lim}
							if _, err := l.Apply(notice); err != nil {
								t.Error(err)
								return
							}
							if bid%5 == 0 { // the exchange sends the billing notice again, to another node
								if _, err := nodes[(n+1)%3].Apply(notice); err != nil {
									t.Error(err)
									return
								}
							}
						}
					}()
				}
			}
			wg.Wait()
			stop.Store(true)
			<-monitored
			if msg := monitorErr.Load(); msg != nil {
				t.Fatal(msg)
			}
			st, err := bk.State(ctx, total)
			if err != nil {
				t.Fatal(err)
			}
			var local int64
			for _, l := range nodes {
				local += l.Stats("c", &lim).Spent
			}
			if st.Spent > lim.Total {
				t.Errorf("booked spend %d passed the budget %d", st.Spent, lim.Total)
			}
			if st.Spent+st.Leased < lim.Total-int64(len(nodes))*maxBid {
				t.Errorf("spent %d + leased %d: more than a bid per node of the budget %d left unused", st.Spent, st.Leased, lim.Total)
			}
			// Each node's own ledger counts what reached it, repeats on a
			// second node included; the bank counted each notice once.
			if local < st.Spent {
				t.Errorf("the nodes counted %d, the bank %d", local, st.Spent)
			}
			t.Logf("%s: spent %d of %d, leased %d", name, st.Spent, lim.Total, st.Leased)
		})
	}
}

// TestSharedLeaseReturnedOnClose: a node that closes gives back what its
// lease holds beyond its outstanding reservations; a node that opens again
// takes back what it still held before it counts anew.
func TestSharedLeaseReturnedOnClose(t *testing.T) {
	bk := sharedBanks(t)["pebble"](t)
	c := newClock(noon)
	db := openDB(t, t.TempDir())
	defer db.Close()
	opts := Options{Now: c.Now, Shared: SharedOptions{Bank: bk, Node: "n0", RefillEvery: -1}}
	l, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{Total: 1_600_000}
	a := l.Account("c")
	if l.Reserve(a, &lim, 1, 10_000, l.ReserveUntil(0)) {
		t.Fatal("a bid was reserved before any lease")
	}
	if err := l.Refill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.Reserve(a, &lim, 1, 10_000, l.ReserveUntil(0)) {
		t.Fatal("no reservation after a refill")
	}
	total := bank.Budget{Campaign: "c", Period: "total", Limit: lim.Total}
	if st, _ := bk.State(context.Background(), total); st.Nodes["n0"] != 100_000 {
		t.Fatalf("lease after a refill = %d, want 1/16 of the budget, 100000", st.Nodes["n0"])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := bk.State(context.Background(), total); st.Nodes["n0"] != 10_000 {
		t.Errorf("lease after Close = %d, want the 10000 still reserved", st.Nodes["n0"])
	}
	l, err = Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a = l.Account("c")
	l.Admit(a, &lim, 0, 0, 0)
	if err := l.Refill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := bk.State(context.Background(), total); st.Nodes["n0"] != 100_000 || st.Leased != 100_000 {
		t.Errorf("after reopening: node lease %d, leased %d; want the old lease taken back and a new one of 100000", st.Nodes["n0"], st.Leased)
	}
}

// lostReply is a real bank whose next Book (or, with loseLease, Lease) runs
// and then reports an error, as when Redis applied a script and the reply
// was lost.
type lostReply struct {
	bank.Bank
	lose, loseLease atomic.Bool
}

func (b *lostReply) Lease(ctx context.Context, node string, bud bank.Budget, want int64) (int64, error) {
	got, err := b.Bank.Lease(ctx, node, bud, want)
	if err == nil && b.loseLease.CompareAndSwap(true, false) {
		return 0, fmt.Errorf("reply lost (granted %d)", got)
	}
	return got, err
}

func (b *lostReply) Book(ctx context.Context, node string, bud bank.Budget, notice string, amount int64) (bool, error) {
	booked, err := b.Bank.Book(ctx, node, bud, notice, amount)
	if err == nil && b.lose.CompareAndSwap(true, false) {
		return false, fmt.Errorf("reply lost (booked %v)", booked)
	}
	return booked, err
}

// lostReplyLedger opens a shared ledger over a lostReply bank, with one
// campaign of 1.6 units in total that it has bid for.
func lostReplyLedger(t *testing.T) (*lostReply, *clock, *Ledger, *Account, Limits) {
	bk := &lostReply{Bank: sharedBanks(t)["pebble"](t)}
	c := newClock(noon)
	l := openShared(t, c, bk, "n0")
	lim := Limits{Total: 1_600_000}
	a := l.Account("c")
	l.Admit(a, &lim, 0, 0, 0)
	return bk, c, l, a, lim
}

// totalLeases returns what the bank holds for a's total budget and what a's
// node holds of it.
func totalLeases(t *testing.T, bk bank.Bank, a *Account, lim Limits) (bank.State, int64) {
	t.Helper()
	st, err := bk.State(context.Background(), bank.Budget{Campaign: a.id, Period: "total", Limit: lim.Total})
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return st, a.lease[totalSlot].held
}

// TestSharedBookingWithLostReply: a billing notice whose booking reply is
// lost is not applied; sent again, the bank says it was booked before, and
// the node draws its lease down all the same, so that what it holds never
// exceeds what the bank leased it.
func TestSharedBookingWithLostReply(t *testing.T) {
	bk, c, l, a, lim := lostReplyLedger(t)
	if err := l.Refill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.Reserve(a, &lim, 1, 30_000, l.ReserveUntil(0)) {
		t.Fatal("no reservation after a refill")
	}
	n := &Notice{Kind: Billing, Campaign: "c", Bid: 1, Auction: 77, BidAt: c.Now().UnixMilli(), Price: 30_000, Limits: lim}
	bk.lose.Store(true)
	if _, err := l.Apply(n); err == nil {
		t.Fatal("Apply succeeded though the booking failed")
	}
	if out, err := l.Apply(n); err != nil || out != Applied {
		t.Fatalf("Apply again = %v, %v; want applied", out, err)
	}
	st, held := totalLeases(t, bk, a, lim)
	if st.Spent != 30_000 || held != st.Nodes["n0"] {
		t.Errorf("bank spent %d, lease %d; the node holds %d: want 30000 spent once and the node holding what the bank leased it",
			st.Spent, st.Nodes["n0"], held)
	}
}

func TestSharedStatsCountCalls(t *testing.T) {
	c := newClock(noon)
	l := openShared(t, c, sharedBanks(t)["pebble"](t), "n0")
	lim := Limits{Total: 1_600_000}
	a := l.Account("c")
	l.Admit(a, &lim, 0, 0, 0)
	if err := l.Refill(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Reserve(a, &lim, 1, 10_000, l.ReserveUntil(0))
	st, ok := l.Shared()
	if !ok || st.Calls[opReclaim] != 1 || st.Calls[opLease] != 1 || st.Held != 100_000 || st.Reserved != 10_000 {
		t.Errorf("Shared() = %+v, %v; want one reclaim, one lease, 100000 held, 10000 reserved", st, ok)
	}
}

// TestSharedDeadNodeLeaseReclaimed: a node that stops beating (killed) has
// its lease taken back by another node's refill once its mark lapses, and
// the money can be leased again; a node that beats keeps its lease.
func TestSharedDeadNodeLeaseReclaimed(t *testing.T) {
	c := newClock(noon)
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	bk, err := bank.NewPebble(db, &bank.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	open := func(node string) *Ledger {
		ldb := openDB(t, t.TempDir())
		l, err := Open(ldb, Options{Now: c.Now, Shared: SharedOptions{Bank: bk, Node: node, RefillEvery: -1, Liveness: 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ldb.Close() })
		return l
	}
	lim := Limits{Total: 1_600_000}
	ctx := context.Background()
	lease := func(l *Ledger) {
		l.Admit(l.Account("c"), &lim, 0, 0, 0)
		if err := l.Refill(ctx); err != nil {
			t.Fatal(err)
		}
	}
	alive, dead := open("alive"), open("dead")
	defer alive.Close()
	lease(dead)
	lease(alive)
	total := bank.Budget{Campaign: "c", Period: "total", Limit: lim.Total}
	state := func() bank.State {
		st, err := bk.State(ctx, total)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := state(); st.Nodes["dead"] != 100_000 || st.Nodes["alive"] != 100_000 {
		t.Fatalf("leases = %v, want 100000 each", st.Nodes)
	}
	c.Advance(5 * time.Second) // within the mark: nothing is taken back
	lease(alive)
	if st := state(); st.Nodes["dead"] != 100_000 {
		t.Fatalf("a live node's lease was taken back early: %v", st.Nodes)
	}
	c.Advance(6 * time.Second) // "dead" has not beaten for 11 s; "alive" refilled (and beat) at 5 s
	lease(alive)
	if st := state(); st.Nodes["dead"] != 0 || st.Leased != 100_000 || st.Nodes["alive"] != 100_000 {
		t.Errorf("after the dead node's mark lapsed: leases %v, leased %d; want only the live node's", st.Nodes, st.Leased)
	}
}

// TestSharedLeaseWithLostReply: a lease the bank granted but whose reply was
// lost is taken back at the next refill, not left with the node uncounted,
// so the money can be leased and spent.
func TestSharedLeaseWithLostReply(t *testing.T) {
	bk, _, l, a, lim := lostReplyLedger(t)
	bk.loseLease.Store(true)
	if err := l.Refill(context.Background()); err == nil {
		t.Fatal("Refill hid the lost lease")
	}
	if err := l.Refill(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, held := totalLeases(t, bk, a, lim)
	if st.Leased != 100_000 || held != 100_000 {
		t.Errorf("bank leased %d, the node holds %d; want the lost lease taken back and one lease of 100000 counted", st.Leased, held)
	}
}
