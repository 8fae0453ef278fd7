package trigger

import (
	"context"
	"fmt"
	"testing"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/redistest"
)

// BenchmarkStoreApply evaluates batches of users, none of them changing
// membership, against 3 triggered audiences: what every events batch a node
// applies costs it once triggers exist.
func BenchmarkStoreApply(b *testing.B) {
	stores := map[string]func(b *testing.B) Store{
		"pebble": func(b *testing.B) Store { return openPebbleStore(b) },
		"redis": func(b *testing.B) Store {
			c := redistest.Start(b, redistest.Options{Masters: 3})
			return NewRedis(c.Client(b), "b:")
		},
	}
	aud := []*audience.Audience{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for _, name := range []string{"pebble", "redis"} {
		for _, users := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/users=%d", name, users), func(b *testing.B) {
				s := stores[name](b)
				evals := make([]Evaluation, users)
				for i := range evals {
					// Half the users are in audience a, version 1: after the
					// first batch, no evaluation changes anything.
					evals[i] = Evaluation{User: fmt.Sprintf("user-%d", i), Version: 1,
						Member: func(a *audience.Audience) bool { return a.Name == "a" && i%2 == 0 }}
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Apply(ctx, aud, evals, 1000); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
