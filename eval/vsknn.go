package eval

import (
	"cmp"
	"slices"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// VSKNNOptions configures the V-SKNN baseline. Zero fields take the
// defaults of Ludewig and Jannach's evaluation (session-rec), but for
// Context.
type VSKNNOptions struct {
	// Neighbors is k, the neighbour sessions that vote. Default 100.
	Neighbors int
	// Sample is how many of the most recent sessions sharing an item with
	// the context are candidates. Default 1000.
	Sample int
	// Context is how many of the user's latest distinct items, across
	// sessions, stand for the current session. Default 20, as many as
	// tailor seeds from (the paper takes the whole current session).
	Context int
}

// vsknn is V-SKNN (Ludewig and Jannach 2018, "Evaluation of session-based
// recommendation algorithms"): the context is a vector whose items weigh
// more the later they came (an item with b context items after it weighs
// (L-b)/L, so the items of the latest moment weigh 1); candidate
// neighbours are the most recent past sessions of other users sharing an
// item with it; a neighbour's similarity is its dot product with that
// vector over L; the k most similar vote for their items with their
// similarity, discounted by 1/d, where d-1 counts the context's items after
// the latest one the neighbour shares.
//
// The context is the user's latest items across sessions (their own past
// sessions are not neighbours: the context already holds them).
type vsknn struct {
	base
	opts VSKNNOptions
	idx  sessionIndex
	w    []float64
}

func newVSKNN(l *datasets.Log, gap time.Duration, o VSKNNOptions) *vsknn {
	if o.Neighbors <= 0 {
		o.Neighbors = 100
	}
	if o.Sample <= 0 {
		o.Sample = 1000
	}
	if o.Context <= 0 {
		o.Context = 20
	}
	return &vsknn{base: newBase("vsknn", l), opts: o, idx: newSessionIndex(gap)}
}

func (v *vsknn) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		v.idx.add(&events[i], v.observe(&events[i]))
	}
	return nil
}

func (v *vsknn) Recommend(q *Query) ([]string, error) {
	v.ctx = v.hist.context(q.User, v.opts.Context, 0, v.ctx)
	L := float64(len(v.ctx))
	v.w = v.w[:0]
	for _, x := range v.ctx {
		v.w = append(v.w, (L-float64(x.back))/L)
	}
	idx := &v.idx
	nbrs := idx.neighbors(q.User, v.ctx, v.w, v.opts.Sample)
	for _, n := range nbrs {
		idx.sim[n] /= L
	}
	nbrs = idx.closest(v.opts.Neighbors)
	v.tally.reset()
	for _, n := range nbrs {
		latest := int32(len(v.ctx))
		for _, it := range idx.items[n] {
			if b, ok := idx.inContext(it); ok && b < latest {
				latest = b
			}
		}
		vote := idx.sim[n] / float64(1+latest)
		for _, it := range idx.items[n] {
			v.tally.add(it, vote)
		}
	}
	return v.answer(q), nil
}

// sessionIndex holds past sessions for the session-based neighbourhoods:
// each session's distinct items with the moment (counted from 0) of their
// latest occurrence in it, its user and its latest time, and each item's
// sessions.
type sessionIndex struct {
	sess     *sessions
	users    map[string]int32
	items    [][]int32 // session -> its distinct items, in order
	pos      [][]int32 // session -> the moment of each item's latest occurrence
	moment   []int32   // session -> its latest moment
	ts       []int64   // session -> time of its latest event
	owner    []int32   // session -> its user
	itemSess [][]int32 // item -> the sessions holding it, oldest first

	gen     uint32
	sim     []float64 // session -> similarity, valid when simGen is gen
	simGen  []uint32
	touched []int32
	ctxBack []int32 // item -> its back in the context, when ctxGen is gen
	ctxGen  []uint32
}

func newSessionIndex(gap time.Duration) sessionIndex {
	return sessionIndex{sess: newSessions(gap), users: map[string]int32{}}
}

func (x *sessionIndex) add(e *datasets.Interaction, o int32) {
	s, fresh, _ := x.sess.of(e)
	if fresh {
		u, ok := x.users[e.User]
		if !ok {
			u = int32(len(x.users))
			x.users[e.User] = u
		}
		x.items = append(x.items, nil)
		x.pos = append(x.pos, nil)
		x.moment = append(x.moment, -1)
		x.ts = append(x.ts, e.TS)
		x.owner = append(x.owner, u)
		x.sim = append(x.sim, 0)
		x.simGen = append(x.simGen, 0)
	}
	if x.moment[s] < 0 || e.TS != x.ts[s] {
		x.moment[s]++
	}
	x.ts[s] = e.TS
	for int(o) >= len(x.itemSess) {
		x.itemSess = append(x.itemSess, nil)
		x.ctxBack = append(x.ctxBack, 0)
		x.ctxGen = append(x.ctxGen, 0)
	}
	if i := slices.Index(x.items[s], o); i >= 0 {
		x.pos[s][i] = x.moment[s]
		return
	}
	x.items[s] = append(x.items[s], o)
	x.pos[s] = append(x.pos[s], x.moment[s])
	x.itemSess[o] = append(x.itemSess[o], s)
}

// neighbors marks the context's items, gathers the sample most recent
// sessions of other users than user sharing an item with ctx, and sets
// each one's sim to the sum of the weights w of the context's items it
// holds.
func (x *sessionIndex) neighbors(user string, ctx []ctxItem, w []float64, sample int) []int32 {
	x.gen++
	x.touched = x.touched[:0]
	u, known := x.users[user]
	if !known {
		u = -1
	}
	for i, c := range ctx {
		if int(c.item) >= len(x.itemSess) {
			continue
		}
		x.ctxBack[c.item], x.ctxGen[c.item] = c.back, x.gen
		list := x.itemSess[c.item]
		if len(list) > sample {
			list = list[len(list)-sample:]
		}
		for _, n := range list {
			if x.owner[n] == u {
				continue
			}
			if x.simGen[n] != x.gen {
				x.simGen[n], x.sim[n] = x.gen, 0
				x.touched = append(x.touched, n)
			}
			x.sim[n] += w[i]
		}
	}
	if len(x.touched) > sample {
		slices.SortFunc(x.touched, func(a, b int32) int {
			if c := cmp.Compare(x.ts[b], x.ts[a]); c != 0 {
				return c
			}
			return cmp.Compare(b, a)
		})
		x.touched = x.touched[:sample]
	}
	return x.touched
}

// closest keeps the k gathered sessions of the highest sim (ties: the
// later session).
func (x *sessionIndex) closest(k int) []int32 {
	slices.SortFunc(x.touched, func(a, b int32) int {
		if c := cmp.Compare(x.sim[b], x.sim[a]); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	if len(x.touched) > k {
		x.touched = x.touched[:k]
	}
	return x.touched
}

// inContext returns the back of item it in the context last marked.
func (x *sessionIndex) inContext(it int32) (int32, bool) {
	if x.ctxGen[it] != x.gen {
		return 0, false
	}
	return x.ctxBack[it], true
}
