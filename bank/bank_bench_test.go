package bank_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/internal/redistest"
)

// benchLeaseBook measures a lease and the booking of a notice against it,
// the calls of a node that refills its slice for every notice. Making the
// notice id costs one of the allocations.
func benchLeaseBook(b *testing.B, bk bank.Bank) {
	ctx := context.Background()
	budget := bank.Budget{Campaign: "bench", Period: "total", Limit: bank.MaxAmount}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := bk.Lease(ctx, "a", budget, 1000); err != nil {
			b.Fatal(err)
		}
		if _, err := bk.Book(ctx, "a", budget, "n"+strconv.Itoa(i), 900); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisLeaseBook(b *testing.B) {
	c := redistest.Start(b, redistest.Options{Masters: 3})
	benchLeaseBook(b, openRedis(b, c, nil))
}

func BenchmarkPebbleLeaseBook(b *testing.B) {
	bk, _ := openPebble(b, b.TempDir())
	benchLeaseBook(b, bk)
}
