package redistest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tailor-dev/tailor/internal/redistest"
)

func TestCluster(t *testing.T) {
	c := redistest.Start(t, redistest.Options{})
	if got := len(c.Addrs()); got != 3 {
		t.Fatalf("len(Addrs()) = %d, want 3", got)
	}
	if got := c.Masters(t); len(got) != 3 {
		t.Fatalf("Masters() = %v, want 3 masters", got)
	}
	rdb := c.Client(t)
	ctx := context.Background()
	masters := make(map[string]bool)
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		m, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatalf("MasterForKey(%q): %v", key, err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Errorf("30 keys live on %d masters, want 3", len(masters))
	}
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		got, err := rdb.Get(ctx, key).Int()
		if err != nil || got != i {
			t.Errorf("GET %s = %d, %v, want %d", key, got, err, i)
		}
	}
}
