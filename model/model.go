package model

import (
	"errors"
	"fmt"
	"log"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Model. Zero fields take their defaults.
type Options struct {
	// Name tells models kept in one database apart: each keeps its
	// checkpoint and labels under its own keys. Default "".
	Name string
	// Bits is the width of the hash space: the model has 2^Bits
	// coordinates. The learner holds 16 bytes per coordinate and every
	// snapshot 4 more. Default 20 (about 20 MiB); at most 28.
	Bits uint8
	// Alpha and Beta set the per-coordinate learning rate
	// alpha / (beta + sqrt(sum of squared gradients)). Defaults 0.2 and 1.
	Alpha, Beta float64
	// L1 and L2 are the regularization strengths. L1 keeps a weight at
	// exactly zero until its coordinate has seen enough evidence. Defaults
	// 0.5 and 1.
	L1, L2 float64
	// MinLabels and MinClicks are what a model must have learned from
	// before it is warm, that is trusted to replace hand-set scores.
	// Defaults 2,000 and 50.
	MinLabels, MinClicks int
	// PublishEvery and PublishInterval bound how stale the served snapshot
	// is: a new one is published once either many labels or that much time
	// (by Now) has passed since the last. Defaults 1,000 labels and 10 s.
	PublishEvery    int
	PublishInterval time.Duration
	// CheckpointInterval is how often (by Now) the learner's state is
	// written to Pebble; Close writes it too. A crash loses no label (they
	// are replayed from the last checkpoint), only the time to replay them.
	// Default 5 minutes.
	CheckpointInterval time.Duration
	// KeepLabels is how many of the latest labels are kept in Pebble, for
	// replay after a crash and for retraining with another hash width.
	// Older ones are deleted at checkpoints. Default 1,000,000 (about 300
	// bytes each).
	KeepLabels int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational messages; default the standard logger.
	Logger *log.Logger
}

func (o *Options) setDefaults() {
	if o.Bits == 0 {
		o.Bits = 20
	}
	if o.Bits > 28 {
		o.Bits = 28
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.2
	}
	if o.Beta <= 0 {
		o.Beta = 1
	}
	if o.L1 <= 0 {
		o.L1 = 0.5
	}
	if o.L2 <= 0 {
		o.L2 = 1
	}
	if o.MinLabels <= 0 {
		o.MinLabels = 2000
	}
	if o.MinClicks <= 0 {
		o.MinClicks = 50
	}
	if o.PublishEvery <= 0 {
		o.PublishEvery = 1000
	}
	if o.PublishInterval <= 0 {
		o.PublishInterval = 10 * time.Second
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 5 * time.Minute
	}
	if o.KeepLabels <= 0 {
		o.KeepLabels = 1_000_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
}

// Label is one outcome to learn from: the features an item was scored with
// (its position included) and whether it was clicked.
type Label struct {
	TS       int64 // Unix milliseconds
	Click    bool
	Features []Feature
	// Provenance, stored with the label for analysis; the model ignores it.
	RecID      uint64
	Item       string
	Experiment string
	Arm        string
}

// Snapshot is the model as published for serving. It is immutable and safe
// for concurrent use.
type Snapshot struct {
	// Version grows by one with every publish, across restarts.
	Version uint64
	// Labels and Clicks are what the model had learned from when published.
	Labels, Clicks uint64
	// At is when it was published, Unix milliseconds.
	At     int64
	warm   bool
	offset float64
	mask   uint32
	w      []float32
}

// Warm reports whether the model has learned enough to be trusted.
func (s *Snapshot) Warm() bool { return s.warm }

// Logit returns the log-odds of a click for features x.
func (s *Snapshot) Logit(x []Feature) float64 {
	z := s.offset
	for _, f := range x {
		z += float64(s.w[f.Key&s.mask]) * float64(f.Value)
	}
	return z
}

// Predict returns the probability of a click for features x.
func (s *Snapshot) Predict(x []Feature) float64 { return Sigmoid(s.Logit(x)) }

// Weight returns the weight of one key.
func (s *Snapshot) Weight(key uint32) float64 { return float64(s.w[key&s.mask]) }

// Sigmoid is the logistic function, clamped so that it never returns exactly
// 0 or 1.
func Sigmoid(z float64) float64 {
	z = math.Max(-35, math.Min(35, z))
	return 1 / (1 + math.Exp(-z))
}

// Model is an online logistic regression learned with FTRL-Proximal. It is
// safe for concurrent use: learning is serialized, serving reads snapshots.
type Model struct {
	opts   Options
	db     *pebble.DB // nil: in memory only
	prefix []byte     // of its keys
	mask   uint32

	mu        sync.Mutex // guards everything below it
	z, n      []float64
	wbuf      []float64
	dirty     []uint64 // bitset of coordinates changed since the last publish
	dirtyList []uint32
	labels    uint64
	clicks    uint64
	version   uint64
	seq       uint64 // sequence of the last label stored
	learned   uint64 // sequence of the last label folded in
	sincePub  int
	pubAt     int64
	ckptAt    int64
	ckptSeq   uint64 // learned as of the last checkpoint
	source    uint64 // position of the last labels learned with LearnFrom
	closed    bool

	cur atomic.Pointer[Snapshot]

	m *modelMetrics
}

// ErrClosed is returned by Learn after Close.
var ErrClosed = errors.New("model: closed")

// Open returns a model over db, restored from its last checkpoint and the
// labels stored after it. With a nil db the model lives in memory only.
// Metrics are registered on reg when it is not nil.
func Open(db *pebble.DB, opts Options, reg prometheus.Registerer) (*Model, error) {
	opts.setDefaults()
	size := 1 << opts.Bits
	m := &Model{
		opts:   opts,
		db:     db,
		prefix: keyPrefix(opts.Name),
		mask:   uint32(size - 1),
		z:      make([]float64, size),
		n:      make([]float64, size),
		dirty:  make([]uint64, (size+63)/64),
		m:      newModelMetrics(reg, opts.Name),
	}
	now := opts.Now().UnixMilli()
	m.pubAt, m.ckptAt = now, now
	if db != nil {
		if err := m.restore(); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	m.publishLocked(now)
	m.mu.Unlock()
	return m, nil
}

// Options returns the options the model runs with, defaults filled in.
func (m *Model) Options() Options { return m.opts }

// Snapshot returns the published model. It is never nil.
func (m *Model) Snapshot() *Snapshot { return m.cur.Load() }

// weightLocked is the FTRL-Proximal closed form of coordinate k's weight.
func (m *Model) weightLocked(k uint32) float64 {
	z := m.z[k]
	if math.Abs(z) <= m.opts.L1 {
		return 0
	}
	sign := 1.0
	if z < 0 {
		sign = -1
	}
	return -(z - sign*m.opts.L1) / ((m.opts.Beta+math.Sqrt(m.n[k]))/m.opts.Alpha + m.opts.L2)
}

// offsetLocked is the log-odds of the click rate so far, with half a click
// and half a non-click of prior: the margin every prediction starts from,
// so that the weights learn how an example differs from the average one and
// a new model predicts the base rate, not 50%.
func (m *Model) offsetLocked() float64 {
	p := (float64(m.clicks) + 0.5) / (float64(m.labels) + 1)
	return math.Log(p / (1 - p))
}

// Predict returns the learner's current probability of a click for x,
// fresher than the published snapshot. For offline evaluation; serving reads
// Snapshot.
func (m *Model) Predict(x []Feature) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	z := m.offsetLocked()
	for _, f := range x {
		z += m.weightLocked(f.Key&m.mask) * float64(f.Value)
	}
	return Sigmoid(z)
}

// Update learns from one example in memory, without storing or publishing
// it, and returns the probability it predicted before learning (progressive
// validation). Publish makes the updates visible to Snapshot. Update
// allocates nothing once its scratch has grown to the longest x.
func (m *Model) Update(x []Feature, click bool) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(x, click)
}

func (m *Model) updateLocked(x []Feature, click bool) float64 {
	if cap(m.wbuf) < len(x) {
		m.wbuf = make([]float64, len(x), 2*len(x))
	}
	w := m.wbuf[:len(x)]
	z := m.offsetLocked()
	for i, f := range x {
		w[i] = m.weightLocked(f.Key & m.mask)
		z += w[i] * float64(f.Value)
	}
	p := Sigmoid(z)
	y := 0.0
	if click {
		y = 1
	}
	g := p - y
	for i, f := range x {
		k := f.Key & m.mask
		gi := g * float64(f.Value)
		if gi == 0 {
			continue
		}
		n := m.n[k]
		sigma := (math.Sqrt(n+gi*gi) - math.Sqrt(n)) / m.opts.Alpha
		m.z[k] += gi - sigma*w[i]
		m.n[k] = n + gi*gi
		if m.dirty[k>>6]&(1<<(k&63)) == 0 {
			m.dirty[k>>6] |= 1 << (k & 63)
			m.dirtyList = append(m.dirtyList, k)
		}
	}
	m.labels++
	if click {
		m.clicks++
	}
	m.sincePub++
	m.m.observe(p, click)
	return p
}

// Learn stores labels durably (one synced batch), then learns from them in
// order. When it returns nil the labels survive a crash.
func (m *Model) Learn(labels []Label) error {
	if len(labels) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.learnLocked(labels, 0)
}

// LearnFrom is Learn for labels read from a log that several models learn
// from alike, such as a cluster's: source is their position in it, which
// grows from one call to the next. Labels from a position at or before the
// last one learned are passed over, so that reading the log again after a
// crash learns nothing twice: the position is stored in the labels' batch.
// It reports whether it learned them.
func (m *Model) LearnFrom(labels []Label, source uint64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if source <= m.source {
		return false, nil
	}
	if err := m.learnLocked(labels, source); err != nil {
		return false, err
	}
	m.source = source
	return true, nil
}

// Source returns the position of the last labels LearnFrom learned, 0 when
// none.
func (m *Model) Source() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.source
}

func (m *Model) learnLocked(labels []Label, source uint64) error {
	if m.closed {
		return ErrClosed
	}
	if m.db != nil {
		if err := m.storeLabelsLocked(labels, source); err != nil {
			return err
		}
	}
	for i := range labels {
		m.updateLocked(labels[i].Features, labels[i].Click)
	}
	m.learned = m.seq
	now := m.opts.Now().UnixMilli()
	m.maybePublishLocked(now)
	if m.db != nil && now-m.ckptAt >= m.opts.CheckpointInterval.Milliseconds() {
		if err := m.checkpointLocked(now); err != nil {
			// The labels are stored; the next checkpoint covers them.
			m.opts.Logger.Printf("model: %v", err)
		}
	}
	return nil
}

func (m *Model) warmLocked() bool {
	return m.labels >= uint64(m.opts.MinLabels) && m.clicks >= uint64(m.opts.MinClicks)
}

func (m *Model) maybePublishLocked(now int64) {
	cold := !m.cur.Load().warm && m.warmLocked()
	if cold || m.sincePub >= m.opts.PublishEvery || (m.sincePub > 0 && now-m.pubAt >= m.opts.PublishInterval.Milliseconds()) {
		m.publishLocked(now)
	}
}

// Publish makes everything learned so far visible to Snapshot and returns
// the new snapshot.
func (m *Model) Publish() *Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.publishLocked(m.opts.Now().UnixMilli())
}

// publishLocked builds the next snapshot from the last one and the
// coordinates changed since.
func (m *Model) publishLocked(now int64) *Snapshot {
	old := m.cur.Load()
	w := make([]float32, len(m.z))
	if old != nil {
		copy(w, old.w)
		for _, k := range m.dirtyList {
			w[k] = float32(m.weightLocked(k))
		}
	} else {
		for k := range m.z {
			if m.z[k] != 0 {
				w[k] = float32(m.weightLocked(uint32(k)))
			}
		}
	}
	for _, k := range m.dirtyList {
		m.dirty[k>>6] &^= 1 << (k & 63)
	}
	m.dirtyList = m.dirtyList[:0]
	m.version++
	s := &Snapshot{Version: m.version, Labels: m.labels, Clicks: m.clicks, At: now, warm: m.warmLocked(),
		offset: m.offsetLocked(), mask: m.mask, w: w}
	m.cur.Store(s)
	m.sincePub = 0
	m.pubAt = now
	m.m.published(s)
	return s
}

// Checkpoint writes the learner's state to Pebble now.
func (m *Model) Checkpoint() error {
	if m.db == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checkpointLocked(m.opts.Now().UnixMilli())
}

// Close publishes and checkpoints what was learned since the last
// checkpoint. It does not close the database.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.db == nil || (m.learned == m.ckptSeq && m.sincePub == 0 && len(m.dirtyList) == 0) {
		return nil
	}
	if err := m.checkpointLocked(m.opts.Now().UnixMilli()); err != nil {
		return fmt.Errorf("model: cannot checkpoint at close: %w", err)
	}
	return nil
}

// Stats describes the learner.
type Stats struct {
	Labels, Clicks uint64 // learned from, since the model was first created
	Version        uint64 // of the published snapshot
	Warm           bool
	NonZero        int // coordinates with a non-zero weight in the snapshot
}

// Stats returns the learner's counters and the published snapshot's.
func (m *Model) Stats() Stats {
	s := m.Snapshot()
	nz := 0
	for _, w := range s.w {
		if w != 0 {
			nz++
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Labels: m.labels, Clicks: m.clicks, Version: s.Version, Warm: s.warm, NonZero: nz}
}
