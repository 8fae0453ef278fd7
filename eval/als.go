package eval

import (
	"math/rand/v2"

	"github.com/tailor-dev/tailor/datasets"
)

// ALSOptions configures the als baseline. Zero fields take their defaults,
// those of Hu, Koren and Volinsky (2008) where the paper gives one.
type ALSOptions struct {
	// Factors is the length of the user and item vectors. Default 64.
	Factors int
	// Alpha scales the confidence of a user-item pair with n events,
	// 1 + Alpha·n. Default 40, the paper's.
	Alpha float64
	// Lambda is the L2 regularization of every vector. Default 0.1.
	Lambda float64
	// Every is how many points (see Replay) pass between two trainings.
	// Default 2000.
	Every int
	// Iterations is how many alternating sweeps a training runs, warm
	// started from the previous model's vectors; the first training runs
	// five times as many. Default 3.
	Iterations int
	// CGSteps is how many conjugate gradient steps solve each vector within
	// a sweep (Takács, Pilászy and Tikk 2011). Default 3.
	CGSteps int
	// Seed seeds the vectors' random start. Default 1.
	Seed uint64
}

// als is implicit-feedback matrix factorization by alternating least
// squares (Hu, Koren and Volinsky 2008, "Collaborative filtering for
// implicit feedback datasets"): every user-item pair is a preference (1 if
// the user had the item, else 0) with a confidence (1 + Alpha·events), and
// user and item vectors minimise the confidence-weighted squared error plus
// Lambda times their squared norms. It trains on the interactions seen so
// far every Every points, in replay time, warm started and deterministic.
// A list scores every trained item by its dot product with the user's
// vector, which is solved afresh at each question from the user's
// interactions so far against the current item vectors (the "fold-in"), so
// that it is never staler than the user's latest event.
//
// ALS rather than BPR: its user step is a least-squares solve, so a user's
// vector is recomputed from everything they did up to the question between
// two trainings, where BPR would need a stochastic fit; and it needs no
// sampling of negatives, so a fixed seed is its only randomness.
type als struct {
	base
	opts   ALSOptions
	rng    *rand.Rand
	users  map[string]int32
	rows   []alsRow  // user -> items and counts
	x, y   []float64 // user and item vectors, row-major
	nx, ny int       // vectors trained so far
	gy     []float64 // YᵀY of the current item vectors
	points int
	next   int // points at the next training
	trains int

	cols     []alsRow // item -> users and counts, rebuilt at each training
	g        []float64
	v        []float64 // a user's vector being folded in
	r, p, ap []float64
	best     []scored
}

// alsRow is one user's (or item's) interactions: who or what, how many.
type alsRow struct {
	idx []int32
	n   []float32
	at  map[int32]int32 // idx -> position, for the users' rows
}

func newALS(l *datasets.Log, o ALSOptions) *als {
	if o.Factors <= 0 {
		o.Factors = 64
	}
	if o.Alpha <= 0 {
		o.Alpha = 40
	}
	if o.Lambda <= 0 {
		o.Lambda = 0.1
	}
	if o.Every <= 0 {
		o.Every = 2000
	}
	if o.Iterations <= 0 {
		o.Iterations = 3
	}
	if o.CGSteps <= 0 {
		o.CGSteps = 3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	f := o.Factors
	return &als{base: newBase("als", l), opts: o, rng: rand.New(rand.NewPCG(o.Seed, 0)), users: map[string]int32{}, next: o.Every,
		g: make([]float64, f*f), gy: make([]float64, f*f), v: make([]float64, f), r: make([]float64, f), p: make([]float64, f), ap: make([]float64, f)}
}

func (m *als) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		o := m.observe(&events[i])
		u, ok := m.users[events[i].User]
		if !ok {
			u = int32(len(m.rows))
			m.users[events[i].User] = u
			m.rows = append(m.rows, alsRow{at: map[int32]int32{}})
		}
		h := &m.rows[u]
		if j, ok := h.at[o]; ok {
			h.n[j]++
		} else {
			h.at[o] = int32(len(h.idx))
			h.idx = append(h.idx, o)
			h.n = append(h.n, 1)
		}
	}
	if m.points++; m.points >= m.next {
		m.train()
		m.next = m.points + m.opts.Every
	}
	return nil
}

// train runs the sweeps over the interactions so far, new users and items
// starting from small random vectors.
func (m *als) train() {
	f := m.opts.Factors
	grow := func(vecs []float64, n int) []float64 {
		for len(vecs) < n*f {
			vecs = append(vecs, 0.01*m.rng.NormFloat64())
		}
		return vecs
	}
	m.nx, m.ny = len(m.rows), len(m.items.ids)
	m.x, m.y = grow(m.x, m.nx), grow(m.y, m.ny)
	m.cols = m.cols[:0]
	for range m.ny {
		m.cols = append(m.cols, alsRow{})
	}
	for u := range m.rows {
		h := &m.rows[u]
		for j, it := range h.idx {
			c := &m.cols[it]
			c.idx, c.n = append(c.idx, int32(u)), append(c.n, h.n[j])
		}
	}
	iters := m.opts.Iterations
	if m.trains == 0 {
		iters *= 5
	}
	m.trains++
	for range iters {
		gram(m.g, m.y, m.ny, f)
		for u := range m.nx {
			m.solve(m.x[u*f:(u+1)*f], m.g, &m.rows[u], m.y, m.opts.CGSteps)
		}
		gram(m.g, m.x, m.nx, f)
		for i := range m.ny {
			m.solve(m.y[i*f:(i+1)*f], m.g, &m.cols[i], m.x, m.opts.CGSteps)
		}
	}
	gram(m.gy, m.y, m.ny, f)
}

// gram sets g to VᵀV over the first n rows of v.
func gram(g, v []float64, n, f int) {
	clear(g)
	for r := range n {
		row := v[r*f : (r+1)*f]
		for a, va := range row {
			ga := g[a*f : (a+1)*f]
			for b, vb := range row {
				ga[b] += va * vb
			}
		}
	}
}

// solve moves x towards the solution of (G + λI + Σ (c-1) v vᵀ) x = Σ c v,
// the sums over row's entries (v their vectors in vecs, c their
// confidences), by conjugate gradient steps from x.
func (m *als) solve(x, g []float64, row *alsRow, vecs []float64, steps int) {
	f, lambda, alpha := m.opts.Factors, m.opts.Lambda, m.opts.Alpha
	r, p, ap := m.r, m.p, m.ap
	// r = b - A x
	mulAdd(r, g, x, lambda, f)
	for k := range r {
		r[k] = -r[k]
	}
	for j, o := range row.idx {
		if int(o)*f >= len(vecs) {
			continue
		}
		v := vecs[int(o)*f : (int(o)+1)*f]
		c := alpha * float64(row.n[j])
		coef := 1 + c - c*dot(v, x)
		for k := range r {
			r[k] += coef * v[k]
		}
	}
	copy(p, r)
	rs := dot(r, r)
	for range steps {
		if rs < 1e-12 {
			break
		}
		mulAdd(ap, g, p, lambda, f)
		for j, o := range row.idx {
			if int(o)*f >= len(vecs) {
				continue
			}
			v := vecs[int(o)*f : (int(o)+1)*f]
			c := alpha * float64(row.n[j]) * dot(v, p)
			for k := range ap {
				ap[k] += c * v[k]
			}
		}
		a := rs / dot(p, ap)
		for k := range x {
			x[k] += a * p[k]
			r[k] -= a * ap[k]
		}
		next := dot(r, r)
		for k := range p {
			p[k] = r[k] + next/rs*p[k]
		}
		rs = next
	}
}

// mulAdd sets dst to (G + λI) x.
func mulAdd(dst, g, x []float64, lambda float64, f int) {
	for a := range dst {
		dst[a] = dot(g[a*f:(a+1)*f], x) + lambda*x[a]
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func (m *als) Recommend(q *Query) ([]string, error) {
	m.out = m.out[:0]
	u, ok := m.users[q.User]
	if m.ny == 0 || !ok {
		return m.fill.complete(q, m.out, m.items.ids), nil
	}
	f := m.opts.Factors
	v := m.v
	if int(u) < m.nx {
		copy(v, m.x[int(u)*f:(int(u)+1)*f])
	} else {
		clear(v)
	}
	m.solve(v, m.gy, &m.rows[u], m.y, 2*m.opts.CGSteps)
	// The q.K best items not excluded, kept sorted by an insertion.
	m.best = m.best[:0]
	for i := range m.ny {
		s := dot(v, m.y[i*f:(i+1)*f])
		if len(m.best) == q.K && s <= m.best[q.K-1].score {
			continue
		}
		if excluded(q, m.items.ids[i]) {
			continue
		}
		j := len(m.best)
		if j < q.K {
			m.best = append(m.best, scored{})
		} else {
			j--
		}
		for j > 0 && m.best[j-1].score < s {
			m.best[j] = m.best[j-1]
			j--
		}
		m.best[j] = scored{int32(i), s}
	}
	for _, s := range m.best {
		m.out = append(m.out, m.items.ids[s.item])
	}
	return m.fill.complete(q, m.out, m.items.ids), nil
}
