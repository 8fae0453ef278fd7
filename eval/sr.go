package eval

import (
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// SROptions configures the sr baseline. Zero fields take the defaults of
// Ludewig, Latifi and Jannach (2019), "Empirical analysis of session-based
// recommendation algorithms".
type SROptions struct {
	// MaxStep is how many moments back a rule a -> b may reach. Default 10.
	MaxStep int
	// Pruning keeps each item's strongest rules only. Default 20;
	// negative: all.
	Pruning int
	// Context is how many of the user's latest moments the list is scored
	// from; the one s steps back weighs 1/(1+s). Default 1: the latest item,
	// or basket, as in the paper.
	Context int
	// AcrossSessions learns rules over each user's whole history instead
	// of within sessions. Default false, as in the paper.
	AcrossSessions bool
}

// sr is Sequential Rules: a rule a -> b gains 1/d each time b comes d
// moments after a in a session (d <= MaxStep). Items of one moment are tied:
// each is a rule of the other's, both ways, at d = 1. A candidate scores
// the sum of the rules from the context's items to it, each item's rules
// pruned to its strongest.
type sr struct {
	base
	opts   SROptions
	sess   *sessions
	recent map[int32][][]int32 // sequence -> its latest moments' items, oldest first
	seq    map[string]int32    // user -> their sequence, when across sessions
	rules  pairs
	best   []scored
}

func newSR(l *datasets.Log, gap time.Duration, o SROptions) *sr {
	if o.MaxStep <= 0 {
		o.MaxStep = 10
	}
	if o.Pruning == 0 {
		o.Pruning = 20
	}
	if o.Context <= 0 {
		o.Context = 1
	}
	return &sr{base: newBase("sr", l), opts: o, sess: newSessions(gap), recent: map[int32][][]int32{}, seq: map[string]int32{}}
}

func (r *sr) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	moments(events, func(m []datasets.Interaction) {
		s, fresh, old := r.sess.of(&m[0])
		for i := 1; i < len(m); i++ {
			r.sess.of(&m[i])
		}
		if r.opts.AcrossSessions {
			id, ok := r.seq[m[0].User]
			if !ok {
				id = int32(len(r.seq))
				r.seq[m[0].User] = id
			}
			s = -1 - id // apart from the session ids
		} else if fresh && old >= 0 {
			delete(r.recent, old)
		}
		cur := distinct(m, r.observe)
		for _, a := range cur {
			for _, b := range cur {
				if a != b {
					r.rules.add(a, b, 1)
				}
			}
		}
		prev := r.recent[s]
		for d := 1; d <= len(prev); d++ {
			for _, a := range prev[len(prev)-d] {
				for _, b := range cur {
					if a != b {
						r.rules.add(a, b, 1/float32(d))
					}
				}
			}
		}
		prev = append(prev, cur)
		if len(prev) > r.opts.MaxStep {
			prev = prev[len(prev)-r.opts.MaxStep:]
		}
		r.recent[s] = prev
	})
	return nil
}

func (r *sr) Recommend(q *Query) ([]string, error) {
	r.ctx = r.hist.context(q.User, 0, r.opts.Context, r.ctx)
	r.tally.reset()
	for _, x := range r.ctx {
		w := 1 / float64(1+x.step)
		r.best = best(r.rules.row(x.item), r.opts.Pruning, r.best)
		for _, s := range r.best {
			r.tally.add(s.item, w*s.score)
		}
	}
	return r.answer(q), nil
}
