package eval

import (
	"cmp"
	"slices"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

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

func excluded(q *Query, id string) bool {
	if q.Repeats {
		return false
	}
	_, seen := q.SeenSet[id]
	return seen
}

// popularity recommends the items with the most events so far, all users
// together. Counts only grow by one, so the ranking is kept sorted with
// constant work per event: items of equal count are contiguous, and an item
// that gains an event swaps places with the first item of its count, which
// puts it at the end of the block of the next count.
type popularity struct {
	items *items
	order []int32 // items by count, highest first
	pos   []int32 // item -> index in order
	count []int32
	start []int32 // count -> index in order of its first item
	size  []int32 // count -> how many items have it
	out   []string
}

func newPopularity(l *datasets.Log) *popularity {
	p := &popularity{items: newItems(l), start: []int32{0}, size: []int32{0}}
	for i := range p.items.ids {
		p.add(int32(i))
	}
	return p
}

// add appends a new item, with count 0, at the end of the order.
func (p *popularity) add(o int32) {
	p.order = append(p.order, o)
	p.pos = append(p.pos, int32(len(p.order)-1))
	p.count = append(p.count, 0)
	if p.size[0] == 0 {
		p.start[0] = int32(len(p.order) - 1)
	}
	p.size[0]++
}

func (p *popularity) Name() string { return "popularity" }

func (p *popularity) inc(id string) {
	o := p.items.get(id)
	if int(o) == len(p.count) {
		p.add(o)
	}
	c := p.count[o]
	if int(c+1) == len(p.start) {
		p.start = append(p.start, 0)
		p.size = append(p.size, 0)
	}
	f := p.start[c]
	other := p.order[f]
	p.order[f], p.order[p.pos[o]] = o, other
	p.pos[other], p.pos[o] = p.pos[o], f
	p.start[c]++
	p.size[c]--
	if p.size[c+1] == 0 {
		p.start[c+1] = f
	}
	p.size[c+1]++
	p.count[o]++
}

func (p *popularity) Recommend(q *Query) ([]string, error) {
	p.out = p.out[:0]
	for _, o := range p.order {
		if len(p.out) == q.K || p.count[o] == 0 {
			break
		}
		if id := p.items.ids[o]; !excluded(q, id) {
			p.out = append(p.out, id)
		}
	}
	return p.out, nil
}

func (p *popularity) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for _, e := range events {
		p.inc(e.Item)
	}
	return nil
}

func (p *popularity) Close() error { return nil }

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

// covisit recommends the items seen most often in the same session as the
// user's last item, each item counting with the five before it.
type covisit struct {
	items    *items
	sess     *sessions
	recent   map[int32][]int32 // session -> its latest items
	nbrs     []map[int32]float32
	lastItem map[string]int32
	scratch  []scored
	out      []string
}

type scored struct {
	item  int32
	score float64
}

func newCovisit(l *datasets.Log, gap time.Duration) *covisit {
	return &covisit{items: newItems(l), sess: newSessions(gap), recent: map[int32][]int32{}, lastItem: map[string]int32{}}
}

func (c *covisit) Name() string { return "covisit" }

func (c *covisit) Observe(events []datasets.Interaction, _ *Query, _ []string) error {
	for i := range events {
		e := &events[i]
		o := c.items.get(e.Item)
		for int(o) >= len(c.nbrs) {
			c.nbrs = append(c.nbrs, nil)
		}
		s, fresh, old := c.sess.of(e)
		if fresh && old >= 0 {
			delete(c.recent, old)
		}
		prev := c.recent[s]
		for _, p := range prev {
			if p == o {
				continue
			}
			if c.nbrs[o] == nil {
				c.nbrs[o] = map[int32]float32{}
			}
			if c.nbrs[p] == nil {
				c.nbrs[p] = map[int32]float32{}
			}
			c.nbrs[o][p]++
			c.nbrs[p][o]++
		}
		if !slices.Contains(prev, o) {
			prev = append(prev, o)
			if len(prev) > 5 {
				prev = prev[1:]
			}
		}
		c.recent[s] = prev
		c.lastItem[e.User] = o
	}
	return nil
}

func (c *covisit) Recommend(q *Query) ([]string, error) {
	c.out = c.out[:0]
	last, ok := c.lastItem[q.User]
	if !ok {
		return c.out, nil
	}
	c.scratch = c.scratch[:0]
	for o, n := range c.nbrs[last] {
		c.scratch = append(c.scratch, scored{o, float64(n)})
	}
	top(c.scratch, func(s scored) bool { return excluded(q, c.items.ids[s.item]) }, q.K, &c.out, c.items.ids)
	return c.out, nil
}

func (c *covisit) Close() error { return nil }

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
