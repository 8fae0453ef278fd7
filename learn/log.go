package learn

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
)

// maxShown is the bits in a decision's shown, clicked and converted sets.
const maxShown = 128

// bitset128 marks items of a decision by position.
type bitset128 [2]uint64

func (b *bitset128) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b *bitset128) set(i int)      { b[i>>6] |= 1 << (i & 63) }

// decision is one recommend answer, kept for the attribution window: who got
// which items, from which arm, and the click-model features each item was
// ranked with.
type decision struct {
	seq      uint64 // 0: an empty slot
	ts       int64  // Unix milliseconds
	userHash uint64
	prev     uint64 // seq of the same user's previous decision, 0 for none
	user     []byte
	arm      *Arm
	ords     []int32
	feats    []model.Feature
	ends     []int32
	shown    bitset128
	clicked  bitset128
	bought   bitset128
	done     bool // labelled (or evicted): nothing more is attributed to it
}

func (d *decision) position(ord int32) int {
	for i, o := range d.ords {
		if o == ord {
			return i
		}
	}
	return -1
}

// show marks the item at pos shown, counting the impression once.
func (d *decision) show(pos int) {
	if !d.shown.has(pos) {
		d.shown.set(pos)
		d.arm.stats.impressions.Add(1)
	}
}

func (d *decision) itemFeatures(i int) []model.Feature {
	start := int32(0)
	if i > 0 {
		start = d.ends[i-1]
	}
	return d.feats[start:d.ends[i]]
}

// pendingLabel is a label waiting to be learned; its features are
// arena[start:end].
type pendingLabel struct {
	start, end int
	label      model.Label
}

// labelBuffer collects labels between flushes. Its memory is reused.
type labelBuffer struct {
	pending []pendingLabel
	arena   []model.Feature
	out     []model.Label
}

func (b *labelBuffer) add(d *decision, pos int, click bool, itemID string) {
	start := len(b.arena)
	b.arena = append(b.arena, d.itemFeatures(pos)...)
	b.arena = append(b.arena, model.Position(pos))
	exp, arm := "", ""
	if d.arm != nil {
		exp, arm = d.arm.exp, d.arm.name
	}
	b.pending = append(b.pending, pendingLabel{start: start, end: len(b.arena), label: model.Label{
		TS: d.ts, Click: click, RecID: d.seq, Item: itemID, Experiment: exp, Arm: arm}})
}

// labels returns the pending labels with their features in place.
func (b *labelBuffer) labels() []model.Label {
	b.out = b.out[:0]
	for _, p := range b.pending {
		l := p.label
		l.Features = b.arena[p.start:p.end:p.end]
		b.out = append(b.out, l)
	}
	return b.out
}

func (b *labelBuffer) reset() {
	b.pending = b.pending[:0]
	b.arena = b.arena[:0]
	clear(b.out)
	b.out = b.out[:0]
}

// reuseSlack is how many elements past twice its need a slot's buffer may
// keep (see reuse).
const reuseSlack = 16

// reuse returns buf emptied, for a decision needing n elements: its own
// memory while that is at most twice n (and reuseSlack), fresh memory of n
// otherwise. A ring slot so keeps about the size of what it holds, not of
// the longest decision it ever held: a server's decision log stays within
// twice what its decisions need, instead of creeping toward every slot
// holding its largest answer.
func reuse[T any](buf []T, n int) []T {
	if cap(buf) > 2*n+reuseSlack {
		return make([]T, 0, n)
	}
	return buf[:0]
}

// decisionLog keeps the latest decisions in a ring indexed by sequence
// number, so that a rec_id finds its decision without a map. A decision is
// labelled once its attribution window has passed (each shown item not
// clicked is a negative) or when the ring needs its slot; a click is
// labelled at once.
type decisionLog struct {
	boot   uint64 // the high bits of every rec_id of this run
	window int64  // milliseconds
	seed   maphash.Seed

	mu      sync.Mutex
	ring    []decision
	next    uint64            // seq of the next decision
	oldest  uint64            // seq of the oldest decision perhaps not labelled
	byUser  map[uint64]uint64 // user hash -> seq of the user's latest decision
	buf     *labelBuffer      // labels not yet flushed
	spare   *labelBuffer
	itemID  func(ord int32) string
	evicted uint64
}

func newDecisionLog(size int, window int64, boot uint64, itemID func(int32) string) *decisionLog {
	return &decisionLog{boot: boot << recSeqBits, window: window, seed: maphash.MakeSeed(),
		ring: make([]decision, size), next: 1, oldest: 1, byUser: map[uint64]uint64{},
		buf: &labelBuffer{}, spare: &labelBuffer{}, itemID: itemID}
}

// record logs the decision in res for user, made by arm a at ts, and
// returns its id. It labels the decision whose slot it takes if that one is
// still open.
func (l *decisionLog) record(user string, a *Arm, ts int64, res *ranker.Result) RecID {
	h := maphash.String(l.seed, user)
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.next
	l.next++
	d := &l.ring[seq%uint64(len(l.ring))]
	if d.seq != 0 && !d.done {
		l.finishLocked(d)
		l.evicted++
	}
	prev := uint64(0)
	if user != "" {
		prev = l.byUser[h]
		l.byUser[h] = seq
	}
	n := min(len(res.Items), maxShown)
	// The items' features are one run in res; copied in one piece, a slot
	// grows at most once rather than item by item. Items past the features
	// res has get none, as ItemFeatures gives them.
	withFeatures := min(n, len(res.FeatureEnds))
	total := int32(0)
	if withFeatures > 0 {
		total = res.FeatureEnds[withFeatures-1]
	}
	*d = decision{seq: seq, ts: ts, userHash: h, prev: prev, arm: a,
		user:  append(reuse(d.user, len(user)), user...),
		ords:  slices.Grow(reuse(d.ords, n), n),
		feats: append(reuse(d.feats, int(total)), res.Features[:total]...),
		ends:  append(reuse(d.ends, n), res.FeatureEnds[:withFeatures]...)}
	for i := 0; i < n; i++ {
		d.ords = append(d.ords, res.Items[i].Doc.Ord)
	}
	for len(d.ends) < n {
		d.ends = append(d.ends, total)
	}
	return RecID(l.boot | seq&recSeqMask)
}

// lookupLocked returns the open decision of id, or nil when it is unknown,
// from another run, labelled or past its window as of now.
func (l *decisionLog) lookupLocked(id RecID, now int64) *decision {
	if uint64(id)&^recSeqMask != l.boot {
		return nil
	}
	seq := uint64(id) & recSeqMask
	if seq == 0 || seq >= l.next {
		return nil
	}
	d := &l.ring[seq%uint64(len(l.ring))]
	if d.seq != seq || d.done || now-d.ts > l.window {
		return nil
	}
	return d
}

// finishLocked labels every shown item of d that was not clicked as a
// negative, and closes d.
func (l *decisionLog) finishLocked(d *decision) {
	for i := range d.ords {
		if d.shown.has(i) && !d.clicked.has(i) {
			l.buf.add(d, i, false, l.itemID(d.ords[i]))
		}
	}
	d.done = true
	if d.user != nil && l.byUser[d.userHash] == d.seq {
		delete(l.byUser, d.userHash)
	}
}

// sweepLocked closes the decisions whose window has passed as of now.
func (l *decisionLog) sweepLocked(now int64) {
	for l.oldest < l.next {
		d := &l.ring[l.oldest%uint64(len(l.ring))]
		if d.seq == l.oldest && !d.done {
			if now-d.ts <= l.window {
				return
			}
			l.finishLocked(d)
		}
		l.oldest++
	}
}

// openForUserLocked calls fn with user's open decisions within the window,
// newest first, until fn returns false.
func (l *decisionLog) openForUserLocked(user string, now int64, fn func(*decision) bool) {
	h := maphash.String(l.seed, user)
	seq := l.byUser[h]
	for seq != 0 {
		d := &l.ring[seq%uint64(len(l.ring))]
		if d.seq != seq || d.done || now-d.ts > l.window {
			return
		}
		if bytes.Equal(d.user, []byte(user)) && !fn(d) {
			return
		}
		seq = d.prev
	}
}

// takeLocked hands out the labels collected so far and starts a new buffer.
// The caller gives the buffer back with giveBack once it has learned them.
func (l *decisionLog) takeLocked() *labelBuffer {
	if len(l.buf.pending) == 0 {
		return nil
	}
	b := l.buf
	l.buf, l.spare = l.spare, nil
	if l.buf == nil {
		l.buf = &labelBuffer{}
	}
	return b
}

func (l *decisionLog) giveBack(b *labelBuffer) {
	b.reset()
	l.mu.Lock()
	if l.spare == nil {
		l.spare = b
	}
	l.mu.Unlock()
}
