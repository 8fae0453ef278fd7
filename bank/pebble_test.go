package bank_test

import (
	"context"
	"testing"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/internal/kv"
)

// openPebble returns a bank over a database in dir, closed when the test
// ends unless close is called first.
func openPebble(t testing.TB, dir string) (bk *bank.Pebble, close func()) {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatalf("kv.Open(%q) error = %v, want nil", dir, err)
	}
	closed := false
	close = func() {
		if !closed {
			closed = true
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	}
	t.Cleanup(close)
	bk, err = bank.NewPebble(db, nil)
	if err != nil {
		t.Fatalf("NewPebble: %v", err)
	}
	return bk, close
}

func TestPebble(t *testing.T) {
	testBank(t, func(t *testing.T) bank.Bank {
		bk, _ := openPebble(t, t.TempDir())
		return bk
	})
}

func TestPebbleReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := bank.Budget{Campaign: "reopen", Period: "total", Limit: 100}
	bk, close := openPebble(t, dir)
	if got, err := bk.Lease(ctx, "a", b, 60); got != 60 || err != nil {
		t.Fatalf("Lease = %d, %v, want 60", got, err)
	}
	if ok, err := bk.Book(ctx, "a", b, "n1", 20); !ok || err != nil {
		t.Fatalf("Book(n1) = %v, %v, want true", ok, err)
	}
	close()

	bk, _ = openPebble(t, dir)
	checkState(t, bk, b, bank.State{Spent: 20, Leased: 40, Nodes: map[string]int64{"a": 40}})
	if ok, err := bk.Book(ctx, "a", b, "n1", 20); ok || err != nil {
		t.Errorf("Book(n1) after reopening = %v, %v, want false", ok, err)
	}
}
