package learn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/internal/kv"
)

// armStats are an arm's counters since the experiment began, kept across
// restarts.
type armStats struct {
	exp, arm      string
	decisions     atomic.Uint64
	impressions   atomic.Uint64
	clicks        atomic.Uint64
	conversions   atomic.Uint64
	revenueMicros atomic.Int64
}

// ArmStats are an arm's counters as stored and reported.
type ArmStats struct {
	Experiment  string  `json:"experiment"`
	Arm         string  `json:"arm"`
	Decisions   uint64  `json:"decisions"`
	Impressions uint64  `json:"impressions"`
	Clicks      uint64  `json:"clicks"`
	Conversions uint64  `json:"conversions"`
	Revenue     float64 `json:"revenue"`
}

func (a *armStats) snapshot() ArmStats {
	return ArmStats{Experiment: a.exp, Arm: a.arm, Decisions: a.decisions.Load(), Impressions: a.impressions.Load(),
		Clicks: a.clicks.Load(), Conversions: a.conversions.Load(), Revenue: float64(a.revenueMicros.Load()) / 1e6}
}

// armRegistry holds every arm's counters, including those of experiments no
// longer configured, and stores them in Pebble.
type armRegistry struct {
	mu    sync.Mutex
	stats map[[2]string]*armStats
	saved []byte // the last stored encoding
}

var statsKey = kv.Key(kv.PrefixMeta, "experiment-stats")

// readJSON decodes the JSON stored under key into v and returns a copy of
// it; nil when nothing is stored. what names the value in errors.
func readJSON(db *pebble.DB, key []byte, what string, v any) ([]byte, error) {
	b, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("learn: cannot read %s: %w", what, err)
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("learn: cannot decode %s: %w", what, err)
	}
	return append([]byte(nil), b...), nil
}

func loadArmRegistry(db *pebble.DB) (*armRegistry, error) {
	r := &armRegistry{stats: map[[2]string]*armStats{}}
	var list []ArmStats
	v, err := readJSON(db, statsKey, "experiment statistics", &list)
	if err != nil || v == nil {
		return r, err
	}
	for _, s := range list {
		a := r.get(s.Experiment, s.Arm)
		a.decisions.Store(s.Decisions)
		a.impressions.Store(s.Impressions)
		a.clicks.Store(s.Clicks)
		a.conversions.Store(s.Conversions)
		a.revenueMicros.Store(int64(math.Round(s.Revenue * 1e6)))
	}
	r.saved = v
	return r, nil
}

func (r *armRegistry) get(exp, name string) *armStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{exp, name}
	a := r.stats[k]
	if a == nil {
		a = &armStats{exp: exp, arm: name}
		r.stats[k] = a
	}
	return a
}

// list returns every arm's counters, by experiment and arm.
func (r *armRegistry) list() []ArmStats {
	r.mu.Lock()
	out := make([]ArmStats, 0, len(r.stats))
	for _, a := range r.stats {
		out = append(out, a.snapshot())
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b ArmStats) int {
		if c := strings.Compare(a.Experiment, b.Experiment); c != 0 {
			return c
		}
		return strings.Compare(a.Arm, b.Arm)
	})
	return out
}

// save stores the counters when they changed since the last save.
func (r *armRegistry) save(db *pebble.DB, sync bool) error {
	b, err := json.Marshal(r.list())
	if err != nil {
		return err
	}
	r.mu.Lock()
	same := bytes.Equal(b, r.saved)
	r.mu.Unlock()
	if same {
		return nil
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := db.Set(statsKey, b, opt); err != nil {
		return fmt.Errorf("learn: cannot store experiment statistics: %w", err)
	}
	r.mu.Lock()
	r.saved = b
	r.mu.Unlock()
	return nil
}

// Describe and Collect export the counters as Prometheus metrics.
func (r *armRegistry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range armDescs {
		ch <- d
	}
}

var armDescs = [...]*prometheus.Desc{
	prometheus.NewDesc("tailor_experiment_decisions_total", "Recommend answers by experiment arm.", []string{"experiment", "arm"}, nil),
	prometheus.NewDesc("tailor_experiment_impressions_total", "Recommended items reported shown, by experiment arm.", []string{"experiment", "arm"}, nil),
	prometheus.NewDesc("tailor_experiment_clicks_total", "Recommended items clicked within the attribution window, by experiment arm.", []string{"experiment", "arm"}, nil),
	prometheus.NewDesc("tailor_experiment_conversions_total", "Shown items bought within the attribution window, by experiment arm.", []string{"experiment", "arm"}, nil),
	prometheus.NewDesc("tailor_experiment_revenue_total", "Value of the conversions, by experiment arm.", []string{"experiment", "arm"}, nil),
	prometheus.NewDesc("tailor_experiment_ctr", "Clicks over impressions, by experiment arm.", []string{"experiment", "arm"}, nil),
}

func (r *armRegistry) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r.list() {
		exp := s.Experiment
		if exp == "" {
			exp = "none"
		}
		for i, v := range [...]float64{float64(s.Decisions), float64(s.Impressions), float64(s.Clicks), float64(s.Conversions), s.Revenue} {
			ch <- prometheus.MustNewConstMetric(armDescs[i], prometheus.CounterValue, v, exp, s.Arm)
		}
		ctr := 0.0
		if s.Impressions > 0 {
			ctr = float64(s.Clicks) / float64(s.Impressions)
		}
		ch <- prometheus.MustNewConstMetric(armDescs[5], prometheus.GaugeValue, ctr, exp, s.Arm)
	}
}

// wilson returns the Wilson score interval of x successes in n trials at
// z standard errors.
func wilson(x, n uint64, z float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	p := float64(x) / float64(n)
	nn := float64(n)
	den := 1 + z*z/nn
	mid := (p + z*z/(2*nn)) / den
	half := z * math.Sqrt(p*(1-p)/nn+z*z/(4*nn*nn)) / den
	return math.Max(0, mid-half), math.Min(1, mid+half)
}

// newcombe returns the difference p2 - p1 of two proportions and its
// interval by Newcombe's hybrid score method (Newcombe 1998, method 10),
// built from the two Wilson intervals; it behaves well for the small rates
// of clicks and conversions, where the Wald interval does not.
func newcombe(x1, n1, x2, n2 uint64, z float64) (d, lo, hi float64) {
	if n1 == 0 || n2 == 0 {
		return 0, -1, 1
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	l1, u1 := wilson(x1, n1, z)
	l2, u2 := wilson(x2, n2, z)
	d = p2 - p1
	lo = d - math.Sqrt((p2-l2)*(p2-l2)+(u1-p1)*(u1-p1))
	hi = d + math.Sqrt((u2-p2)*(u2-p2)+(p1-l1)*(p1-l1))
	return d, lo, hi
}

// ArmReport is one arm in an experiment's report.
type ArmReport struct {
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

// Difference compares an arm with the experiment's baseline arm.
type Difference struct {
	Arm            string     `json:"arm"`
	CTR            float64    `json:"ctr_diff"`
	CTRInterval    [2]float64 `json:"ctr_diff_ci95"`
	Conversion     float64    `json:"conversion_rate_diff"`
	ConversionIntv [2]float64 `json:"conversion_rate_diff_ci95"`
}

// Report is an experiment's arms with their rates, and each arm's
// difference from the first (the baseline) with its interval.
type Report struct {
	ID          string       `json:"id"`
	Active      bool         `json:"active"`
	Traffic     float64      `json:"traffic,omitempty"`
	Baseline    string       `json:"baseline"`
	Arms        []ArmReport  `json:"arms"`
	Differences []Difference `json:"differences"`
	Interval    string       `json:"interval"`
}

// IntervalNote says how Report's intervals are computed and how to read them.
const IntervalNote = "95% intervals: Wilson score for each arm's rate, Newcombe's hybrid score interval (1998, method 10) " +
	"for the difference from the baseline (the first arm); they treat impressions as independent, which clicks by the " +
	"same user are not, so read them as somewhat too narrow"

// report builds the report of experiment id from its arms' counters: those
// of the configured experiment e when it is configured (in its arms' order),
// else those stored for id. False when there are none.
func report(id string, e *experiment, stats []ArmStats) (Report, bool) {
	if len(stats) == 0 {
		return Report{}, false
	}
	r := Report{ID: id, Active: e != nil, Baseline: stats[0].Arm, Interval: IntervalNote, Differences: []Difference{}}
	if e != nil {
		r.Traffic = traffic(e.cfg)
	}
	for i, st := range stats {
		a := ArmReport{Name: st.Arm, Decisions: st.Decisions, Impressions: st.Impressions, Clicks: st.Clicks,
			Conversions: st.Conversions, Revenue: round4(st.Revenue)}
		if e != nil {
			a.Weight = armWeight(e.cfg.Arms[i])
		}
		if st.Impressions > 0 {
			a.CTR = float64(st.Clicks) / float64(st.Impressions)
			a.ConversionRate = float64(st.Conversions) / float64(st.Impressions)
			a.RevenuePerImp = st.Revenue / float64(st.Impressions)
		}
		a.CTRInterval[0], a.CTRInterval[1] = wilson(st.Clicks, st.Impressions, 1.96)
		r.Arms = append(r.Arms, a)
	}
	b := stats[0]
	for _, st := range stats[1:] {
		d := Difference{Arm: st.Arm}
		d.CTR, d.CTRInterval[0], d.CTRInterval[1] = newcombe(b.Clicks, b.Impressions, st.Clicks, st.Impressions, 1.96)
		d.Conversion, d.ConversionIntv[0], d.ConversionIntv[1] = newcombe(b.Conversions, b.Impressions, st.Conversions, st.Impressions, 1.96)
		r.Differences = append(r.Differences, d)
	}
	return r, true
}

// round4 keeps four decimals, enough to read and compare.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
