package index

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// popularity keeps exponentially decayed event counts per item and, for the
// whole catalog and for every category, the list of the most popular items.
//
// Scores are stored scaled to a reference time t0: an event of weight w at time
// ts adds w*2^((ts-t0)/halfLife). Decay multiplies every score by the same
// factor, so it never changes the order and the top lists stay exact under
// increments alone; the scale is only applied when scores are read.
//
// Reads take no lock, so that a recommend never waits behind the events
// being counted: writers, one at a time, store scores atomically and change
// a top list under its sequence number (a reader that saw the list change
// reads it again); a change of reference time or of the arrays' sizes
// publishes a new state.
type popularity struct {
	mu       sync.Mutex // serializes writers
	halfLife float64    // milliseconds
	kept     int
	state    atomic.Pointer[popState]
}

// popState is what readers load at once: the reference time, the scores
// relative to it, and the top lists.
type popState struct {
	t0     int64
	score  []atomic.Uint64 // by ordinal, float64 bits
	global *topList
	byCat  []*topList // by category id; nil until counted
}

// topList is a list of ordinals, best first, that the writer changes in place
// while readers read it: seq is odd while a change is under way and moves on
// with every change, so that a reader who saw it odd or moved reads again.
type topList struct {
	seq  atomic.Uint64
	n    atomic.Int32
	ords []atomic.Int32 // capacity: popularity.kept
}

func (s *popState) scoreOf(ord int32) float64 {
	if int(ord) >= len(s.score) || ord < 0 {
		return 0
	}
	return math.Float64frombits(s.score[ord].Load())
}

func newPopularity(halfLifeMS int64, kept int) *popularity {
	return &popularity{halfLife: float64(halfLifeMS), kept: kept}
}

// add counts an event of weight w at ts for item ord in categories cats.
func (p *popularity) add(ord int32, cats []int32, w float64, ts int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state.Load()
	fresh := st == nil
	if fresh {
		// The first event sets the reference time (which may be zero).
		st = &popState{t0: ts, global: p.newList()}
	}
	exp := float64(ts-st.t0) / p.halfLife
	maxCat := int32(-1)
	for _, c := range cats {
		maxCat = max(maxCat, c)
	}
	if fresh || exp > 512 || int(ord) >= len(st.score) || int(maxCat) >= len(st.byCat) {
		st = p.grown(st, ord, maxCat, ts, exp > 512)
		exp = float64(ts-st.t0) / p.halfLife
		p.state.Store(st)
	}
	s := &st.score[ord]
	s.Store(math.Float64bits(math.Float64frombits(s.Load()) + w*math.Exp2(exp)))
	p.bump(st, st.global, ord)
	for _, c := range cats {
		if st.byCat[c] == nil {
			// Readers see a nil list as empty; a new state carries it.
			st = p.grown(st, ord, maxCat, ts, false)
			st.byCat[c] = p.newList()
			p.state.Store(st)
		}
		p.bump(st, st.byCat[c], ord)
	}
}

func (p *popularity) newList() *topList { return &topList{ords: make([]atomic.Int32, p.kept)} }

// grown returns a copy of st with room for ord and category maxCat and, when
// rebase is set, its scores moved to the reference time ts before the
// scale overflows. The lists are shared: only their scores' scale changes,
// which keeps their order. Readers of st go on seeing it whole.
func (p *popularity) grown(st *popState, ord, maxCat int32, ts int64, rebase bool) *popState {
	next := &popState{t0: st.t0, global: st.global, score: st.score}
	if rebase || int(ord) >= len(st.score) {
		// New scores; otherwise the states share them, as writers are one
		// at a time.
		f := 1.0
		if rebase {
			f = math.Exp2(-float64(ts-st.t0) / p.halfLife)
			next.t0 = ts
		}
		next.score = make([]atomic.Uint64, max(len(st.score), 2*int(ord)+1, 16))
		for i := range st.score {
			next.score[i].Store(math.Float64bits(math.Float64frombits(st.score[i].Load()) * f))
		}
	}
	next.byCat = make([]*topList, max(len(st.byCat), 2*int(maxCat)+1))
	copy(next.byCat, st.byCat)
	return next
}

// bump keeps l the kept most popular ordinals, best first, after ord's
// score rose.
func (p *popularity) bump(st *popState, l *topList, ord int32) {
	score := st.scoreOf(ord)
	// outranks reports whether ord now ranks above other: a higher score,
	// ties by ordinal.
	outranks := func(other int32) bool {
		if so := st.scoreOf(other); score != so {
			return score > so
		}
		return ord < other
	}
	n := int(l.n.Load())
	if n == p.kept && l.ords[n-1].Load() != ord && !outranks(l.ords[n-1].Load()) {
		// Not in the list (everything in it ranks above the last), and does
		// not outrank the last under the list's own order, ties by ordinal.
		return
	}
	i := -1
	for j := range n {
		if l.ords[j].Load() == ord {
			i = j
			break
		}
	}
	if i == 0 || (i > 0 && !outranks(l.ords[i-1].Load())) {
		return // already in its place
	}
	l.seq.Add(1) // odd: readers wait for the change
	defer l.seq.Add(1)
	if i < 0 {
		if n < p.kept {
			n++
			l.n.Store(int32(n))
		}
		i = n - 1
	}
	for ; i > 0; i-- {
		prev := l.ords[i-1].Load()
		if !outranks(prev) {
			break
		}
		l.ords[i].Store(prev)
	}
	l.ords[i].Store(ord)
}

// top appends up to k of the most popular items of category cat (every item
// when cat is negative) to dst, with their decayed scores as of now. keep
// filters out items the caller cannot use (or that have left the category since
// they were counted); skipped items do not count toward k.
func (p *popularity) top(cat int32, k int, now int64, keep func(ord, cat int32) bool, dst []Hit) []Hit {
	st := p.state.Load()
	if st == nil {
		return dst
	}
	l := st.global
	if cat >= 0 {
		if int(cat) >= len(st.byCat) {
			return dst
		}
		l = st.byCat[cat]
	}
	if l == nil {
		return dst
	}
	f := math.Exp2(float64(st.t0-now) / p.halfLife)
	from := len(dst)
	for {
		seq := l.seq.Load()
		if seq&1 == 1 {
			runtime.Gosched() // a change is under way: let the writer finish
			continue
		}
		n := 0
		for j, end := 0, int(l.n.Load()); j < end && n < k; j++ {
			ord := l.ords[j].Load()
			if keep != nil && !keep(ord, cat) {
				continue
			}
			dst = append(dst, Hit{Ord: ord, Score: st.scoreOf(ord) * f})
			n++
		}
		if l.seq.Load() == seq {
			return dst
		}
		dst = dst[:from] // changed while read: read it again
	}
}

// get returns the decayed score of ord as of now.
func (p *popularity) get(ord int32, now int64) float64 {
	st := p.state.Load()
	if st == nil {
		return 0
	}
	return st.scoreOf(ord) * math.Exp2(float64(st.t0-now)/p.halfLife)
}

// getAll appends the decayed scores of ords as of now to dst.
func (p *popularity) getAll(ords []int32, now int64, dst []float64) []float64 {
	st := p.state.Load()
	if st == nil {
		for range ords {
			dst = append(dst, 0)
		}
		return dst
	}
	f := math.Exp2(float64(st.t0-now) / p.halfLife)
	for _, o := range ords {
		dst = append(dst, st.scoreOf(o)*f)
	}
	return dst
}
