package learn

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/every"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
)

// Options configure a Learner. Zero fields take their defaults.
type Options struct {
	// Window is the attribution window: impressions, clicks and purchases
	// count for a recommendation when they come within it; a shown item not
	// clicked by then is a negative label. Default 30 minutes.
	Window time.Duration
	// MaxDecisions bounds the decisions kept in memory for the window. Each
	// costs about 200 bytes plus about 250 per item answered; when the log is
	// full the oldest decision is labelled early. Default 100,000.
	MaxDecisions int
	// SweepEvery is how often decisions past the window are labelled in the
	// background; negative: only when events arrive (replays use this for
	// determinism). Default 1 s.
	SweepEvery time.Duration
	// HandSet keeps the default arm (users outside experiments) on the
	// hand-set weights even when the click model is warm. Experiment arms
	// choose for themselves. Default false: the model scores once warm.
	HandSet bool
	// Ranker are the ranker settings of the default arm, and what the arms
	// of experiments start from.
	Ranker ranker.Options
	// Model configures the click model of recommendations; its clock and
	// logger default to the Learner's.
	Model model.Options
	// AdModel configures the bidder's click model (named "ads"). Default 18
	// hash bits.
	AdModel model.Options
	// Experiments, when set, replaces the stored experiments configuration
	// at start.
	Experiments *ExperimentsConfig
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives what goes wrong in the background; default the
	// standard logger.
	Logger *log.Logger
}

func (o *Options) setDefaults() {
	if o.Window <= 0 {
		o.Window = 30 * time.Minute
	}
	if o.MaxDecisions <= 0 {
		o.MaxDecisions = 100_000
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
}

// Learner logs recommend answers as decisions, attributes the impressions,
// clicks and purchases that follow them, turns them into labels the click
// model learns from, and splits users into experiment arms with their own
// rankers and counters. It is safe for concurrent use.
type Learner struct {
	opts    Options
	db      *pebble.DB
	idx     *index.Index
	model   *model.Model
	ads     *model.Model
	log     *decisionLog
	exps    atomic.Pointer[experimentSet]
	stats   *armRegistry
	others  *otherNodes // the other nodes' counters, on a node of a cluster
	def     *Arm
	cfgMu   sync.Mutex // one configuration change at a time
	flushMu sync.Mutex // one flush at a time
	cancel  context.CancelFunc
	done    sync.WaitGroup
	m       metrics

	share atomic.Pointer[func([]model.Label) error] // set on the nodes of a cluster: see ShareLabels
}

type metrics struct {
	late, unknown, dropped prometheus.Counter
	evicted                prometheus.CounterFunc
}

var experimentsKey = kv.Key(kv.PrefixMeta, "experiments")

// Open opens the click models kept in db, the experiments' counters and
// configuration, and starts the sweeper that labels decisions past their
// window. The items of decisions are the catalog ordinals of idx. Metrics
// are registered on reg. On error, nothing is left open or running.
func Open(db *pebble.DB, idx *index.Index, opts Options, reg prometheus.Registerer) (l *Learner, err error) {
	opts.setDefaults()
	l = &Learner{opts: opts, db: db, idx: idx}
	defer func() {
		if err != nil {
			l.closeModels()
		}
	}()
	mo := opts.Model
	if mo.Now == nil {
		mo.Now = opts.Now
	}
	if mo.Logger == nil {
		mo.Logger = opts.Logger
	}
	if l.model, err = model.Open(db, mo, reg); err != nil {
		return nil, err
	}
	ao := opts.AdModel
	ao.Name = "ads"
	if ao.Bits == 0 {
		ao.Bits = 18
	}
	if ao.Now == nil {
		ao.Now = opts.Now
	}
	if ao.Logger == nil {
		ao.Logger = opts.Logger
	}
	if l.ads, err = model.Open(db, ao, reg); err != nil {
		return nil, err
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	l.log = newDecisionLog(opts.MaxDecisions, opts.Window.Milliseconds(), binary.LittleEndian.Uint64(nonce[:])&(1<<24-1),
		func(ord int32) string {
			if d := idx.Doc(ord); d != nil {
				return d.Item.ID
			}
			return ""
		})
	if l.stats, err = loadArmRegistry(db); err != nil {
		return nil, err
	}
	if l.others, err = loadOtherNodes(db); err != nil {
		return nil, err
	}
	base := opts.Ranker
	if !opts.HandSet && base.Model == nil {
		base.Model = l.model
	}
	l.def = &Arm{name: defaultArmName, ranker: ranker.New(idx, base), stats: l.stats.get("", defaultArmName), upTo: 1}
	cfg := opts.Experiments
	if cfg == nil {
		if cfg, err = loadExperiments(db); err != nil {
			return nil, err
		}
	} else if err = storeExperiments(db, cfg); err != nil {
		return nil, err
	}
	set, err := compileExperiments(cfg, idx, l.armBase(), !opts.HandSet, l.def, l.stats)
	if err != nil {
		return nil, err
	}
	l.exps.Store(set)
	l.m.late = prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_attribution_late_total",
		Help: "Impressions and clicks whose recommendation was past its attribution window, labelled, or from before a restart."})
	l.m.unknown = prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_attribution_unknown_items_total",
		Help: "Impression or click items that were not in the recommendation named by rec_id."})
	l.m.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_labels_dropped_total",
		Help: "Labels that could not be stored and were not learned."})
	l.m.evicted = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tailor_decisions_evicted_total",
		Help: "Decisions labelled before the end of their window because the decision log was full."},
		func() float64 { l.log.mu.Lock(); defer l.log.mu.Unlock(); return float64(l.log.evicted) })
	for _, c := range []prometheus.Collector{l.m.late, l.m.unknown, l.m.dropped, l.m.evicted, l.stats} {
		if err = reg.Register(c); err != nil {
			return nil, err
		}
	}
	if opts.SweepEvery > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			every.Tick(ctx, opts.SweepEvery, l.Flush)
		}()
	}
	return l, nil
}

// closeModels closes the click models Open opened.
func (l *Learner) closeModels() error {
	var err error
	if l.model != nil {
		err = l.model.Close()
	}
	if l.ads != nil {
		err = errors.Join(err, l.ads.Close())
	}
	return err
}

// armBase is the ranker options arms start from: the Learner's, with the
// click model for arms that use it.
func (l *Learner) armBase() ranker.Options {
	o := l.opts.Ranker
	if o.Model == nil {
		o.Model = l.model
	}
	return o
}

// Close stops the sweeper and waits for it, learns the labels collected so
// far, checkpoints the models and stores the counters. Decisions still
// within their window are not labelled. It does not close the database.
func (l *Learner) Close() error {
	if l.cancel != nil {
		l.cancel()
		l.done.Wait()
		l.cancel = nil
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.log.mu.Lock()
	b := l.log.takeLocked()
	l.log.mu.Unlock()
	var err error
	if b != nil {
		labels := b.labels()
		if err = l.learn(labels); err != nil && l.share.Load() != nil {
			// Sharing stopped first (a node of a cluster closing): the
			// labels are lost to every node alike.
			l.opts.Logger.Printf("labels: %v", err)
			l.m.dropped.Add(float64(len(labels)))
			err = nil
		}
	}
	err = errors.Join(err, l.closeModels(), l.stats.save(l.db, true))
	if err != nil {
		return fmt.Errorf("learn: closing the click models: %w", err)
	}
	return nil
}

// learn has the click model learn labels, or hands them to the function
// ShareLabels set.
func (l *Learner) learn(labels []model.Label) error {
	if share := l.share.Load(); share != nil {
		return (*share)(labels)
	}
	return l.model.Learn(labels)
}

// ShareLabels makes the learner hand the labels it makes to share instead
// of learning them: the nodes of a cluster log them, so that every node's
// click model learns every node's labels, in the log's order, with
// model.Model.LearnFrom. share must not keep labels once it returns; an error drops
// them (counted in tailor_labels_dropped_total). nil goes back to learning
// them here.
func (l *Learner) ShareLabels(share func([]model.Label) error) {
	if share == nil {
		l.share.Store(nil)
		return
	}
	l.share.Store(&share)
}

// Model returns the click model of recommendations.
func (l *Learner) Model() *model.Model { return l.model }

// AdModel returns the bidder's click model.
func (l *Learner) AdModel() *model.Model { return l.ads }

// Arm returns the arm user is in: an experiment's, or the default arm.
func (l *Learner) Arm(user string) *Arm { return l.exps.Load().assign(user) }

// Decision names a logged recommend answer: its rec_id and the arm that made
// it (Experiment "" for the default arm).
type Decision struct {
	RecID           RecID
	Experiment, Arm string
}

// Record logs the ranking in res, made for user by arm a at now (Unix ms),
// as a decision, and returns its name.
func (l *Learner) Record(user string, a *Arm, now int64, res *ranker.Result) Decision {
	id := l.log.record(user, a, now, res)
	a.stats.decisions.Add(1)
	return Decision{RecID: id, Experiment: a.exp, Arm: a.name}
}

// SplitImpressions moves impressions out of events: they join decisions and
// never reach profiles.
func SplitImpressions(events []features.Event) (rest, imps []features.Event) {
	n := 0
	for i := range events {
		if events[i].Type == features.Impression {
			n++
		}
	}
	if n == 0 {
		return events, nil
	}
	rest = make([]features.Event, 0, len(events)-n)
	imps = make([]features.Event, 0, n)
	for _, ev := range events {
		if ev.Type == features.Impression {
			imps = append(imps, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	return rest, imps
}

// Attribute attributes impressions, and the clicks and purchases among
// events that were applied (applied lists them as the profile store does),
// to the decisions they follow, then learns the labels that are ready. An
// impression or click names its decision by rec_id; a purchase counts for the
// latest open decision of its user that showed the item (last touch).
func (l *Learner) Attribute(events []features.Event, applied []features.Applied, imps []features.Event) {
	var late, unknown int
	l.log.mu.Lock()
	for i := range imps {
		ev := &imps[i]
		id, _ := ParseRecID(ev.RecID)
		d := l.log.lookupLocked(id, ev.TS)
		if d == nil {
			late++
			continue
		}
		for _, item := range ev.Items {
			pos := l.position(d, item)
			if pos < 0 {
				unknown++
				continue
			}
			d.show(pos)
		}
	}
	for _, a := range applied {
		ev := &events[a.Index]
		if ev.RecID != "" && ev.Type != features.Search {
			id, _ := ParseRecID(ev.RecID)
			d := l.log.lookupLocked(id, ev.TS)
			switch {
			case d == nil:
				late++
			default:
				pos := l.position(d, ev.Item)
				if pos < 0 {
					unknown++
					break
				}
				d.show(pos) // a click shows what it clicks
				if !d.clicked.has(pos) {
					d.clicked.set(pos)
					d.arm.stats.clicks.Add(1)
					l.log.buf.add(d, pos, true, ev.Item)
				}
			}
		}
		if ev.Type == features.Purchase {
			o, ok := l.idx.Ord(ev.Item)
			if !ok {
				continue
			}
			amount := ev.Amount
			if amount == 0 {
				amount = ev.Price
			}
			l.log.openForUserLocked(ev.User, ev.TS, func(d *decision) bool {
				pos := d.position(o)
				if pos < 0 || !d.shown.has(pos) || ev.TS < d.ts {
					return true
				}
				if !d.bought.has(pos) {
					d.bought.set(pos)
					d.arm.stats.conversions.Add(1)
					d.arm.stats.revenueMicros.Add(int64(amount * 1e6))
				}
				return false
			})
		}
	}
	l.log.mu.Unlock()
	l.m.late.Add(float64(late))
	l.m.unknown.Add(float64(unknown))
	l.flushLabels()
}

// position returns where item stands in decision d, -1 when it is not in it.
func (l *Learner) position(d *decision, item string) int {
	if o, ok := l.idx.Ord(item); ok {
		return d.position(o)
	}
	return -1
}

// Flush labels the decisions past their window and learns, or shares (see
// ShareLabels), every label collected, then stores the experiments'
// counters (with the labels' synced commit behind them). The sweeper does it
// every SweepEvery; every Attribute learns its labels the same way but leaves
// the counters to the sweeper: encoding them as JSON and writing them to
// Pebble for every events request was most of what learning cost a request.
func (l *Learner) Flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.flushLabelsLocked()
	if err := l.stats.save(l.db, false); err != nil {
		l.opts.Logger.Printf("experiments: %v", err)
	}
}

// flushLabels is Flush without storing the counters.
func (l *Learner) flushLabels() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.flushLabelsLocked()
}

// flushLabelsLocked labels the decisions past their window and learns the
// labels collected; flushMu is held.
func (l *Learner) flushLabelsLocked() {
	l.log.mu.Lock()
	l.log.sweepLocked(l.opts.Now().UnixMilli())
	b := l.log.takeLocked()
	l.log.mu.Unlock()
	if b != nil {
		labels := b.labels()
		if err := l.learn(labels); err != nil {
			l.opts.Logger.Printf("labels: %v", err)
			l.m.dropped.Add(float64(len(labels)))
		}
		l.log.giveBack(b)
	}
}

func loadExperiments(db *pebble.DB) (*ExperimentsConfig, error) {
	v, closer, err := db.Get(experimentsKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return &ExperimentsConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("learn: cannot read experiments: %w", err)
	}
	defer closer.Close()
	return ParseExperiments(v)
}

func storeExperiments(db *pebble.DB, c *ExperimentsConfig) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := db.Set(experimentsKey, b, pebble.Sync); err != nil {
		return fmt.Errorf("learn: cannot store experiments: %w", err)
	}
	return nil
}

// SetExperiments validates, stores and applies an experiments
// configuration. Arms that keep their experiment id and name keep their
// counters.
func (l *Learner) SetExperiments(c *ExperimentsConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l.cfgMu.Lock()
	defer l.cfgMu.Unlock()
	set, err := compileExperiments(c, l.idx, l.armBase(), !l.opts.HandSet, l.def, l.stats)
	if err != nil {
		return err
	}
	if err := storeExperiments(l.db, c); err != nil {
		return err
	}
	l.exps.Store(set)
	return nil
}

// CheckExperiments reports what SetExperiments would refuse in c, without
// applying it: the node of a cluster that takes a configuration checks it
// before it logs it for every node to set.
func (l *Learner) CheckExperiments(c *ExperimentsConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	scratch := &armRegistry{stats: map[[2]string]*armStats{}}
	_, err := compileExperiments(c, l.idx, l.armBase(), !l.opts.HandSet, l.def, scratch)
	return err
}

// Experiments returns the configuration in force and every arm's counters,
// those of experiments no longer configured included, by experiment and arm.
// On a node of a cluster the counters are the whole cluster's: this node's
// and those the others shared (MergeStats).
func (l *Learner) Experiments() (ExperimentsConfig, []ArmStats) {
	return l.exps.Load().cfg, l.others.addTo(l.stats.list())
}

// Report returns the report of experiment id: configured, or no longer
// configured but with counters kept. False when there is no such experiment.
func (l *Learner) Report(id string) (Report, bool) {
	e := l.exps.Load().find(id)
	all := l.others.addTo(l.stats.list())
	var stats []ArmStats
	if e != nil {
		for _, a := range e.arms {
			i := slices.IndexFunc(all, func(s ArmStats) bool { return s.Experiment == a.exp && s.Arm == a.name })
			st := a.stats.snapshot()
			if i >= 0 {
				st = all[i]
			}
			stats = append(stats, st)
		}
	} else {
		for _, st := range all {
			if st.Experiment == id {
				stats = append(stats, st)
			}
		}
	}
	return report(id, e, stats)
}
