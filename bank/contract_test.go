package bank_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/bank"
)

// step is one call in a contract case, on a budget whose limit is limit.
// want is the amount Lease grants or Reclaim takes back, or 1 if Book books
// and 0 if it does not.
type step struct {
	op     string // "lease", "return", "book" or "reclaim"
	node   string
	limit  int64
	amount int64
	notice string
	want   int64
}

func lease(node string, limit, want, got int64) step {
	return step{op: "lease", node: node, limit: limit, amount: want, want: got}
}

func giveBack(node string, amount int64) step { return step{op: "return", node: node, amount: amount} }

func book(node, notice string, amount int64, booked bool) step {
	s := step{op: "book", node: node, notice: notice, amount: amount}
	if booked {
		s.want = 1
	}
	return s
}

func reclaim(node string, got int64) step { return step{op: "reclaim", node: node, want: got} }

// testBank runs the contract every Bank keeps against the bank open returns.
// Each case has a campaign of its own in the one bank.
func testBank(t *testing.T, open func(t *testing.T) bank.Bank) {
	bk := open(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		steps []step
		want  bank.State // after the steps
	}{{
		name:  "lease never exceeds what is left",
		steps: []step{lease("a", 100, 60, 60), lease("a", 100, 60, 40), lease("a", 100, 10, 0), lease("a", 100, 0, 0)},
		want:  bank.State{Leased: 100, Nodes: map[string]int64{"a": 100}},
	}, {
		name:  "leases of several nodes sum to the limit at most",
		steps: []step{lease("a", 120, 50, 50), lease("b", 120, 50, 50), lease("c", 120, 50, 20), lease("b", 120, 50, 0)},
		want:  bank.State{Leased: 120, Nodes: map[string]int64{"a": 50, "b": 50, "c": 20}},
	}, {
		name:  "return makes money available again",
		steps: []step{lease("a", 100, 100, 100), giveBack("a", 30), lease("b", 100, 50, 30), lease("a", 100, 1, 0)},
		want:  bank.State{Leased: 100, Nodes: map[string]int64{"a": 70, "b": 30}},
	}, {
		name:  "return of more than the lease returns the lease",
		steps: []step{lease("a", 100, 40, 40), giveBack("a", 1000), giveBack("b", 5), lease("b", 100, 200, 100)},
		want:  bank.State{Leased: 100, Nodes: map[string]int64{"b": 100}},
	}, {
		name: "book is idempotent per notice",
		steps: []step{book("a", "n1", 50, true), book("a", "n1", 50, false), book("b", "n1", 50, false),
			book("a", "n2", 5, true), book("a", "n1", 70, false)},
		want: bank.State{Spent: 55},
	}, {
		name:  "book draws on the lease",
		steps: []step{lease("a", 100, 60, 60), book("a", "n1", 25, true), lease("b", 100, 100, 40)},
		want:  bank.State{Spent: 25, Leased: 75, Nodes: map[string]int64{"a": 35, "b": 40}},
	}, {
		name:  "book beyond the lease draws on unleased money",
		steps: []step{lease("a", 100, 10, 10), book("a", "n1", 30, true), lease("b", 100, 100, 70)},
		want:  bank.State{Spent: 30, Leased: 70, Nodes: map[string]int64{"b": 70}},
	}, {
		name:  "book beyond everything oversteps by the notice",
		steps: []step{lease("a", 100, 100, 100), book("b", "n1", 30, true), lease("c", 100, 1, 0)},
		want:  bank.State{Spent: 30, Leased: 100, Nodes: map[string]int64{"a": 100}},
	}, {
		name:  "duplicate book draws nothing",
		steps: []step{lease("a", 100, 50, 50), book("b", "n1", 30, true), book("a", "n1", 30, false)},
		want:  bank.State{Spent: 30, Leased: 50, Nodes: map[string]int64{"a": 50}},
	}, {
		name: "reclaim frees a dead node's lease",
		steps: []step{lease("a", 100, 80, 80), lease("b", 100, 50, 20), reclaim("a", 80), reclaim("a", 0),
			lease("b", 100, 50, 50), reclaim("nobody", 0)},
		want: bank.State{Leased: 70, Nodes: map[string]int64{"b": 70}},
	}, {
		name:  "late notice of a reclaimed lease is booked",
		steps: []step{lease("a", 100, 100, 100), reclaim("a", 100), lease("b", 100, 100, 100), book("a", "n1", 10, true)},
		want:  bank.State{Spent: 10, Leased: 100, Nodes: map[string]int64{"b": 100}},
	}, {
		name: "a lowered limit grants nothing",
		steps: []step{lease("a", 100, 80, 80), book("a", "n1", 50, true), lease("b", 60, 10, 0),
			lease("b", 40, 10, 0), lease("b", 90, 50, 10)},
		want: bank.State{Spent: 50, Leased: 40, Nodes: map[string]int64{"a": 30, "b": 10}},
	}, {
		name: "amounts up to MaxAmount are exact",
		steps: []step{lease("a", bank.MaxAmount, bank.MaxAmount-1, bank.MaxAmount-1), lease("b", bank.MaxAmount, 5, 1),
			book("a", "n1", bank.MaxAmount-3, true), reclaim("a", 2)},
		want: bank.State{Spent: bank.MaxAmount - 3, Leased: 1, Nodes: map[string]int64{"b": 1}},
	}, {
		name: "round amounts are exact",
		steps: []step{lease("a", 1e15, 1e8, 1e8), lease("b", 1e15, 1e14, 1e14), book("a", "n1", 1e9, true),
			giveBack("b", 1e13), reclaim("b", 9e13)},
		want: bank.State{Spent: 1e9},
	}}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := bank.Budget{Campaign: fmt.Sprintf("case%d", i), Period: "total"}
			for _, s := range tc.steps {
				b.Limit = s.limit
				var got int64
				var err error
				switch s.op {
				case "lease":
					got, err = bk.Lease(ctx, s.node, b, s.amount)
				case "return":
					err = bk.Return(ctx, s.node, b, s.amount)
				case "book":
					var booked bool
					booked, err = bk.Book(ctx, s.node, b, s.notice, s.amount)
					if booked {
						got = 1
					}
				case "reclaim":
					got, err = bk.Reclaim(ctx, s.node, b)
				}
				if err != nil || got != s.want {
					t.Fatalf("%+v = %d, %v, want %d", s, got, err, s.want)
				}
			}
			checkState(t, bk, b, tc.want)
		})
	}

	t.Run("unknown budget is empty", func(t *testing.T) {
		checkState(t, bk, bank.Budget{Campaign: "unknown", Period: "2026-12-05"}, bank.State{})
	})
	t.Run("periods are apart", func(t *testing.T) {
		day := bank.Budget{Campaign: "periods", Period: "2026-12-05", Limit: 10}
		total := bank.Budget{Campaign: "periods", Period: "total", Limit: 100}
		for _, b := range []bank.Budget{day, total} {
			if ok, err := bk.Book(ctx, "a", b, "n1", 7); !ok || err != nil {
				t.Fatalf("Book(%s) = %v, %v, want true", b.Period, ok, err)
			}
		}
		if got, err := bk.Lease(ctx, "a", day, 100); got != 3 || err != nil {
			t.Errorf("Lease(day) = %d, %v, want 3", got, err)
		}
		checkState(t, bk, total, bank.State{Spent: 7})
	})
	t.Run("invalid arguments", func(t *testing.T) {
		ok := bank.Budget{Campaign: "invalid", Period: "total", Limit: 100}
		bad := []bank.Budget{{Period: "total"}, {Campaign: "c"}, {Campaign: "a/b", Period: "total"},
			{Campaign: "c", Period: "{x}"}, {Campaign: "c", Period: "total", Limit: -1}, {Campaign: "c", Period: "total", Limit: bank.MaxAmount + 1}}
		for _, b := range bad {
			if _, err := bk.Lease(ctx, "a", b, 1); !errors.Is(err, bank.ErrInvalid) {
				t.Errorf("Lease(%+v) error = %v, want ErrInvalid", b, err)
			}
		}
		calls := map[string]error{}
		_, calls["Lease with negative want"] = bk.Lease(ctx, "a", ok, -1)
		_, calls["Lease by no node"] = bk.Lease(ctx, "", ok, 1)
		calls["Return of a negative amount"] = bk.Return(ctx, "a", ok, -1)
		_, calls["Book without a notice"] = bk.Book(ctx, "a", ok, "", 1)
		_, calls["Book of a negative amount"] = bk.Book(ctx, "a", ok, "n", -1)
		_, calls["Book of too much"] = bk.Book(ctx, "a", ok, "n", bank.MaxAmount+1)
		_, calls["Reclaim of no node"] = bk.Reclaim(ctx, "", ok)
		_, calls["State of a bad budget"] = bk.State(ctx, bank.Budget{Campaign: "}"})
		for what, err := range calls {
			if !errors.Is(err, bank.ErrInvalid) {
				t.Errorf("%s: error = %v, want ErrInvalid", what, err)
			}
		}
		checkState(t, bk, ok, bank.State{})
	})
	t.Run("liveness", func(t *testing.T) {
		ctx := context.Background()
		if alive, err := bk.Alive(ctx, "never-beat"); err != nil || alive {
			t.Errorf("Alive(a node that never beat) = %v, %v", alive, err)
		}
		if err := bk.Beat(ctx, "steady", time.Hour); err != nil {
			t.Fatal(err)
		}
		if alive, err := bk.Alive(ctx, "steady"); err != nil || !alive {
			t.Errorf("Alive(a node that beat for an hour) = %v, %v", alive, err)
		}
		if err := bk.Beat(ctx, "fading", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			alive, err := bk.Alive(ctx, "fading")
			if err != nil {
				t.Fatal(err)
			}
			if !alive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a mark of 1 ms still alive after 10 s")
			}
		}
		if err := bk.Beat(ctx, "", time.Second); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("Beat(no node) = %v, want ErrInvalid", err)
		}
		if err := bk.Beat(ctx, "x", 0); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("Beat(ttl 0) = %v, want ErrInvalid", err)
		}
	})
	t.Run("concurrent nodes", func(t *testing.T) { testConcurrent(t, bk) })
	t.Run("many campaigns", func(t *testing.T) { testCampaigns(t, bk, 64) })
}

// checkState fails t unless b's state is want.
func checkState(t *testing.T, bk bank.Bank, b bank.Budget, want bank.State) {
	t.Helper()
	got, err := bk.State(context.Background(), b)
	if err != nil {
		t.Fatalf("State(%s/%s): %v", b.Campaign, b.Period, err)
	}
	if got.Spent != want.Spent || got.Leased != want.Leased || !maps.Equal(got.Nodes, want.Nodes) {
		t.Errorf("State(%s/%s) = %+v, want %+v", b.Campaign, b.Period, got, want)
	}
}

// testConcurrent runs three nodes of several goroutines each that lease,
// book (each notice twice, from two nodes) and return until the budget runs
// out, and checks the invariant as they go and the books at the end.
func testConcurrent(t *testing.T, bk bank.Bank) {
	const limit, workers, rounds = 40_000, 4, 25
	ctx := context.Background()
	b := bank.Budget{Campaign: "concurrent", Period: "total", Limit: limit}
	nodes := []string{"a", "b", "c"}
	var mu sync.Mutex
	booked := make(map[string]int64) // notice -> amount, for the notices Book booked
	var wg sync.WaitGroup
	for ni, node := range nodes {
		other := nodes[(ni+1)%len(nodes)]
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(ni), uint64(w)))
				for r := range rounds {
					held, err := bk.Lease(ctx, node, b, 100+rng.Int64N(400))
					if err != nil {
						t.Errorf("Lease: %v", err)
						return
					}
					for k := 0; held > 0 && k < 3; k++ {
						amount := 1 + rng.Int64N(held)
						notice := fmt.Sprintf("%s-%d-%d-%d", node, w, r, k)
						ok, err := bk.Book(ctx, node, b, notice, amount)
						if !ok || err != nil {
							t.Errorf("Book(%s) = %v, %v, want true", notice, ok, err)
							return
						}
						mu.Lock()
						booked[notice] = amount
						mu.Unlock()
						held -= amount
						if ok, err := bk.Book(ctx, other, b, notice, amount); ok || err != nil {
							t.Errorf("Book(%s) again = %v, %v, want false", notice, ok, err)
							return
						}
					}
					if err := bk.Return(ctx, node, b, held); err != nil {
						t.Errorf("Return: %v", err)
						return
					}
					st, err := bk.State(ctx, b)
					if err != nil || st.Spent+st.Leased > limit {
						t.Errorf("State = %+v, %v: spent + leased > %d", st, err, limit)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	var spent int64
	for _, amount := range booked {
		spent += amount
	}
	if spent < limit/2 {
		t.Errorf("nodes booked %d of %d: too little to test the limit", spent, limit)
	}
	checkState(t, bk, b, bank.State{Spent: spent, Nodes: map[string]int64{}})
}

// testCampaigns leases and books on n campaigns at once, whose keys spread
// over all of a Redis cluster's slots and so over its masters.
func testCampaigns(t *testing.T, bk bank.Bank, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := bank.Budget{Campaign: fmt.Sprintf("campaign-%d", i), Period: "2026-12-05", Limit: int64(100 + i)}
			if got, err := bk.Lease(ctx, "a", b, 1000); got != b.Limit || err != nil {
				t.Errorf("Lease(%s) = %d, %v, want %d", b.Campaign, got, err, b.Limit)
			}
			if ok, err := bk.Book(ctx, "a", b, "n1", int64(i)); !ok || err != nil {
				t.Errorf("Book(%s) = %v, %v, want true", b.Campaign, ok, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		b := bank.Budget{Campaign: fmt.Sprintf("campaign-%d", i), Period: "2026-12-05"}
		left := int64(100)
		want := bank.State{Spent: int64(i), Leased: left, Nodes: map[string]int64{"a": left}}
		checkState(t, bk, b, want)
	}
}
