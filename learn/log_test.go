package learn

import (
	"slices"
	"testing"

	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
)

// rankedResult is a ranking of n items, each with f click-model features
// when withFeatures, the way the ranker returns one.
func rankedResult(n, f int, withFeatures bool) *ranker.Result {
	res := &ranker.Result{}
	for i := 0; i < n; i++ {
		res.Items = append(res.Items, ranker.Scored{Doc: &index.Doc{Ord: int32(100 + i)}})
		if !withFeatures {
			continue
		}
		for k := 0; k < f; k++ {
			res.Features = append(res.Features, model.Feature{Key: uint32(i*1000 + k), Value: float32(k)})
		}
		res.FeatureEnds = append(res.FeatureEnds, int32(len(res.Features)))
	}
	return res
}

func TestDecisionLogKeepsEachItemsFeatures(t *testing.T) {
	for _, tc := range []struct {
		name         string
		items        int
		withFeatures bool
	}{
		{"with features", 10, true},
		{"without features", 10, false},
		{"more than it keeps", maxShown + 5, true},
		{"no items", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newDecisionLog(2, 1000, 1, func(int32) string { return "" })
			// Three decisions in a ring of two: the third reuses the first's
			// slot, longer lists replacing shorter ones and back.
			for round, n := range []int{tc.items, 3, tc.items} {
				res := rankedResult(n, 12-round, tc.withFeatures)
				id := l.record("u", nil, 0, res)
				d := l.lookupLocked(id, 0)
				if d == nil {
					t.Fatalf("round %d: decision %d not found", round, id)
				}
				kept := min(n, maxShown)
				if len(d.ords) != kept {
					t.Fatalf("round %d: %d items kept, want %d", round, len(d.ords), kept)
				}
				for i := 0; i < kept; i++ {
					if d.ords[i] != res.Items[i].Doc.Ord {
						t.Errorf("round %d: item %d is ord %d, want %d", round, i, d.ords[i], res.Items[i].Doc.Ord)
					}
					if got, want := d.itemFeatures(i), res.ItemFeatures(i); !slices.Equal(got, want) {
						t.Errorf("round %d: item %d features %v, want %v", round, i, got, want)
					}
				}
			}
		})
	}
}

// BenchmarkDecisionLogRecord records a recommend answer of ten items with
// twelve features each, into a ring still filling (as in a server's first
// ring-full of answers) and into one that has wrapped.
func BenchmarkDecisionLogRecord(b *testing.B) {
	res := rankedResult(10, 12, true)
	b.Run("filling", func(b *testing.B) {
		l := newDecisionLog(b.N+1, 1000, 1, func(int32) string { return "" })
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			l.record("user-1", nil, 0, res)
		}
	})
	b.Run("wrapped", func(b *testing.B) {
		l := newDecisionLog(64, 1000, 1, func(int32) string { return "" })
		for i := 0; i < 64; i++ {
			l.record("user-1", nil, 0, res)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			l.record("user-1", nil, 0, res)
		}
	})
}

// TestDecisionLogSlotsFollowTheirDecisions checks that a ring slot does not
// keep the memory of the longest decision it ever held: after long
// decisions are replaced by short ones, the ring holds at most about twice
// what the short ones need, so that a server's decision log stays within
// twice what its decisions need rather than creeping toward its largest
// answers.
func TestDecisionLogSlotsFollowTheirDecisions(t *testing.T) {
	const slots, short = 8, 5
	l := newDecisionLog(slots, 1000, 1, func(int32) string { return "" })
	held := func() (need, kept int) {
		for i := range l.ring {
			d := &l.ring[i]
			need += len(d.feats) + len(d.ords) + len(d.ends)
			kept += cap(d.feats) + cap(d.ords) + cap(d.ends)
		}
		return need, kept
	}
	for range slots {
		l.record("u", nil, 0, rankedResult(maxShown, 40, true))
	}
	for range slots {
		l.record("u", nil, 0, rankedResult(short, 12, true))
	}
	need, kept := held()
	if bound := 2*need + slots*3*reuseSlack; kept > bound {
		t.Errorf("the ring keeps room for %d values for decisions needing %d, want at most %d", kept, need, bound)
	}
	// Decisions of one size reuse their slots' memory.
	res := rankedResult(short, 12, true)
	if a := testing.AllocsPerRun(100, func() { l.record("u", nil, 0, res) }); a != 0 {
		t.Errorf("recording into a slot of the same size allocates %.0f times, want 0", a)
	}
}
