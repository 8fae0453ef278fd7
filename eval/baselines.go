package eval

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// The baselines share four rules, so that they differ from each other and
// from tailor only in how they score:
//
//   - Context: a user's context is their history across sessions, their
//     latest distinct items however many a method uses (histories.context),
//     not only their current session.
//   - Ties: a user's events with the same time (the lines of one basket) are
//     one moment. Its items share one position and one recency weight and
//     are never ordered by line.
//   - Seen items: excluded(q, id) drops the items the user already had,
//     unless the replay counts repeats.
//   - Fill: every list is completed to q.K with the items most popular under
//     a popularity that halves every 48 hours, the default half-life of
//     tailor's trending (index.Options.PopularityHalfLife), so that no
//     baseline loses points for a short list tailor would have filled.

// fillHalfLife is the half-life of the popularity every baseline's list is
// completed with: tailor's trending default.
const fillHalfLife = 48 * time.Hour

// items numbers a log's item ids densely, for the baselines' arrays.
type items struct {
	ids []string
	ord map[string]int32
}

func newItems(l *datasets.Log) *items {
	x := &items{ord: make(map[string]int32, len(l.Items))}
	for _, it := range l.Items {
		x.get(it.ID)
	}
	return x
}

func (x *items) get(id string) int32 {
	o, ok := x.ord[id]
	if !ok {
		o = int32(len(x.ids))
		x.ord[id] = o
		x.ids = append(x.ids, id)
	}
	return o
}

// excluded reports whether id may not be recommended for q: an item the
// user already had, unless the replay counts repeats.
func excluded(q *Query, id string) bool {
	if q.Repeats {
		return false
	}
	_, seen := q.SeenSet[id]
	return seen
}

// moments calls f with each run of events of one user, session and time:
// one moment, whose items are tied.
func moments(events []datasets.Interaction, f func(m []datasets.Interaction)) {
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && events[j].User == events[i].User && events[j].Session == events[i].Session && events[j].TS == events[i].TS {
			j++
		}
		f(events[i:j])
		i = j
	}
}

// ctxItem is one item of a user's context.
type ctxItem struct {
	item int32
	ts   int64
	// step counts the user's moments after the item's, and back the
	// context's items in them: both are 0 for the items of the latest
	// moment, and equal for the items of one moment.
	step, back int32
}

// histories keeps every user's events, for their context.
type histories struct {
	users map[string][]histEvent
	gen   uint32
	mark  []uint32 // item -> gen when in the context being built
}

type histEvent struct {
	item int32
	ts   int64
}

func newHistories() *histories { return &histories{users: map[string][]histEvent{}} }

func (h *histories) add(user string, item int32, ts int64) {
	h.users[user] = append(h.users[user], histEvent{item, ts})
	for int(item) >= len(h.mark) {
		h.mark = append(h.mark, 0)
	}
}

// context appends the user's latest distinct items to dst, latest first
// (each at its latest occurrence): at most maxItems of them from at most
// maxMoments moments, 0 meaning no limit. A moment is cut only by maxItems,
// and then the items that make it are the log's last lines of it (their
// weights stay tied).
func (h *histories) context(user string, maxItems, maxMoments int, dst []ctxItem) []ctxItem {
	dst = dst[:0]
	ev := h.users[user]
	h.gen++
	step, back := int32(-1), int32(0)
	var ts int64
	for i := len(ev) - 1; i >= 0; i-- {
		e := ev[i]
		if step < 0 || e.ts != ts {
			if maxMoments > 0 && int(step+1) == maxMoments {
				break
			}
			step, ts, back = step+1, e.ts, int32(len(dst))
		}
		if h.mark[e.item] == h.gen {
			continue
		}
		h.mark[e.item] = h.gen
		dst = append(dst, ctxItem{item: e.item, ts: e.ts, step: step, back: back})
		if len(dst) == maxItems {
			break
		}
	}
	return dst
}

// trending ranks items by their events, each weighing 2^(-age/halfLife),
// or by their plain counts when halfLife is 0. As in tailor's index, scores
// are kept scaled to a reference time, so that decay, which multiplies all
// of them alike, never reorders them; the order is kept sorted as events
// come, by moving the item that gained up past those it now outranks.
type trending struct {
	halfLife float64 // milliseconds; 0: no decay
	t0       int64
	score    []float64 // by item
	pos      []int32   // item -> index in order, -1 before its first event
	order    []int32   // items with events, best first (ties: lower ordinal)
}

func newTrending(halfLife time.Duration) *trending {
	return &trending{halfLife: float64(halfLife.Milliseconds()), t0: math.MinInt64}
}

func (p *trending) add(o int32, ts int64) {
	w := 1.0
	if p.halfLife > 0 {
		if p.t0 == math.MinInt64 {
			p.t0 = ts
		}
		exp := float64(ts-p.t0) / p.halfLife
		if exp > 512 {
			f := math.Exp2(-exp)
			for i := range p.score {
				p.score[i] *= f
			}
			p.t0, exp = ts, 0
		}
		w = math.Exp2(exp)
	}
	for int(o) >= len(p.score) {
		p.score = append(p.score, 0)
		p.pos = append(p.pos, -1)
	}
	if p.pos[o] < 0 {
		p.pos[o] = int32(len(p.order))
		p.order = append(p.order, o)
	}
	p.score[o] += w
	for i := p.pos[o]; i > 0; i-- {
		prev := p.order[i-1]
		if p.score[prev] > p.score[o] || (p.score[prev] == p.score[o] && prev < o) {
			break
		}
		p.order[i], p.order[i-1] = prev, o
		p.pos[prev], p.pos[o] = i, i-1
	}
}

// complete appends to out, up to q.K, the best items of the ranking that
// are neither excluded nor in out already.
func (p *trending) complete(q *Query, out []string, ids []string) []string {
	n := len(out)
	for _, o := range p.order {
		if len(out) >= q.K {
			break
		}
		if id := ids[o]; !excluded(q, id) && !slices.Contains(out[:n], id) {
			out = append(out, id)
		}
	}
	return out
}

// base is what every baseline holds: the item numbering, the users'
// histories (the context rule), the popularity fill and the list it
// answers with.
type base struct {
	name    string
	items   *items
	hist    *histories
	fill    *trending
	ctx     []ctxItem
	tally   tally
	scratch []scored
	out     []string
}

func newBase(name string, l *datasets.Log) base {
	return base{name: name, items: newItems(l), hist: newHistories(), fill: newTrending(fillHalfLife)}
}

func (b *base) Name() string { return b.name }
func (b *base) Close() error { return nil }

// observe records events in the histories and the fill, and returns their
// items' ordinals in the order of events.
func (b *base) observe(e *datasets.Interaction) int32 {
	o := b.items.get(e.Item)
	b.hist.add(e.User, o, e.TS)
	b.fill.add(o, e.TS)
	return o
}

// answer ranks the tally's items, drops the excluded, and completes the
// list with the fill.
func (b *base) answer(q *Query) []string {
	b.scratch = b.scratch[:0]
	for _, o := range b.tally.list {
		if s := b.tally.val[o]; s > 0 {
			b.scratch = append(b.scratch, scored{o, s})
		}
	}
	b.out = b.out[:0]
	top(b.scratch, func(s scored) bool { return excluded(q, b.items.ids[s.item]) }, q.K, &b.out, b.items.ids)
	b.out = b.fill.complete(q, b.out, b.items.ids)
	return b.out
}

// tally sums scores by item, reset in constant time.
type tally struct {
	val  []float64
	gen  []uint32
	cur  uint32
	list []int32 // items with a score, in the order first added
}

func (t *tally) reset() {
	t.cur++
	t.list = t.list[:0]
}

func (t *tally) add(o int32, v float64) {
	for int(o) >= len(t.val) {
		t.val = append(t.val, 0)
		t.gen = append(t.gen, 0)
	}
	if t.gen[o] != t.cur {
		t.gen[o], t.val[o] = t.cur, 0
		t.list = append(t.list, o)
	}
	t.val[o] += v
}

// popularity recommends the items with the most events so far, all users
// together, ranked by plain counts (all time) or, for popularity-decayed,
// by counts that halve every half-life. It is its own fill.
type popularity struct {
	base
	rank *trending
}

// PopularityOptions configures the popularity-decayed baseline.
type PopularityOptions struct {
	// HalfLife is the age at which an event counts half. Default 48 hours,
	// tailor's trending default; 0 in the plain popularity baseline, which
	// counts all time.
	HalfLife time.Duration
}

func newPopularity(name string, l *datasets.Log, o PopularityOptions) *popularity {
	p := &popularity{base: newBase(name, l), rank: newTrending(o.HalfLife)}
	p.fill = p.rank
	return p
}

func (p *popularity) Recommend(q *Query) ([]string, error) {
	p.out = p.rank.complete(q, p.out[:0], p.items.ids)
	return p.out, nil
}

func (p *popularity) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		p.rank.add(p.items.get(events[i].Item), events[i].TS)
	}
	return nil
}

// sessions splits users' events into sessions: the log's own where it has
// them, otherwise runs without a gap longer than the session gap.
type sessions struct {
	gap  int64
	last map[string]userSession
	next int32
}

type userSession struct {
	id      int32
	ts      int64
	session string
}

func newSessions(gap time.Duration) *sessions {
	return &sessions{gap: gap.Milliseconds(), last: map[string]userSession{}}
}

// of returns the session of an event, whether it starts one, and the
// user's previous session (-1 for none) when it does.
func (s *sessions) of(e *datasets.Interaction) (id int32, fresh bool, prev int32) {
	u, ok := s.last[e.User]
	fresh = !ok || e.Session != u.session || (e.Session == "" && e.TS-u.ts > s.gap)
	prev = -1
	if fresh {
		if ok {
			prev = u.id
		}
		u.id = s.next
		s.next++
	}
	u.ts, u.session = e.TS, e.Session
	s.last[e.User] = u
	return u.id, fresh, prev
}

type scored struct {
	item  int32
	score float64
}

// top sorts list by score (ties by item id, so results are reproducible)
// and appends the ids of the first k not skipped to out.
func top(list []scored, skip func(scored) bool, k int, out *[]string, ids []string) {
	slices.SortFunc(list, func(a, b scored) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return cmp.Compare(ids[a.item], ids[b.item])
	})
	for _, s := range list {
		if len(*out) == k {
			break
		}
		if !skip(s) {
			*out = append(*out, ids[s.item])
		}
	}
}

// pairs is a sparse item-by-item matrix of weights.
type pairs []map[int32]float32

func (p *pairs) add(a, b int32, w float32) {
	for int(max(a, b)) >= len(*p) {
		*p = append(*p, nil)
	}
	m := (*p)[a]
	if m == nil {
		m = map[int32]float32{}
		(*p)[a] = m
	}
	m[b] += w
}

func (p pairs) row(a int32) map[int32]float32 {
	if int(a) >= len(p) {
		return nil
	}
	return p[a]
}

// best appends row's entries to dst, best first (ties by ordinal), cut to
// n when n > 0.
func best(row map[int32]float32, n int, dst []scored) []scored {
	dst = dst[:0]
	for o, w := range row {
		dst = append(dst, scored{o, float64(w)})
	}
	return bestOf(dst, n)
}

// bestOf cuts list to its n best (ties by ordinal) when n > 0 and it is
// longer.
func bestOf(list []scored, n int) []scored {
	if n > 0 && len(list) > n {
		slices.SortFunc(list, func(a, b scored) int {
			if a.score != b.score {
				return cmp.Compare(b.score, a.score)
			}
			return cmp.Compare(a.item, b.item)
		})
		list = list[:n]
	}
	return list
}
