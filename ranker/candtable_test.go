package ranker

import (
	"math/rand/v2"
	"testing"
)

// TestCandTableAgreesWithAMap adds ordinals well past the table's first
// size, so that it grows, and finds each where a map says it is; after a
// reset it holds nothing.
func TestCandTableAgreesWithAMap(t *testing.T) {
	var tab candTable
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		tab.reset()
		want := map[int32]int32{}
		for i := range 3000 {
			ord := rng.Int32N(200000)
			if i%7 == 0 {
				ord = int32(i) // runs of neighbouring ordinals too
			}
			e := tab.find(ord)
			if _, ok := want[ord]; ok != (e.key != 0) {
				t.Fatalf("round %d: ord %d found %v, the map says %v", round, ord, e.key != 0, ok)
			}
			if e.key != 0 {
				continue
			}
			at := int32(len(want))
			if i%5 == 0 {
				at = -1
			}
			tab.set(e, ord, at)
			want[ord] = at
		}
		if tab.n != len(want) || 2*tab.n > len(tab.entries) {
			t.Fatalf("round %d: %d entries in a table of %d, want %d at most half full", round, tab.n, len(tab.entries), len(want))
		}
		for ord, at := range want {
			if e := tab.find(ord); e.key != uint32(ord)+1 || e.at != at {
				t.Fatalf("round %d: ord %d = %+v, want at %d", round, ord, *e, at)
			}
		}
	}
	tab.reset()
	for ord := range int32(1000) {
		if e := tab.find(ord); e.key != 0 {
			t.Fatalf("after a reset ord %d = %+v", ord, *e)
		}
	}
}
