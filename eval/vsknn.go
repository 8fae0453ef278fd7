package eval

import (
	"cmp"
	"slices"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// VSKNNOptions configures the V-SKNN baseline. Zero fields take the
// defaults of Ludewig and Jannach's evaluation (session-rec).
type VSKNNOptions struct {
	// Neighbors is k, the neighbour sessions that vote. Default 100.
	Neighbors int
	// Sample is how many of the most recent sessions sharing an item with
	// the current one are candidates. Default 1000.
	Sample int
	// Context caps the current session's items used, latest first.
	// Default 50.
	Context int
}

// vsknn is V-SKNN (Ludewig and Jannach 2018, "Evaluation of session-based
// recommendation algorithms"): the current session is a vector whose items
// weigh more the later they came (the i-th of L weighs i/L); candidate
// neighbours are the most recent past sessions sharing an item with it; a
// neighbour's similarity is its dot product with that vector over L; the k
// most similar vote for their items with their similarity, discounted by
// 1/d where d counts back from the end of the current session to the latest
// item they share with it.
//
// Here a user's current session is their latest one: the session an event
// continues, or, at the first event of a new session, the one before it.
type vsknn struct {
	opts      VSKNNOptions
	items     *items
	sess      *sessions
	sessItems [][]int32 // session -> its distinct items, in order
	sessTS    []int64   // session -> time of its latest event
	itemSess  [][]int32 // item -> the sessions holding it, oldest first
	userLast  map[string]int32

	gen        uint32
	sim        []float64
	simGen     []uint32
	touched    []int32
	ctxPos     []int32
	ctxGen     []uint32
	score      []float64
	scoreGen   []uint32
	candidates []scored
	out        []string
}

func newVSKNN(l *datasets.Log, gap time.Duration, o VSKNNOptions) *vsknn {
	if o.Neighbors <= 0 {
		o.Neighbors = 100
	}
	if o.Sample <= 0 {
		o.Sample = 1000
	}
	if o.Context <= 0 {
		o.Context = 50
	}
	return &vsknn{opts: o, items: newItems(l), sess: newSessions(gap), userLast: map[string]int32{}}
}

func (v *vsknn) Name() string { return "vsknn" }

func (v *vsknn) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		e := &events[i]
		s, fresh, _ := v.sess.of(e)
		if fresh {
			v.sessItems = append(v.sessItems, nil)
			v.sessTS = append(v.sessTS, 0)
			v.sim = append(v.sim, 0)
			v.simGen = append(v.simGen, 0)
		}
		o := v.items.get(e.Item)
		for int(o) >= len(v.itemSess) {
			v.itemSess = append(v.itemSess, nil)
			v.ctxPos = append(v.ctxPos, 0)
			v.ctxGen = append(v.ctxGen, 0)
			v.score = append(v.score, 0)
			v.scoreGen = append(v.scoreGen, 0)
		}
		if !slices.Contains(v.sessItems[s], o) {
			v.sessItems[s] = append(v.sessItems[s], o)
			v.itemSess[o] = append(v.itemSess[o], s)
		}
		v.sessTS[s] = e.TS
		v.userLast[e.User] = s
	}
	return nil
}

func (v *vsknn) Recommend(q *Query) ([]string, error) {
	v.out = v.out[:0]
	cur, ok := v.userLast[q.User]
	if !ok {
		return v.out, nil
	}
	ctx := v.sessItems[cur]
	if len(ctx) > v.opts.Context {
		ctx = ctx[len(ctx)-v.opts.Context:]
	}
	v.gen++
	L := float64(len(ctx))
	v.touched = v.touched[:0]
	for i, it := range ctx {
		v.ctxPos[it], v.ctxGen[it] = int32(i), v.gen
		w := float64(i+1) / L
		list := v.itemSess[it]
		if len(list) > v.opts.Sample {
			list = list[len(list)-v.opts.Sample:]
		}
		for _, n := range list {
			if n == cur {
				continue
			}
			if v.simGen[n] != v.gen {
				v.simGen[n], v.sim[n] = v.gen, 0
				v.touched = append(v.touched, n)
			}
			v.sim[n] += w
		}
	}
	// The most recent sessions are the candidates.
	if len(v.touched) > v.opts.Sample {
		slices.SortFunc(v.touched, func(a, b int32) int {
			if c := cmp.Compare(v.sessTS[b], v.sessTS[a]); c != 0 {
				return c
			}
			return cmp.Compare(b, a)
		})
		v.touched = v.touched[:v.opts.Sample]
	}
	slices.SortFunc(v.touched, func(a, b int32) int {
		if c := cmp.Compare(v.sim[b], v.sim[a]); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	if len(v.touched) > v.opts.Neighbors {
		v.touched = v.touched[:v.opts.Neighbors]
	}
	v.candidates = v.candidates[:0]
	for _, n := range v.touched {
		sim := v.sim[n] / L
		latest := int32(-1)
		for _, it := range v.sessItems[n] {
			if v.ctxGen[it] == v.gen && v.ctxPos[it] > latest {
				latest = v.ctxPos[it]
			}
		}
		decay := 1 / float64(int32(len(ctx))-latest)
		for _, it := range v.sessItems[n] {
			if v.scoreGen[it] != v.gen {
				v.scoreGen[it], v.score[it] = v.gen, 0
				v.candidates = append(v.candidates, scored{item: it})
			}
			v.score[it] += sim * decay
		}
	}
	for i := range v.candidates {
		v.candidates[i].score = v.score[v.candidates[i].item]
	}
	top(v.candidates, func(s scored) bool { return excluded(q, v.items.ids[s.item]) }, q.K, &v.out, v.items.ids)
	return v.out, nil
}

func (v *vsknn) Close() error { return nil }
