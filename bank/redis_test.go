package bank_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/internal/redistest"
)

// openRedis returns a bank over a client of c.
func openRedis(t testing.TB, c *redistest.Cluster, opts *bank.Options) *bank.Redis {
	t.Helper()
	bk, err := bank.NewRedis(c.Client(t), opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return bk
}

func TestRedis(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3})
	testBank(t, func(t *testing.T) bank.Bank { return openRedis(t, c, nil) })

	// The many campaigns of the contract reached every master.
	ctx := context.Background()
	err := c.Client(t).ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if n, err := m.DBSize(ctx).Result(); err != nil || n == 0 {
			t.Errorf("master %s holds %d keys (%v), want some", m.Options().Addr, n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRedisNoticeWindow(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3})
	bk := openRedis(t, c, &bank.Options{NoticeWindow: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := bank.Budget{Campaign: "window", Period: "total", Limit: 100}
	if ok, err := bk.Book(ctx, "a", b, "n1", 10); !ok || err != nil {
		t.Fatalf("Book(n1) = %v, %v, want true", ok, err)
	}
	// The server's clock passes the window within a few calls; each call
	// before that must find the notice.
	for {
		ok, err := bk.Book(ctx, "a", b, "n1", 10)
		if err != nil {
			t.Fatalf("Book(n1) again: %v", err)
		}
		if ok {
			break
		}
	}
	checkState(t, bk, b, bank.State{Spent: 20, Nodes: map[string]int64{}})
}

func TestRedisFailover(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3, ReplicasPerMaster: 1})
	bk := openRedis(t, c, &bank.Options{WaitReplicas: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := bank.Budget{Campaign: "failover", Period: "total", Limit: 1000}
	steps := []struct {
		name string
		call func() (int64, error)
		want int64
	}{
		{"Lease(a, 300)", func() (int64, error) { return bk.Lease(ctx, "a", b, 300) }, 300},
		{"Lease(b, 100)", func() (int64, error) { return bk.Lease(ctx, "b", b, 100) }, 100},
		{"Book(a, n1, 100)", bookCall(ctx, bk, "a", b, "n1", 100), 1},
		{"Book(b, n2, 50)", bookCall(ctx, bk, "b", b, "n2", 50), 1},
	}
	for _, s := range steps {
		if got, err := s.call(); got != s.want || err != nil {
			t.Fatalf("%s = %d, %v, want %d", s.name, got, err, s.want)
		}
	}

	// Kill the master of the budget's slot: its keys share the hash tag.
	m, err := c.Client(t).MasterForKey(ctx, "{failover/total}")
	if err != nil {
		t.Fatal(err)
	}
	dead := m.Options().Addr
	c.Kill(dead)
	c.WaitHealthy(t)
	if masters := c.Masters(t); slices.Contains(masters, dead) {
		t.Fatalf("Masters() = %v after killing %s", masters, dead)
	}

	checkState(t, bk, b, bank.State{Spent: 150, Leased: 250, Nodes: map[string]int64{"a": 200, "b": 50}})

	// The new master has no replica left: writes take effect but fail.
	if ok, err := bk.Book(ctx, "a", b, "n3", 25); ok || !errors.Is(err, bank.ErrNotReplicated) {
		t.Fatalf("Book(a, n3, 25) with no replica = %v, %v, want ErrNotReplicated", ok, err)
	}
	c.Restart(t, dead)
	c.WaitHealthy(t)

	steps = []struct {
		name string
		call func() (int64, error)
		want int64
	}{
		{"Book(a, n3, 25) again", bookCall(ctx, bk, "a", b, "n3", 25), 0},
		{"Book(a, n1, 100) again", bookCall(ctx, bk, "a", b, "n1", 100), 0},
		{"Book(c, n2, 50) again", bookCall(ctx, bk, "c", b, "n2", 50), 0},
		{"Lease(c, 1000)", func() (int64, error) { return bk.Lease(ctx, "c", b, 1000) }, 1000 - 175 - 225},
		{"Reclaim(b)", func() (int64, error) { return bk.Reclaim(ctx, "b", b) }, 50},
	}
	for _, s := range steps {
		if got, err := s.call(); got != s.want || err != nil {
			t.Fatalf("%s = %d, %v, want %d", s.name, got, err, s.want)
		}
	}
	checkState(t, bk, b, bank.State{Spent: 175, Leased: 775, Nodes: map[string]int64{"a": 175, "c": 600}})
}

// bookCall returns a call of Book that reports 1 if it booked.
func bookCall(ctx context.Context, bk bank.Bank, node string, b bank.Budget, notice string, amount int64) func() (int64, error) {
	return func() (int64, error) {
		ok, err := bk.Book(ctx, node, b, notice, amount)
		if ok {
			return 1, err
		}
		return 0, err
	}
}
