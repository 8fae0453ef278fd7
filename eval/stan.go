package eval

import (
	"math"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// STANOptions configures the stan baseline. Zero fields take the defaults
// of session-rec's STAN, the implementation of Garg et al. (SIGIR 2019),
// but for Context.
type STANOptions struct {
	// Neighbors is k, the neighbour sessions that vote. Default 1500.
	Neighbors int
	// Sample is how many of the most recent sessions sharing an item with
	// the context are candidates. Default 5000.
	Sample int
	// Lambda1 decays a context item's weight with the items after it: an
	// item with b context items after it weighs exp(-b/Lambda1). Default
	// 1.02.
	Lambda1 float64
	// Lambda2 decays a neighbour by its age: a session whose latest event
	// is t older than the most recent candidate's weighs exp(-t/Lambda2).
	// Default 5 days.
	Lambda2 time.Duration
	// Lambda3 decays a neighbour's vote for an item with its distance, in
	// moments, from the neighbour's latest moment holding a context item:
	// exp(-d/Lambda3). Default 2.05.
	Lambda3 float64
	// Context is how many of the user's latest distinct items, across
	// sessions, stand for the current session. Default 20, as many as
	// tailor seeds from (the paper takes the whole current session).
	Context int
}

// stan is STAN, Sequence and Time Aware Neighborhood (Garg, Gupta, Jannach
// et al., SIGIR 2019, "Sequence and Time Aware Neighborhood for
// Session-based Recommendations"): V-SKNN with three decays. The context's
// items weigh exp(-b/λ1) (b: context items after it; the latest moment
// weighs 1); a neighbour's similarity is the cosine of that vector with
// the neighbour's items, sum of the shared items' weights over sqrt(sum of
// squared weights × the neighbour's length), times exp(-age/λ2); the k
// most similar vote for each of their items with their similarity times
// exp(-|p - p*|/λ3), p being the moment of the item in the neighbour and
// p* the latest moment of the neighbour holding a context item (as
// session-rec computes it).
//
// The context is the user's latest items across sessions (their own past
// sessions are not neighbours).
type stan struct {
	base
	opts STANOptions
	idx  sessionIndex
	w    []float64
}

func newSTAN(l *datasets.Log, gap time.Duration, o STANOptions) *stan {
	if o.Neighbors <= 0 {
		o.Neighbors = 1500
	}
	if o.Sample <= 0 {
		o.Sample = 5000
	}
	if o.Lambda1 <= 0 {
		o.Lambda1 = 1.02
	}
	if o.Lambda2 <= 0 {
		o.Lambda2 = 5 * 24 * time.Hour
	}
	if o.Lambda3 <= 0 {
		o.Lambda3 = 2.05
	}
	if o.Context <= 0 {
		o.Context = 20
	}
	return &stan{base: newBase("stan", l), opts: o, idx: newSessionIndex(gap)}
}

func (s *stan) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		s.idx.add(&events[i], s.observe(&events[i]))
	}
	return nil
}

func (s *stan) Recommend(q *Query) ([]string, error) {
	s.ctx = s.hist.context(q.User, s.opts.Context, 0, s.ctx)
	s.w = s.w[:0]
	norm := 0.0
	for _, x := range s.ctx {
		w := math.Exp(-float64(x.back) / s.opts.Lambda1)
		s.w = append(s.w, w)
		norm += w * w
	}
	idx := &s.idx
	nbrs := idx.neighbors(q.User, s.ctx, s.w, s.opts.Sample)
	// exp(-age/λ2) is taken relative to the most recent candidate: a
	// factor common to all, which leaves every ranking as it was but keeps
	// the weights from underflowing to 0 when all the neighbours are old.
	lambda2 := float64(s.opts.Lambda2.Milliseconds())
	latest := int64(math.MinInt64)
	for _, n := range nbrs {
		latest = max(latest, idx.ts[n])
	}
	for _, n := range nbrs {
		age := float64(latest - idx.ts[n])
		idx.sim[n] = idx.sim[n] / math.Sqrt(norm*float64(len(idx.items[n]))) * math.Exp(-age/lambda2)
	}
	nbrs = idx.closest(s.opts.Neighbors)
	s.tally.reset()
	for _, n := range nbrs {
		star := int32(-1)
		for i, it := range idx.items[n] {
			if _, ok := idx.inContext(it); ok {
				star = max(star, idx.pos[n][i])
			}
		}
		for i, it := range idx.items[n] {
			d := math.Abs(float64(idx.pos[n][i] - star))
			s.tally.add(it, idx.sim[n]*math.Exp(-d/s.opts.Lambda3))
		}
	}
	return s.answer(q), nil
}
