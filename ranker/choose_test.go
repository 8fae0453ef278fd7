package ranker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tailor-dev/tailor/index"
)

// chooseByDefinition is choose as its doc states it, plainly: every
// candidate in order (a higher score, then a lower id), a leaf's taken once
// it holds maxLeaf of the slot, then what was held back, in order.
func chooseByDefinition(cands []cand, n int, share float64) []string {
	maxLeaf := max(1, int(float64(n)*share))
	order := slices.Clone(cands)
	slices.SortFunc(order, func(a, b cand) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.it.Doc.Item.ID, b.it.Doc.Item.ID)
	})
	var taken, held []string
	perLeaf := map[int32]int{}
	for _, c := range order {
		if len(taken) == n {
			break
		}
		if leaf := c.it.Leaf(); leaf >= 0 && perLeaf[leaf] >= maxLeaf {
			held = append(held, c.it.Doc.Item.ID)
			continue
		} else {
			perLeaf[leaf]++
		}
		taken = append(taken, c.it.Doc.Item.ID)
	}
	for _, id := range held {
		if len(taken) == n {
			break
		}
		taken = append(taken, id)
	}
	return taken
}

// The slot choose fills is the one its definition gives, for slots of every
// size over candidates crowded into few leaves or spread over many, with
// tied scores and items without a category.
func TestChooseFollowsItsDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	r := &Ranker{opts: Options{MaxPerLeaf: 0.5}}
	s := &scratch{} // one for every trial, as the pool reuses them
	for trial := range 2000 {
		leaves := 1 + rng.IntN(12)
		cands := make([]cand, rng.IntN(400))
		for i := range cands {
			c := &cands[i]
			c.ord = int32(i)
			c.score = float64(rng.IntN(50)) / 10 // ties are common
			doc := &index.Doc{Item: index.Item{ID: fmt.Sprintf("i%05d", rng.IntN(1_000_000))}}
			c.it.Doc = doc
			if rng.IntN(10) > 0 {
				// Categories 0 and 1 are roots; leaves below them.
				c.it.Cats[0], c.it.Cats[1], c.it.Depth = int32(rng.IntN(2)), int32(2+rng.IntN(leaves)), 2
			}
		}
		// Distinct ids, as ordinals have.
		seen := map[string]bool{}
		for i := range cands {
			for seen[cands[i].it.Doc.Item.ID] {
				cands[i].it.Doc.Item.ID += "x"
			}
			seen[cands[i].it.Doc.Item.ID] = true
		}
		n := 1 + rng.IntN(30)
		r.opts.MaxPerLeaf = []float64{0.5, 0.2, 1}[trial%3]
		want := chooseByDefinition(cands, n, r.opts.MaxPerLeaf)

		s.gen++
		s.cands = append(s.cands[:0], cands...)
		var res Result
		r.choose(s, n, &res)
		got := make([]string, len(res.Items))
		for i, it := range res.Items {
			got[i] = it.Doc.Item.ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d, %d candidates over %d leaves, slot of %d, share %v:\n got %v\nwant %v",
				trial, len(cands), leaves, n, r.opts.MaxPerLeaf, got, want)
		}
	}
}

// BenchmarkChoose fills a slot of 10 from 334 candidates, the mean on the
// benchmark world, where a narrow interest puts a fifth of them, in one
// leaf, ahead of the rest: taking the best 10 in order passes over 72
// candidates, as on that world.
func BenchmarkChoose(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 5))
	cands := make([]cand, 334)
	for i := range cands {
		c := &cands[i]
		c.ord, c.score = int32(i), rng.Float64()
		c.it.Doc = &index.Doc{Item: index.Item{ID: fmt.Sprintf("i%06d", i)}}
		leaf := int32(3 + rng.IntN(30))
		if rng.IntN(5) == 0 {
			leaf = 2
			c.score++ // the favoured leaf leads
		}
		c.it.Cats[0], c.it.Cats[1], c.it.Depth = 0, leaf, 2
	}
	r := &Ranker{opts: Options{MaxPerLeaf: 0.5}}
	s := &scratch{cands: cands}
	var res Result
	b.ReportAllocs()
	for b.Loop() {
		s.gen++
		res.Items = res.Items[:0]
		r.choose(s, 10, &res)
	}
}
