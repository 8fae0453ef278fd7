package service

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/trigger"
)

// Options configures a Service. Zero fields take their defaults.
type Options struct {
	// CacheBytes bounds the profile cache. Default 256 MiB.
	CacheBytes int64
	// BlockCacheBytes is the size of Pebble's block cache, which also holds
	// its memtables. Default 512 MiB.
	BlockCacheBytes int64
	// Profiles bounds each profile; zero fields take their defaults.
	Profiles features.Limits
	// Lifecycle sets the windows and thresholds of indicators and lifecycle
	// stages.
	Lifecycle features.Rules
	// Tiers are the value tiers; default features.DefaultTiers.
	Tiers []features.TierRule
	// SegmentEvery is how often RFM segments are recomputed and triggers
	// swept in the background; 0 means only on demand. Default 0.
	SegmentEvery time.Duration
	// Webhooks configures the delivery of trigger records to webhooks.
	Webhooks trigger.DeliveryOptions
	// Triggers, when its Store is set, keeps memberships, trigger records
	// and delivery cursors in a store that the nodes of a cluster share
	// (trigger.Redis), rather than in the data directory.
	Triggers SharedTriggers
	// Index configures co-visitation and popularity.
	Index index.Options
	// Ranker configures ranking.
	Ranker ranker.Options
	// Tuning configures the learning of the ranker's weights from what
	// users do next; on by default.
	Tuning TuningOptions
	// Learning configures the decision log, the click model and the
	// experiments.
	Learning LearningOptions
	// Bidding configures the campaigns' money: the auction, the ledger and
	// the notice signing key.
	Bidding BiddingOptions
	// Storage guards the data directory's disk.
	Storage StorageOptions
	// Now is the clock; default time.Now. Tests and replays inject their own.
	Now func() time.Time
	// Logger receives operational messages; default the standard logger.
	Logger *log.Logger

	// OpenHook, when set, is called before each step of Open with its name
	// (pebble, profiles, catalog, segments, learning, bidding, replay); an
	// error fails Open at that step. Tests use it.
	OpenHook func(step string) error
}

// SharedTriggers is trigger state shared by the nodes of a cluster.
type SharedTriggers struct {
	// Store holds the state; nil means the service's own Pebble.
	Store trigger.Store
	// Outbox names this node among those that deliver the records.
	Outbox trigger.OutboxOptions
}

// DefaultWALSyncInterval is StorageOptions.WALSyncInterval's default.
const DefaultWALSyncInterval = 250 * time.Microsecond

// StorageOptions guard the data directory's disk (see kv.Disk) and set how
// Pebble writes to it.
type StorageOptions struct {
	// MinFreeBytes is the free-space floor: below it writes get 507 while
	// reads, recommend and bids go on. Default 256 MiB; negative: no floor.
	MinFreeBytes int64
	// BallastBytes is the space held in reserve against a full disk.
	// Default a quarter of the floor, at most 64 MiB.
	BallastBytes int64
	// CheckEvery is how often the free space is read. Default 200 ms.
	CheckEvery time.Duration
	// FS is the file system of the data directory; default the operating
	// system's. Tests give one that injects faults.
	FS vfs.FS
	// OnFailure is called once when the store fails (a write or sync error
	// Pebble cannot continue past). From then on every route but the health
	// checks answers 503; the process should exit so that a restart
	// recovers from the write-ahead log. Default: nothing more.
	OnFailure func(error)
	// Unpaced lets Pebble's flushes and compactions run at full speed while
	// requests are served, rather than pause briefly after every 64 KiB
	// they write or read (see kv.Pacer), so that requests need not wait
	// behind them.
	Unpaced bool
	// BackgroundWriteRate is the most bytes a second flushes and compactions
	// write while requests are served and Pebble keeps up (see kv.Pacer):
	// a sync of the write-ahead log waits for the disk to persist what was
	// written before it. Default 32 MiB; negative: no cap. Unpaced turns it
	// off too.
	BackgroundWriteRate int64
	// WALSyncInterval is the shortest time between two syncs of the
	// write-ahead log: under a stream of writes, the commits that arrive
	// within it share one sync (group commit) instead of one sync each,
	// which costs the disk and the kernel's CPU; a commit still returns only
	// once its sync is done, so it may wait up to the interval longer.
	// Default 250 µs; negative: every sync as soon as it is asked for.
	WALSyncInterval time.Duration
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	o.Bidding.setDefaults(o.Now)
}

// Service is tailor over one data directory: the profile store, the
// catalog, the ranker, audiences and triggers, learning and the bidder's
// campaigns, ledger and auction, with their background work.
type Service struct {
	opts   Options
	db     *pebble.DB
	disk   *kv.Disk
	pacer  *kv.Pacer // nil when unpaced
	store  *features.Store
	idx    *index.Index
	rank   *ranker.Ranker
	tuner  *ranker.Tuner // nil when tuning is disabled
	reg    *prometheus.Registry
	m      *ingestMetrics
	learn  *learn.Learner // nil when learning is disabled
	seg    segments
	bid    bidding
	closed bool

	// tunedSaved is the tuner's step count at the last save of its weights.
	tunedSaved atomic.Uint64

	profiles sync.Pool // *features.Profile: what Recommend reads a profile into
}

// Open opens (creating if needed) the data directory dir and returns a
// Service over it, with its in-memory indexes rebuilt from the stored
// history. It opens the parts in order (disk guard, Pebble, profiles,
// catalog, segments and triggers, learning, bidding) and, should a step
// fail, closes what it opened in reverse order, so that nothing is left
// running.
func Open(dir string, opts Options) (_ *Service, err error) {
	opts.setDefaults()
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	step := func(name string) error {
		if opts.OpenHook != nil {
			return opts.OpenHook(name)
		}
		return nil
	}

	st := &opts.Storage
	disk := kv.NewDisk(kv.DiskOptions{Dir: dir, FS: st.FS, MinFree: st.MinFreeBytes, Ballast: st.BallastBytes,
		Interval: st.CheckEvery, OnFatal: st.OnFailure, Logf: opts.Logger.Printf})
	if err := step("pebble"); err != nil {
		return nil, err
	}
	var pacer *kv.Pacer
	if !st.Unpaced {
		pacer = kv.NewPacer(kv.PacerOptions{WriteRate: st.BackgroundWriteRate})
	}
	stalls := new(kv.Stalls)
	walSync := st.WALSyncInterval
	if walSync == 0 {
		walSync = DefaultWALSyncInterval
	}
	db, err := kv.Open(dir, kv.Options{Disk: disk, CacheBytes: opts.BlockCacheBytes, Pacer: pacer, Stalls: stalls,
		WALSyncInterval: walSync})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { db.Close() })

	reg := prometheus.NewRegistry()
	// The scheduler's figures besides Go's defaults: go_sched_latencies_seconds,
	// how long goroutines that could run waited for a core, is the plainest
	// sign of a CPU that cannot keep up. And go_gc_heap_live_bytes, the heap
	// the last collection left: what grows when memory leaks, where the heap
	// in use also holds the garbage of up to GOGC percent more.
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler,
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(kv.NewCollector(db, stalls))
	if pacer != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tailor_pebble_background_pauses_total",
			Help: "Pauses flushes and compactions took so that requests being served could run first."},
			func() float64 { n, _ := pacer.Pauses(); return float64(n) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tailor_pebble_background_pause_seconds_total",
			Help: "Time flushes and compactions asked to sleep in those pauses."},
			func() float64 { _, d := pacer.Pauses(); return d.Seconds() }))
	}
	if err := step("profiles"); err != nil {
		return nil, err
	}
	store, err := features.New(db, features.Options{CacheBytes: opts.CacheBytes, Limits: opts.Profiles}, reg)
	if err != nil {
		return nil, err
	}
	undo = append(undo, store.Close)
	if err := step("catalog"); err != nil {
		return nil, err
	}
	idx, err := index.New(db, opts.Index, reg)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts:  opts,
		db:    db,
		disk:  disk,
		pacer: pacer,
		store: store,
		idx:   idx,
		reg:   reg,
		m:     newIngestMetrics(reg),
	}
	if err := s.openTuning(); err != nil {
		return nil, err
	}
	s.rank = ranker.New(idx, s.opts.Ranker)
	registerDiskMetrics(reg, disk)

	if err := step("segments"); err != nil {
		return nil, err
	}
	if err := s.openSegments(); err != nil {
		return nil, err
	}
	undo = append(undo, s.stopSegments)
	if err := step("learning"); err != nil {
		return nil, err
	}
	if err := s.openLearning(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.closeLearning() })
	if err := step("bidding"); err != nil {
		return nil, err
	}
	if err := s.openBidding(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.closeBidding() })
	if err := step("replay"); err != nil {
		return nil, err
	}
	start := time.Now()
	n := 0
	err = idx.Rebuild(func(observe func(index.Observation)) error {
		return store.Replay(func(user string, h features.HistoryEvent, before []string) {
			observe(index.Observation{User: user, Item: h.Target, Weight: popularityWeight(h.Type), TS: h.TS, Before: before})
			n++
		})
	})
	if err != nil {
		return nil, fmt.Errorf("service: cannot rebuild indexes: %w", err)
	}
	if n > 0 {
		opts.Logger.Printf("rebuilt co-visitation and popularity from %d events in %v", n, time.Since(start).Round(time.Millisecond))
	}
	disk.Start()
	return s, nil
}

// Close stops the background work, learns the labels collected so far,
// checkpoints the models and the ledger, and closes the data directory. It
// may be called twice.
func (s *Service) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if errors.Is(s.disk.Writable(), kv.ErrFailed) {
		// Writing to a failed store would fail or hang, and background work
		// may be stuck in it: close nothing that writes and wait for
		// nothing. The write-ahead log holds every acknowledged write for
		// the next start.
		s.disk.Stop()
		_, reason := s.disk.Status()
		return fmt.Errorf("service: closed without writing: %s", reason)
	}
	s.stopSegments()
	if err := s.saveTuning(pebble.Sync); err != nil {
		s.opts.Logger.Printf("%v", err)
	}
	if err := s.closeLearning(); err != nil {
		s.opts.Logger.Printf("%v", err)
	}
	berr := s.closeBidding()
	s.disk.Stop()
	s.store.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("service: cannot close data directory: %w", err)
	}
	return berr
}

// Registry returns the Prometheus registry the service's metrics are on.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.opts.Now() }

// Logger returns the logger operational messages go to.
func (s *Service) Logger() *log.Logger { return s.opts.Logger }

// Disk returns the guard of the data directory's disk: its free space,
// and whether writes are allowed.
func (s *Service) Disk() *kv.Disk { return s.disk }

// Serving tells the service that a request is starting: while requests
// keep coming, Pebble's flushes and compactions pause briefly after every
// 64 KiB they write or read, so that the requests run first.
func (s *Service) Serving() {
	if s.pacer != nil {
		s.pacer.Serving()
	}
}

// Store returns the profile store.
func (s *Service) Store() *features.Store { return s.store }

// Index returns the catalog with its text index, co-visitation and
// popularity.
func (s *Service) Index() *index.Index { return s.idx }

// Lifecycle returns the rules of indicators and lifecycle stages.
func (s *Service) Lifecycle() features.Rules { return s.opts.Lifecycle }

func (s *Service) now() int64 { return s.opts.Now().UnixMilli() }

// popularityWeight is how much an event of type t adds to an item's popularity.
func popularityWeight(t features.EventType) float64 {
	switch t {
	case features.View:
		return 1
	case features.Click:
		return 2
	case features.Cart:
		return 3
	case features.Purchase:
		return 5
	}
	return 0
}

// MetaKey returns the key under which a part outside service keeps a small
// value of its own, named name, in the service's store (see ReadMeta and
// features.Mark).
func MetaKey(name string) []byte { return kv.Key(kv.PrefixMeta, name) }

// ReadMeta returns the value kept under MetaKey(name), or nil when there is
// none.
func (s *Service) ReadMeta(name string) ([]byte, error) {
	v, closer, err := s.db.Get(MetaKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("service: cannot read %s: %w", name, err)
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// WriteMeta keeps v under MetaKey(name) with a synced write.
func (s *Service) WriteMeta(name string, v []byte) error {
	if err := s.db.Set(MetaKey(name), v, pebble.Sync); err != nil {
		return fmt.Errorf("service: cannot write %s: %w", name, err)
	}
	return nil
}
