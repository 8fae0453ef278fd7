package ranker

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/index"
)

// Tuner learns the ranker's weights online from what users do next.
//
// When a list is ranked for a known user, the Tuner may keep the features of
// all its candidates, not only of the items shown, in one slot of a small
// table (a slot busy with another user's list of the last minute is left
// alone, so memory is bounded and ranking never waits). When that user's
// next events arrive, the items they touched that were among the candidates
// are the labels of one listwise step: under a softmax over the candidates'
// scores, the weights move along the gradient of the labels' mean
// log-likelihood, so that what users go on to do ranks higher. A list whose
// user touched none of its candidates teaches nothing, nor does going back
// to an item the user saw lately; a feature that no candidate had does not
// move; the boost weight, which each request sets through its audiences, and
// the seen weight, the shop's rule for what users just saw, are never
// learned. Every ranker given the same Tuner ranks with its current weights.
//
// The Tuner learns what follows a list, whether or not the list was shown or
// clicked: it needs no impressions or clicks, and it learns from items ranked
// below the slot too. It is safe for concurrent use.
type Tuner struct {
	idx   *index.Index
	opts  TunerOptions
	seed  maphash.Seed
	slots []tunerSlot

	mu      sync.Mutex // serializes steps
	scores  []float64  // a step's, under mu
	weights atomic.Pointer[Weights]
	steps   atomic.Uint64
}

// TunerOptions configures a Tuner. Zero fields take their defaults.
type TunerOptions struct {
	// Initial are the weights learning starts from. Default DefaultWeights.
	Initial Weights
	// Rate is the step size. Default 0.01.
	Rate float64
	// Slots is how many lists wait for their users' next events at once.
	// Default 256.
	Slots int
	// MaxCandidates is how many candidates of a list are kept, the first
	// ones a list ranks (a list of the standard scenario has about 300, of
	// the public logs at most 462). A slot takes 100 bytes a candidate: 13
	// MiB for every slot full at the defaults. Default 512.
	MaxCandidates int
	// MaxAge is how long a list waits for its user's next events. Default
	// 30 minutes.
	MaxAge time.Duration
	// Hold is how long a list keeps its slot from other users' lists; after
	// it, the list waits on (up to MaxAge) until one takes its place, so
	// that users who never come back do not hold slots for MaxAge. Default
	// 1 minute.
	Hold time.Duration
	// MaxWeight bounds every learned weight's magnitude. Default 20.
	MaxWeight float64
}

func (o *TunerOptions) setDefaults() {
	if o.Initial == (Weights{}) {
		o.Initial = DefaultWeights
	}
	if o.Rate <= 0 {
		o.Rate = 0.01
	}
	if o.Slots <= 0 {
		o.Slots = 256
	}
	if o.MaxCandidates <= 0 {
		o.MaxCandidates = 512
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 30 * time.Minute
	}
	if o.Hold <= 0 {
		o.Hold = time.Minute
	}
	if o.MaxWeight <= 0 {
		o.MaxWeight = 20
	}
}

// tunerSlot holds one list waiting for its user's next events.
type tunerSlot struct {
	mu   sync.Mutex
	user uint64 // the user's hash; 0 when the slot is free
	at   int64  // when the list was ranked, Unix milliseconds
	ords []int32
	f    [][numFeatures]float64 // by index in ords
	hit  []int32                // the labels of a step, by index in ords
}

// NewTuner returns a Tuner over idx.
func NewTuner(idx *index.Index, opts TunerOptions) *Tuner {
	opts.setDefaults()
	t := &Tuner{idx: idx, opts: opts, seed: maphash.MakeSeed(), slots: make([]tunerSlot, opts.Slots)}
	w := opts.Initial
	t.weights.Store(&w)
	return t
}

// Weights returns the current weights.
func (t *Tuner) Weights() Weights { return *t.weights.Load() }

// SetWeights replaces the current weights, for example with those a
// previous run learned.
func (t *Tuner) SetWeights(w Weights) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.weights.Store(&w)
}

// Steps returns how many steps the Tuner has taken.
func (t *Tuner) Steps() uint64 { return t.steps.Load() }

func (t *Tuner) hash(user string) uint64 {
	h := maphash.String(t.seed, user)
	if h == 0 {
		h = 1
	}
	return h
}

// offer keeps the candidates of a list ranked for user at now, unless the
// slot is busy: in use by another call, or holding another user's list
// younger than Hold.
func (t *Tuner) offer(user string, now int64, cands []cand) {
	h := t.hash(user)
	sl := &t.slots[h%uint64(len(t.slots))]
	if !sl.mu.TryLock() {
		return
	}
	defer sl.mu.Unlock()
	if sl.user != 0 && sl.user != h && now-sl.at < t.opts.Hold.Milliseconds() {
		return
	}
	n := min(len(cands), t.opts.MaxCandidates)
	sl.user, sl.at = h, now
	if cap(sl.ords) < n {
		sl.ords, sl.f = make([]int32, n, t.opts.MaxCandidates), make([][numFeatures]float64, n, t.opts.MaxCandidates)
	}
	sl.ords, sl.f = sl.ords[:n], sl.f[:n]
	for i := range sl.ords {
		c := &cands[i]
		sl.ords[i], sl.f[i] = c.ord, c.f
	}
}

// Event is what the Tuner needs of an event: whose it is and the item it
// touched.
type Event struct {
	User string
	Item string
}

// Observe learns from events that happened at now: for every user with a
// list waiting, the items of their events in this batch that were its
// candidates are the labels of one step, and the list is let go whether or
// not they were.
func (t *Tuner) Observe(now int64, events []Event) {
	for i := range events {
		ev := &events[i]
		h := t.hash(ev.User)
		sl := &t.slots[h%uint64(len(t.slots))]
		sl.mu.Lock()
		if sl.user != h {
			sl.mu.Unlock()
			continue
		}
		if now-sl.at > t.opts.MaxAge.Milliseconds() {
			sl.user = 0
			sl.mu.Unlock()
			continue
		}
		sl.hit = sl.hit[:0]
		for j := i; j < len(events); j++ {
			if events[j].User != ev.User {
				continue
			}
			o, ok := t.idx.Ord(events[j].Item)
			if !ok {
				continue
			}
			for k, c := range sl.ords {
				if c == o {
					// An item the user saw lately is no discovery: going
					// back to it says nothing of what to recommend.
					if sl.f[k][fSeen] == 0 {
						sl.hit = append(sl.hit, int32(k))
					}
					break
				}
			}
		}
		if len(sl.hit) > 0 {
			t.step(sl)
		}
		sl.user = 0
		sl.mu.Unlock()
	}
}

// step moves the weights along the gradient of the mean log-likelihood of
// sl's labels under a softmax over its candidates' scores.
func (t *Tuner) step(sl *tunerSlot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := *t.weights.Load()
	var ws [numFeatures]float64
	for f := range ws {
		ws[f] = *w.field(f)
	}
	maxScore := math.Inf(-1)
	t.scores = t.scores[:0]
	for i := range sl.f {
		s := 0.0
		for f, v := range &sl.f[i] {
			s += ws[f] * v
		}
		t.scores = append(t.scores, s)
		maxScore = math.Max(maxScore, s)
	}
	var expected, labels [numFeatures]float64
	z := 0.0
	for i, s := range t.scores {
		p := math.Exp(s - maxScore)
		z += p
		for f, v := range &sl.f[i] {
			expected[f] += p * v
		}
	}
	for _, k := range sl.hit {
		for f, v := range &sl.f[k] {
			labels[f] += v
		}
	}
	var g [numFeatures]float64
	for f := range g {
		g[f] = expected[f]/z - labels[f]/float64(len(sl.hit))
		if math.IsNaN(g[f]) || math.IsInf(g[f], 0) {
			return // a feature that is not a number teaches nothing
		}
	}
	for f := range ws {
		if f == fBoost || f == fSeen {
			continue
		}
		ws[f] = math.Max(-t.opts.MaxWeight, math.Min(t.opts.MaxWeight, ws[f]-t.opts.Rate*g[f]))
		*w.field(f) = ws[f]
	}
	t.weights.Store(&w)
	t.steps.Add(1)
}
