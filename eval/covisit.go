package eval

import (
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// CovisitOptions configures the covisit baseline. Zero fields take their
// defaults.
type CovisitOptions struct {
	// Window is how many items back in a session an item is counted with
	// (whole moments: a basket is never cut). Default 5.
	Window int
	// Context is how many of the user's latest moments the list is scored
	// from, across sessions; the one s steps back weighs 1/(1+s). Default
	// 1: the latest item, or basket.
	Context int
}

// covisit recommends the items seen most often in the same session as the
// user's latest items: it counts, within each session, every item with the
// others of its moment and with the Window items before it, in both
// directions; a candidate scores the sum of its counts with the context's
// items, each weighted by its moment's recency.
type covisit struct {
	base
	opts   CovisitOptions
	sess   *sessions
	recent map[int32][][]int32 // session -> its latest moments' items, oldest first
	nbrs   pairs
}

func newCovisit(l *datasets.Log, gap time.Duration, o CovisitOptions) *covisit {
	if o.Window <= 0 {
		o.Window = 5
	}
	if o.Context <= 0 {
		o.Context = 1
	}
	return &covisit{base: newBase("covisit", l), opts: o, sess: newSessions(gap), recent: map[int32][][]int32{}}
}

func (c *covisit) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	moments(events, func(m []datasets.Interaction) {
		s, fresh, old := c.sess.of(&m[0])
		for i := 1; i < len(m); i++ {
			c.sess.of(&m[i])
		}
		if fresh && old >= 0 {
			delete(c.recent, old)
		}
		cur := distinct(m, c.observe)
		prev := c.recent[s]
		for i, a := range cur {
			for _, b := range cur[i+1:] {
				c.nbrs.add(a, b, 1)
				c.nbrs.add(b, a, 1)
			}
		}
		n := 0
		for k := len(prev) - 1; k >= 0 && n < c.opts.Window; k-- {
			for _, p := range prev[k] {
				if !contains(cur, p) {
					for _, a := range cur {
						c.nbrs.add(a, p, 1)
						c.nbrs.add(p, a, 1)
					}
				}
			}
			n += len(prev[k])
		}
		prev = append(prev, cur)
		// Keep the moments the next one may reach.
		n = 0
		k := len(prev) - 1
		for ; k > 0 && n+len(prev[k]) < c.opts.Window; k-- {
			n += len(prev[k])
		}
		c.recent[s] = prev[k:]
	})
	return nil
}

func (c *covisit) Recommend(q *Query) ([]string, error) {
	c.ctx = c.hist.context(q.User, 0, c.opts.Context, c.ctx)
	c.tally.reset()
	for _, x := range c.ctx {
		w := 1 / float64(1+x.step)
		for o, n := range c.nbrs.row(x.item) {
			c.tally.add(o, w*float64(n))
		}
	}
	return c.answer(q), nil
}

// distinct observes a moment's events through observe and returns its
// distinct items in a new slice.
func distinct(m []datasets.Interaction, observe func(*datasets.Interaction) int32) []int32 {
	out := make([]int32, 0, len(m))
	for i := range m {
		if o := observe(&m[i]); !contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

func contains(s []int32, o int32) bool {
	for _, x := range s {
		if x == o {
			return true
		}
	}
	return false
}
