package index

import (
	"cmp"
	"container/heap"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/tailor-dev/tailor/internal/fnv"
)

// sessions remembers the latest sessions of every user and, for each item,
// the latest sessions that hold it: the neighbourhood of session-based
// nearest neighbours (V-SKNN, Ludewig and Jannach 2018; STAN, Garg et al.
// 2019), kept in bounded memory as VMIS-kNN does (Kersbergen et al. 2022,
// "Serenade"): a ring of the kept sessions, the oldest overwritten by the
// newest, and per item the latest sessions that held it. An item's entry
// for a session the ring has since overwritten is skipped.
//
// What an item keeps, and which sessions win ties, follow the sessions'
// times and users, not the order events arrive in: cluster nodes that read
// the partitions of the event log interleaved differently hold the same
// item lists and answer alike.
type sessions struct {
	mu      sync.RWMutex
	gap     int64 // a user's events further apart than this start a new session
	kept    int   // sessions kept, a power of two
	perItem int   // sessions kept per item
	length  int   // distinct items kept per session

	// The rings hold no pointers, so that the collector has nothing to
	// scan in them however many sessions are kept.
	ring     []session         // slot(seq) -> the session of that seq, grown up to kept
	items    []int32           // slot*length... -> the session's items, in order
	next     uint64            // seq of the next session, from 1
	open     map[uint64]uint64 // user hash -> seq of the user's latest session while kept
	byItem   []int32           // ordinal -> entries held in itemSeqs
	itemSeqs []itemEntry       // ordinal*perItem... -> the latest sessions holding it, oldest first
	load     *sessionLoader    // while a stored history is replayed

	scratch sync.Pool // *sessionScratch
}

// session is one user's run of events, none further than the gap from the
// one before.
type session struct {
	seq   uint64
	user  uint64 // hash of the user id
	start int64  // time of its first event
	ts    int64  // time of its latest event
	n     int32  // items held
}

// itemEntry is a session holding an item, ordered by its start, then its
// user.
type itemEntry struct {
	seq   uint64
	start int64
	user  uint64
}

func (e itemEntry) before(o itemEntry) bool {
	if e.start != o.start {
		return e.start < o.start
	}
	return e.user < o.user
}

func newSessions(gap int64, kept, perItem, length int) *sessions {
	kept = 1 << bits.Len(uint(kept-1)) // a mask finds a seq's slot
	return &sessions{gap: gap, kept: kept, perItem: perItem, length: length, next: 1, open: map[uint64]uint64{}}
}

// add records that user had item ord at ts.
func (x *sessions) add(user string, ord int32, ts int64) {
	u := fnv.String(fnv.Offset, user)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.load != nil {
		x.load.add(u, ord, ts, x)
		return
	}
	slot := x.current(u, ts)
	s := &x.ring[slot]
	if int(s.n) == x.length || slices.Contains(x.itemsOf(slot), ord) {
		return
	}
	x.items[slot*x.length+int(s.n)] = ord
	s.n++
	x.held(ord, itemEntry{seq: s.seq, start: s.start, user: s.user})
}

// itemsOf returns the items of the session in slot.
func (x *sessions) itemsOf(slot int) []int32 {
	at := slot * x.length
	return x.items[at : at+int(x.ring[slot].n)]
}

// entriesOf returns the sessions kept for ord, oldest first.
func (x *sessions) entriesOf(ord int32) []itemEntry {
	at := int(ord) * x.perItem
	return x.itemSeqs[at : at+int(x.byItem[ord])]
}

// sample returns the latest n sessions kept for ord (all when n is 0),
// oldest first.
func (x *sessions) sample(ord int32, n int) []itemEntry {
	list := x.entriesOf(ord)
	if n > 0 && len(list) > n {
		list = list[len(list)-n:]
	}
	return list
}

// held records that session e holds ord: among ord's latest perItem by
// start, in order.
func (x *sessions) held(ord int32, e itemEntry) {
	x.roomForItems(int(ord) + 1)
	at := int(ord) * x.perItem
	list := x.itemSeqs[at : at+int(x.byItem[ord])]
	if len(list) == x.perItem {
		if !list[0].before(e) {
			return // older than every session kept
		}
		copy(list, list[1:]) // the oldest makes room
		list = list[:len(list)-1]
	} else {
		x.byItem[ord]++
	}
	i := len(list)
	for i > 0 && e.before(list[i-1]) {
		i--
	}
	list = list[:len(list)+1]
	copy(list[i+1:], list[i:])
	list[i] = e
}

// roomForItems makes room for the entries of n ordinals.
func (x *sessions) roomForItems(n int) {
	if n > len(x.byItem) {
		x.byItem = append(x.byItem, make([]int32, n-len(x.byItem))...)
		x.itemSeqs = append(x.itemSeqs, make([]itemEntry, n*x.perItem-len(x.itemSeqs))...)
	}
}

// reserve takes the rings' full room, for every session kept, and room for
// the entries of n ordinals, for an index about to serve. Grown as sessions
// come, the rings would take their room in doublings of up to tens of
// megabytes (31 MB for the last at the defaults) and the item entries in
// steps as large, each an allocation the collector must then catch up with
// at a time the traffic chooses; taken before serving, they are what an
// index that has served a while holds anyway.
func (x *sessions) reserve(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if cap(x.ring) < x.kept {
		x.growRingsTo(x.kept)
	}
	x.roomForItems(n)
}

// current returns the slot of the session of user u that an event at ts
// belongs to, starting one when the user's latest has lapsed or been
// overwritten.
func (x *sessions) current(u uint64, ts int64) int {
	if seq, ok := x.open[u]; ok {
		slot := x.slot(seq)
		if s := &x.ring[slot]; s.seq == seq && ts-s.ts <= x.gap && ts >= s.ts-x.gap {
			s.ts = max(s.ts, ts)
			return slot
		}
	}
	return x.fresh(u, ts)
}

// slot returns the place of session seq in the ring.
func (x *sessions) slot(seq uint64) int { return int((seq - 1) & uint64(x.kept-1)) }

// fresh starts a session of user u at ts, overwriting the oldest kept, and
// returns its slot.
func (x *sessions) fresh(u uint64, ts int64) int {
	seq := x.next
	x.next++
	slot := x.slot(seq)
	if slot == len(x.ring) { // seqs are given out in order
		if len(x.ring) == cap(x.ring) {
			x.growRings()
		}
		x.ring = append(x.ring, session{})
		x.items = append(x.items, make([]int32, x.length)...)
	}
	s := &x.ring[slot]
	if s.seq != 0 && x.open[s.user] == s.seq {
		delete(x.open, s.user)
	}
	*s = session{seq: seq, user: u, start: ts, ts: ts}
	x.open[u] = seq
	return slot
}

// growRings doubles the room of the rings, up to the sessions kept. Grown
// by append alone, a ring of large slices grows by a quarter at a time, and
// on its way to 131,072 sessions of 50 items it would allocate several times
// its final 31 MB, which the collector then has to catch up with; doubled,
// it allocates less than twice that.
func (x *sessions) growRings() { x.growRingsTo(min(max(2*cap(x.ring), 1024), x.kept)) }

// growRingsTo gives the rings room for n sessions.
func (x *sessions) growRingsTo(n int) {
	ring := make([]session, len(x.ring), n)
	copy(ring, x.ring)
	items := make([]int32, len(x.items), n*x.length)
	copy(items, x.items)
	x.ring, x.items = ring, items
}

// sessionLoader gathers the sessions of a stored history replayed user by
// user, keeping the latest kept of them by time, so that a restarted index
// holds the sessions it held before rather than those of the users replayed
// last.
type sessionLoader struct {
	cur    loaded
	active bool
	kept   loadedHeap // the latest sessions so far, the earliest at the root
}

// loaded is a session of a replay.
type loaded struct {
	user      uint64
	start, ts int64
	items     []int32
}

// compareLoaded orders sessions by their latest time, then their user.
func compareLoaded(a, b loaded) int {
	return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.user, b.user))
}

// loadedHeap is a container/heap of sessions, the earliest at the root.
type loadedHeap []loaded

func (h loadedHeap) Len() int           { return len(h) }
func (h loadedHeap) Less(i, j int) bool { return compareLoaded(h[i], h[j]) < 0 }
func (h loadedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *loadedHeap) Push(v any)        { *h = append(*h, v.(loaded)) }
func (h *loadedHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

func (l *sessionLoader) add(u uint64, ord int32, ts int64, x *sessions) {
	if l.active && (u != l.cur.user || ts-l.cur.ts > x.gap) {
		l.flush(x.kept)
	}
	if !l.active {
		l.cur = loaded{user: u, start: ts, ts: ts}
		l.active = true
	}
	l.cur.ts = max(l.cur.ts, ts)
	if !slices.Contains(l.cur.items, ord) && len(l.cur.items) < x.length {
		l.cur.items = append(l.cur.items, ord)
	}
}

// flush keeps the session gathered if it is among the latest kept.
func (l *sessionLoader) flush(kept int) {
	if !l.active {
		return
	}
	l.active = false
	switch {
	case len(l.kept) < kept:
		heap.Push(&l.kept, l.cur)
	case compareLoaded(l.kept[0], l.cur) < 0:
		l.kept[0] = l.cur
		heap.Fix(&l.kept, 0)
	}
}

// startLoad begins a replay of a stored history.
func (x *sessions) startLoad() {
	x.mu.Lock()
	x.load = &sessionLoader{}
	x.mu.Unlock()
}

// finishLoad installs the latest sessions of the replay, oldest first.
func (x *sessions) finishLoad() {
	x.mu.Lock()
	defer x.mu.Unlock()
	l := x.load
	x.load = nil
	if l == nil {
		return
	}
	l.flush(x.kept)
	slices.SortFunc(l.kept, compareLoaded)
	for _, ls := range l.kept {
		slot := x.fresh(ls.user, ls.start)
		s := &x.ring[slot]
		s.ts = ls.ts
		copy(x.items[slot*x.length:], ls.items)
		s.n = int32(len(ls.items))
		for _, ord := range ls.items {
			x.held(ord, itemEntry{seq: s.seq, start: s.start, user: s.user})
		}
	}
}

// forget drops the kept sessions of user: their slots in the ring hold
// nothing until overwritten, and the items' entries for them are skipped
// as those of overwritten sessions are.
func (x *sessions) forget(user string) {
	u := fnv.String(fnv.Offset, user)
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range x.ring {
		if s := &x.ring[i]; s.seq != 0 && s.user == u {
			*s = session{}
			clear(x.items[i*x.length : (i+1)*x.length])
		}
	}
	delete(x.open, u)
}

// SessionQuery asks which items the sessions most like a user's context
// hold.
type SessionQuery struct {
	// User is whose context it is: their own sessions are not neighbours.
	User string
	// Items are the context's items and Weights what each weighs.
	Items   []int32
	Weights []float64
	// Sample is how many of the latest sessions holding each context item
	// are candidates (at most the index's SessionsPerItem; 0: all kept).
	Sample int
	// Neighbors is how many of the most similar sessions vote.
	Neighbors int
	// HalfLife halves a neighbour's similarity for every HalfLife it is
	// older than the newest neighbour (milliseconds; 0: no decay).
	HalfLife int64
}

// sessionScratch is the working memory of one query.
type sessionScratch struct {
	gen     uint32
	stamp   []uint32  // ring slot -> gen when sim is valid
	sim     []float64 // ring slot -> similarity
	touched []int32   // ring slots with a similarity
	votes   []int32   // the neighbours' items, gathered before they are counted
	acc     accumulator
	warmed  uint64 // what the warming reads summed, kept so that they are not optimized away
}

// vote appends to dst the k items the q.Neighbors sessions most similar to
// the context vote for most, with their votes, leaving out the context's
// own items (every neighbour holds some of them). A session's similarity is
// the sum of the weights of the context items it holds over the square root
// of its length (the cosine, but for the context's norm, which all share),
// decayed by its age; each neighbour votes its similarity for each of its
// items.
func (x *sessions) vote(q *SessionQuery, k int, dst []Hit) []Hit {
	sc, _ := x.scratch.Get().(*sessionScratch)
	if sc == nil {
		sc = &sessionScratch{}
	}
	defer x.scratch.Put(sc)
	u := fnv.String(fnv.Offset, q.User)

	x.mu.RLock()
	defer x.mu.RUnlock()
	sc.gen++
	if sc.gen == 0 {
		clear(sc.stamp)
		sc.gen = 1
	}
	if n := cap(x.ring); len(sc.stamp) < n { // grown as the rings grow
		sc.stamp = append(sc.stamp, make([]uint32, n-len(sc.stamp))...)
		sc.sim = append(sc.sim, make([]float64, n-len(sc.sim))...)
	}
	sc.touched = sc.touched[:0]
	// The sessions the context's items list sit at random places in the
	// ring: reading them all first, in a loop whose loads do not wait on
	// one another, lets the processor fetch many at once.
	var sink uint64
	for _, ord := range q.Items {
		if uint(ord) < uint(len(x.byItem)) {
			for _, e := range x.sample(ord, q.Sample) {
				sink += x.ring[x.slot(e.seq)].seq
			}
		}
	}
	sc.warmed = sink
	newest := int64(math.MinInt64)
	for i, ord := range q.Items {
		if ord < 0 || int(ord) >= len(x.byItem) {
			continue
		}
		w := q.Weights[i]
		for _, e := range x.sample(ord, q.Sample) {
			seq := e.seq
			slot := int32(x.slot(seq))
			s := &x.ring[slot]
			if s.seq != seq || s.user == u {
				continue // overwritten since, or the user's own
			}
			if sc.stamp[slot] != sc.gen {
				sc.stamp[slot], sc.sim[slot] = sc.gen, 0
				sc.touched = append(sc.touched, slot)
				newest = max(newest, s.ts)
			}
			sc.sim[slot] += w
		}
	}
	if len(sc.touched) == 0 {
		return dst
	}
	for _, slot := range sc.touched {
		s := &x.ring[slot]
		sim := sc.sim[slot] / math.Sqrt(float64(s.n))
		if q.HalfLife > 0 {
			sim *= math.Exp2(-float64(newest-s.ts) / float64(q.HalfLife))
		}
		sc.sim[slot] = sim
	}
	nb := closestSessions(sc.touched, sc.sim, x.ring, q.Neighbors)
	// The neighbours' items and their slots in the accumulator are far
	// apart in memory. Gathering the items first, then touching the slots,
	// each in a loop whose loads do not wait on one another, lets the
	// processor fetch many at once; counting then finds them in cache.
	sc.votes = sc.votes[:0]
	for _, slot := range nb {
		sc.votes = append(sc.votes, x.itemsOf(int(slot))...)
	}
	sc.acc.reset(len(x.byItem))
	sc.acc.warm(sc.votes)
	at := 0
	for _, slot := range nb {
		n := int(x.ring[slot].n)
		for _, ord := range sc.votes[at : at+n] {
			sc.acc.add(ord, sc.sim[slot])
		}
		at += n
	}
	for _, ord := range q.Items {
		sc.acc.drop(ord)
	}
	return append(dst, sc.acc.top(k)...)
}

// closestSessions reorders slots so that the k of the highest sim (ties:
// the later session, then the higher user hash) come first, and returns
// them.
func closestSessions(slots []int32, sim []float64, ring []session, k int) []int32 {
	if k <= 0 {
		return slots[:0]
	}
	worse := func(a, b int32) bool { // a ranks below b
		if sim[a] != sim[b] {
			return sim[a] < sim[b]
		}
		x, y := &ring[a], &ring[b]
		if x.start != y.start {
			return x.start < y.start
		}
		return x.user < y.user
	}
	if len(slots) <= k {
		return slots
	}
	// slots[:k] is a heap whose root is the worst of the best k so far.
	down := func(h []int32, i int) {
		for {
			w, l, r := i, 2*i+1, 2*i+2
			if l < len(h) && worse(h[l], h[w]) {
				w = l
			}
			if r < len(h) && worse(h[r], h[w]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	h := slots[:k]
	for i := k/2 - 1; i >= 0; i-- {
		down(h, i)
	}
	for _, s := range slots[k:] {
		if worse(h[0], s) {
			h[0] = s
			down(h, 0)
		}
	}
	return h
}
