package eval

import (
	"math"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// IKNNOptions configures the iknn baseline. Zero fields take the defaults
// of session-rec's ItemKNN, the implementation behind Ludewig and Jannach
// (2018).
type IKNNOptions struct {
	// Neighbors is how many most similar items each context item
	// proposes. Default 100.
	Neighbors int
	// Shrink is added to the cosine's denominator, so that items seen
	// together a few times only do not look alike. Default 20.
	Shrink float64
	// Context is how many of the user's latest moments the list is scored
	// from; the one s steps back weighs 1/(1+s). Default 1: the latest item,
	// or basket, as in the paper.
	Context int
	// ByUser takes the items' occurrence vectors over users instead of
	// sessions. A user's history is long, so an item is counted with the
	// user's latest 100 distinct items before it only. Default false.
	ByUser bool
}

// userWindow is how many of a user's items back an item is counted with
// when IKNNOptions.ByUser.
const userWindow = 100

// iknn is item-kNN: each item is a binary vector over sessions (or users),
// two items' similarity is their cosine, co(a, b) / (sqrt(n(a) n(b)) +
// Shrink), and a candidate scores the sum of its similarities to the
// context's items, among each one's Neighbors most similar.
type iknn struct {
	base
	opts   IKNNOptions
	sess   *sessions
	basket map[int32][]int32 // session (or user) -> its distinct items, in order
	user   map[string]int32
	co     pairs
	n      []float64 // item -> sessions (or users) holding it
	row    []scored
}

func newIKNN(l *datasets.Log, gap time.Duration, o IKNNOptions) *iknn {
	if o.Neighbors <= 0 {
		o.Neighbors = 100
	}
	if o.Shrink == 0 {
		o.Shrink = 20
	}
	if o.Context <= 0 {
		o.Context = 1
	}
	return &iknn{base: newBase("iknn", l), opts: o, sess: newSessions(gap), basket: map[int32][]int32{}, user: map[string]int32{}}
}

func (k *iknn) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		e := &events[i]
		o := k.observe(e)
		for int(o) >= len(k.n) {
			k.n = append(k.n, 0)
		}
		s, fresh, old := k.sess.of(e)
		if k.opts.ByUser {
			id, ok := k.user[e.User]
			if !ok {
				id = int32(len(k.user))
				k.user[e.User] = id
			}
			s = id
		} else if fresh && old >= 0 {
			delete(k.basket, old)
		}
		b := k.basket[s]
		if contains(b, o) {
			continue
		}
		k.n[o]++
		window := b
		if k.opts.ByUser && len(window) > userWindow {
			window = window[len(window)-userWindow:]
		}
		for _, a := range window {
			k.co.add(a, o, 1)
			k.co.add(o, a, 1)
		}
		k.basket[s] = append(b, o)
	}
	return nil
}

func (k *iknn) Recommend(q *Query) ([]string, error) {
	k.ctx = k.hist.context(q.User, 0, k.opts.Context, k.ctx)
	k.tally.reset()
	for _, x := range k.ctx {
		w := 1 / float64(1+x.step)
		k.row = k.row[:0]
		na := k.n[x.item]
		for o, c := range k.co.row(x.item) {
			k.row = append(k.row, scored{o, float64(c) / (math.Sqrt(na*k.n[o]) + k.opts.Shrink)})
		}
		k.row = bestOf(k.row, k.opts.Neighbors)
		for _, s := range k.row {
			k.tally.add(s.item, w*s.score)
		}
	}
	return k.answer(q), nil
}
