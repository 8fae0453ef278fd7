package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/ident"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
)

// LearningOptions configure the decision log, the click model and the
// experiments. Zero fields take their defaults.
type LearningOptions struct {
	// Disabled turns it all off: answers carry no rec_id, impressions are
	// accepted and ignored, and the ranker keeps its hand-set weights.
	Disabled bool
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
	// HandSet keeps the default ranker (users outside experiments) on the
	// hand-set weights even when the click model is warm. Experiment arms
	// choose for themselves. Default false: the model scores once warm.
	HandSet bool
	// Model configures the click model of recommendations; its clock and
	// logger default to the server's.
	Model model.Options
	// AdModel configures the bidder's click model (named "ads"): the
	// bidder's pCTR reads it through auction.LearnedCTR once it is warm, and
	// the hand-set auction.DefaultCTRModel before. Default 18 hash bits.
	AdModel model.Options
	// Experiments, when set, replaces the stored experiments configuration
	// at start.
	Experiments *ExperimentsConfig
}

func (o *LearningOptions) setDefaults() {
	if o.Window <= 0 {
		o.Window = 30 * time.Minute
	}
	if o.MaxDecisions <= 0 {
		o.MaxDecisions = 100_000
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = time.Second
	}
}

// learning is the server's decision log, click model and experiments.
type learning struct {
	opts    LearningOptions
	model   *model.Model
	ads     *model.Model
	log     *decisionLog
	exps    atomic.Pointer[experimentSet]
	stats   *armRegistry
	def     *arm
	cfgMu   sync.Mutex // one configuration change at a time
	flushMu sync.Mutex // one flush at a time
	cancel  context.CancelFunc
	done    sync.WaitGroup
	m       learnMetrics
}

type learnMetrics struct {
	late, unknown, dropped prometheus.Counter
	evicted                prometheus.CounterFunc
}

var experimentsKey = kv.Key(kv.PrefixMeta, "experiments")

// openLearning starts the decision log, the click model and the experiments,
// and puts the default ranker on the model.
func (s *Server) openLearning() error {
	o := s.opts.Learning
	if o.Disabled {
		return nil
	}
	o.setDefaults()
	mo := o.Model
	if mo.Now == nil {
		mo.Now = s.opts.Now
	}
	if mo.Logger == nil {
		mo.Logger = s.opts.Logger
	}
	m, err := model.Open(s.db, mo, s.reg)
	if err != nil {
		return err
	}
	ao := o.AdModel
	ao.Name = "ads"
	if ao.Bits == 0 {
		ao.Bits = 18
	}
	if ao.Now == nil {
		ao.Now = s.opts.Now
	}
	if ao.Logger == nil {
		ao.Logger = s.opts.Logger
	}
	ads, err := model.Open(s.db, ao, s.reg)
	if err != nil {
		return err
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	l := &learning{opts: o, model: m, ads: ads}
	l.log = newDecisionLog(o.MaxDecisions, o.Window.Milliseconds(), binary.LittleEndian.Uint64(nonce[:])&(1<<24-1),
		func(ord int32) string {
			if d := s.idx.Doc(ord); d != nil {
				return d.Item.ID
			}
			return ""
		})
	if l.stats, err = loadArmRegistry(s.db); err != nil {
		return err
	}
	base := s.opts.Ranker
	if !o.HandSet && base.Model == nil {
		base.Model = m
		s.rank = ranker.New(s.idx, base)
	}
	l.def = &arm{name: defaultArmName, ranker: s.rank, stats: l.stats.get("", defaultArmName), upTo: 1}
	cfg := o.Experiments
	if cfg == nil {
		if cfg, err = loadExperiments(s.db); err != nil {
			return err
		}
	} else if err := storeExperiments(s.db, cfg); err != nil {
		return err
	}
	set, err := compileExperiments(cfg, s.idx, l.armBase(s.opts.Ranker), !o.HandSet, l.def, l.stats)
	if err != nil {
		return err
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
	s.reg.MustRegister(l.m.late, l.m.unknown, l.m.dropped, l.m.evicted, l.stats)
	s.learn = l
	if o.SweepEvery > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			t := time.NewTicker(o.SweepEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					s.flushLabels(l)
				}
			}
		}()
	}
	return nil
}

// armBase is the ranker options arms start from: the server's, with the
// click model for arms that use it.
func (l *learning) armBase(o ranker.Options) ranker.Options {
	if o.Model == nil {
		o.Model = l.model
	}
	return o
}

// closeLearning stops the sweeper, learns the labels collected so far and
// checkpoints the model. Decisions still within their window are not
// labelled.
func (s *Server) closeLearning() error {
	l := s.learn
	if l == nil {
		return nil
	}
	if l.cancel != nil {
		l.cancel()
		l.done.Wait()
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.log.mu.Lock()
	b := l.log.takeLocked()
	l.log.mu.Unlock()
	var err error
	if b != nil {
		err = l.model.Learn(b.labels())
	}
	err = errors.Join(err, l.model.Close(), l.ads.Close(), l.stats.save(s.db, true))
	if err != nil {
		return fmt.Errorf("server: closing the click model: %w", err)
	}
	return nil
}

// Model returns the click model, nil when learning is disabled.
func (s *Server) Model() *model.Model {
	if s.learn == nil {
		return nil
	}
	return s.learn.model
}

// AdModel returns the bidder's click model, nil when learning is disabled.
// Ad labels built with auction.CTRVector teach it.
func (s *Server) AdModel() *model.Model {
	if s.learn == nil {
		return nil
	}
	return s.learn.ads
}

// adCTR is the bidder's pCTR: the ads model once warm, the hand-set model
// before, and always when learning is disabled.
func (s *Server) adCTR() auction.CTRModel {
	if s.learn == nil {
		return auction.DefaultCTRModel
	}
	return &auction.LearnedCTR{Model: s.learn.ads, Fallback: auction.DefaultCTRModel}
}

// armFor returns the arm user is in, nil when learning is disabled.
func (s *Server) armFor(user string) *arm {
	if s.learn == nil {
		return nil
	}
	return s.learn.exps.Load().assign(user)
}

// recordDecision logs the ranking in res as a decision of arm a for user.
func (s *Server) recordDecision(user string, a *arm, now int64, res *ranker.Result) {
	s.learn.log.record(user, a, now, res)
	res.Experiment, res.Arm = a.exp, a.name
	a.stats.decisions.Add(1)
}

// Limits of attribution fields.
const maxImpressionItems = 100

// decodeAttribution reads the rec_id of an event and the items of an
// impression; decodeEvent has read the rest.
func decodeAttribution(f *fields, t features.EventType, ev *features.Event) {
	if f.err != nil {
		return
	}
	if ev.RecID != "" {
		if _, ok := parseRecID(ev.RecID); !ok {
			f.fail("rec_id", "must be the rec_id of a recommend answer (16 hexadecimal digits)")
			return
		}
	}
	if t != features.Impression {
		if v := f.v.Get("items"); v != nil && v.Type() != fastjson.TypeNull {
			f.fail("items", "is only for an impression")
		}
		return
	}
	if ev.RecID == "" {
		f.fail("rec_id", "is required for an impression")
		return
	}
	ev.Item = ""
	ev.Items = f.strs(f.v.Get("items"), "items", maxImpressionItems, ident.MaxBytes)
	if f.err == nil && len(ev.Items) == 0 {
		f.fail("items", "is required for an impression: the ids of the items shown")
	}
}

// splitImpressions moves impressions out of events: they join decisions and
// never reach profiles.
func splitImpressions(events []features.Event) (rest, imps []features.Event) {
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

// joinDecisions attributes impressions, and the clicks and purchases that
// were applied, to the decisions they follow, then learns the labels that
// are ready.
func (s *Server) joinDecisions(events []features.Event, applied []features.Applied, imps []features.Event) {
	l := s.learn
	if l == nil {
		return
	}
	var late, unknown int
	l.log.mu.Lock()
	for i := range imps {
		ev := &imps[i]
		id, _ := parseRecID(ev.RecID)
		d := l.log.lookupLocked(id, ev.TS)
		if d == nil {
			late++
			continue
		}
		for _, item := range ev.Items {
			pos := -1
			if o, ok := s.idx.Ord(item); ok {
				pos = d.position(o)
			}
			if pos < 0 {
				unknown++
				continue
			}
			if !d.shown.has(pos) {
				d.shown.set(pos)
				d.arm.stats.impressions.Add(1)
			}
		}
	}
	for _, a := range applied {
		ev := &events[a.Index]
		if ev.RecID != "" && ev.Type != features.Search {
			id, _ := parseRecID(ev.RecID)
			d := l.log.lookupLocked(id, ev.TS)
			switch {
			case d == nil:
				late++
			default:
				pos := -1
				if o, ok := s.idx.Ord(ev.Item); ok {
					pos = d.position(o)
				}
				if pos < 0 {
					unknown++
					break
				}
				if !d.shown.has(pos) {
					d.shown.set(pos)
					d.arm.stats.impressions.Add(1)
				}
				if !d.clicked.has(pos) {
					d.clicked.set(pos)
					d.arm.stats.clicks.Add(1)
					l.log.buf.add(d, pos, true, ev.Item)
				}
			}
		}
		if ev.Type == features.Purchase {
			o, ok := s.idx.Ord(ev.Item)
			if !ok {
				continue
			}
			amount := ev.Amount
			if amount == 0 {
				amount = ev.Price
			}
			// Last touch: the latest decision that showed the item.
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
	s.flushLabels(l)
}

// flushLabels labels the decisions past their window and learns every label
// collected, then stores the experiments' counters (with the labels' synced
// commit behind them).
func (s *Server) flushLabels(l *learning) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.log.mu.Lock()
	l.log.sweepLocked(s.now())
	b := l.log.takeLocked()
	l.log.mu.Unlock()
	if b != nil {
		labels := b.labels()
		if err := l.model.Learn(labels); err != nil {
			s.opts.Logger.Printf("labels: %v", err)
			l.m.dropped.Add(float64(len(labels)))
		}
		l.log.giveBack(b)
	}
	if err := l.stats.save(s.db, false); err != nil {
		s.opts.Logger.Printf("experiments: %v", err)
	}
}

func loadExperiments(db *pebble.DB) (*ExperimentsConfig, error) {
	v, closer, err := db.Get(experimentsKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return &ExperimentsConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: cannot read experiments: %w", err)
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
		return fmt.Errorf("server: cannot store experiments: %w", err)
	}
	return nil
}

// SetExperiments validates, stores and applies an experiments
// configuration. Arms that keep their experiment id and name keep their
// counters.
func (s *Server) SetExperiments(c *ExperimentsConfig) error {
	l := s.learn
	if l == nil {
		return errors.New("server: learning is disabled")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	l.cfgMu.Lock()
	defer l.cfgMu.Unlock()
	set, err := compileExperiments(c, s.idx, l.armBase(s.opts.Ranker), !l.opts.HandSet, l.def, l.stats)
	if err != nil {
		return err
	}
	if err := storeExperiments(s.db, c); err != nil {
		return err
	}
	l.exps.Store(set)
	return nil
}

// handleExperiments answers GET (the configuration and every arm's
// counters) and PUT or POST (replace the configuration) on /v1/experiments.
func (s *Server) handleExperiments(ctx *fasthttp.RequestCtx, method string) {
	if s.learn == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "learning is disabled", index: -1})
		return
	}
	switch method {
	case "GET":
	case "PUT", "POST":
		c, err := ParseExperiments(ctx.PostBody())
		if err != nil {
			writeError(ctx, badRequest(codeInvalidRequest, "", err.Error()))
			return
		}
		if err := s.SetExperiments(c); err != nil {
			s.opts.Logger.Printf("experiments: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
				message: "the configuration could not be stored, retry", index: -1})
			return
		}
	default:
		methodNotAllowed(ctx, "GET, PUT, POST")
		return
	}
	set := s.learn.exps.Load()
	writeJSON(ctx, struct {
		Experiments []ExperimentConfig `json:"experiments"`
		Arms        []armStatsJSON     `json:"arms"`
		Model       modelJSON          `json:"model"`
	}{Experiments: nonNil(set.cfg.Experiments), Arms: s.learn.stats.list(), Model: s.modelJSON()})
}

type modelJSON struct {
	Version uint64 `json:"version"`
	Labels  uint64 `json:"labels"`
	Clicks  uint64 `json:"clicks"`
	Warm    bool   `json:"warm"`
}

func (s *Server) modelJSON() modelJSON {
	snap := s.learn.model.Snapshot()
	return modelJSON{Version: snap.Version, Labels: snap.Labels, Clicks: snap.Clicks, Warm: snap.Warm()}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// armReport is one arm in GET /v1/experiments/{id}.
type armReport struct {
	Name           string     `json:"name"`
	Weight         float64    `json:"weight,omitempty"`
	Decisions      uint64     `json:"decisions"`
	Impressions    uint64     `json:"impressions"`
	Clicks         uint64     `json:"clicks"`
	CTR            float64    `json:"ctr"`
	CTRInterval    [2]float64 `json:"ctr_ci95"`
	Conversions    uint64     `json:"conversions"`
	ConversionRate float64    `json:"conversion_rate"`
	Revenue        float64    `json:"revenue"`
	RevenuePerImp  float64    `json:"revenue_per_impression"`
}

// difference compares an arm with the baseline arm.
type difference struct {
	Arm            string     `json:"arm"`
	CTR            float64    `json:"ctr_diff"`
	CTRInterval    [2]float64 `json:"ctr_diff_ci95"`
	Conversion     float64    `json:"conversion_rate_diff"`
	ConversionIntv [2]float64 `json:"conversion_rate_diff_ci95"`
}

const intervalNote = "95% intervals: Wilson score for each arm's rate, Newcombe's hybrid score interval (1998, method 10) " +
	"for the difference from the baseline (the first arm); they treat impressions as independent, which clicks by the " +
	"same user are not, so read them as somewhat too narrow"

// handleExperiment answers GET /v1/experiments/{id}: each arm's counters and
// rates, and each arm's difference from the first with its interval.
func (s *Server) handleExperiment(ctx *fasthttp.RequestCtx, id string) {
	if s.learn == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "learning is disabled", index: -1})
		return
	}
	set := s.learn.exps.Load()
	e := set.find(id)
	var arms []armReport
	var stats []armStatsJSON
	if e != nil {
		for _, a := range e.arms {
			stats = append(stats, a.stats.snapshot())
		}
	} else {
		for _, st := range s.learn.stats.list() {
			if st.Experiment == id {
				stats = append(stats, st)
			}
		}
	}
	if len(stats) == 0 {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no such experiment: " + id, index: -1})
		return
	}
	for i, st := range stats {
		r := armReport{Name: st.Arm, Decisions: st.Decisions, Impressions: st.Impressions, Clicks: st.Clicks,
			Conversions: st.Conversions, Revenue: round(st.Revenue)}
		if e != nil {
			r.Weight = armWeight(e.cfg.Arms[i])
		}
		if st.Impressions > 0 {
			r.CTR = float64(st.Clicks) / float64(st.Impressions)
			r.ConversionRate = float64(st.Conversions) / float64(st.Impressions)
			r.RevenuePerImp = st.Revenue / float64(st.Impressions)
		}
		r.CTRInterval[0], r.CTRInterval[1] = wilson(st.Clicks, st.Impressions, 1.96)
		arms = append(arms, r)
	}
	var diffs []difference
	b := stats[0]
	for _, st := range stats[1:] {
		var d difference
		d.Arm = st.Arm
		d.CTR, d.CTRInterval[0], d.CTRInterval[1] = newcombe(b.Clicks, b.Impressions, st.Clicks, st.Impressions, 1.96)
		d.Conversion, d.ConversionIntv[0], d.ConversionIntv[1] = newcombe(b.Conversions, b.Impressions, st.Conversions, st.Impressions, 1.96)
		diffs = append(diffs, d)
	}
	out := struct {
		ID          string       `json:"id"`
		Active      bool         `json:"active"`
		Traffic     float64      `json:"traffic,omitempty"`
		Baseline    string       `json:"baseline"`
		Arms        []armReport  `json:"arms"`
		Differences []difference `json:"differences"`
		Interval    string       `json:"interval"`
	}{ID: id, Active: e != nil, Baseline: b.Arm, Arms: arms, Differences: nonNil(diffs), Interval: intervalNote}
	if e != nil {
		out.Traffic = traffic(e.cfg)
	}
	writeJSON(ctx, out)
}
