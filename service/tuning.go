package service

import (
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/ranker"
)

// TuningOptions configure the learning of the ranker's weights from what
// users do next (see ranker.Tuner).
type TuningOptions struct {
	// Disabled keeps the weights as Options.Ranker sets them.
	Disabled bool
	// Reset starts learning again from the initial weights, forgetting
	// those a previous run saved.
	Reset bool
	// Tuner configures the learning; its Initial weights default to
	// Options.Ranker's.
	Tuner ranker.TunerOptions
	// SaveEvery is how many steps are taken between two saves of the
	// weights to the data directory (they are saved on Close too; a crash
	// loses at most this many steps). Default 1,000.
	SaveEvery uint64
}

// tuningMeta names the learned weights among the service's small values.
const tuningMeta = "ranker/weights"

// openTuning gives the ranker options a Tuner, starting from the weights a
// previous run saved when there are any, unless tuning is disabled.
func (s *Service) openTuning() error {
	o := &s.opts.Tuning
	if o.Disabled || s.opts.Ranker.Tuner != nil {
		return nil
	}
	if o.SaveEvery == 0 {
		o.SaveEvery = 1000
	}
	if o.Tuner.Initial == (ranker.Weights{}) {
		o.Tuner.Initial = s.opts.Ranker.Weights
	}
	t := ranker.NewTuner(s.idx, o.Tuner)
	saved, err := s.ReadMeta(tuningMeta)
	if err != nil {
		return err
	}
	if saved != nil && o.Reset {
		s.opts.Logger.Printf("ranker weights: starting again from the initial weights (--reset-weights)")
		saved = nil
	}
	if saved != nil {
		var byName map[string]float64
		if err := json.Unmarshal(saved, &byName); err != nil {
			return fmt.Errorf("service: cannot read the learned weights: %w", err)
		}
		w := t.Weights()
		for name, v := range byName {
			w.Set(name, v) // a feature no longer known is dropped
		}
		t.SetWeights(w)
	}
	s.opts.Ranker.Tuner = t
	s.tuner = t
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tailor_ranker_tuning_steps_total",
		Help: "Steps the ranker's weights took toward the items users went on to touch."},
		func() float64 { return float64(t.Steps()) }))
	weights := prometheus.NewDesc("tailor_ranker_weight", "The ranker's current weight of each feature.", []string{"feature"}, nil)
	s.reg.MustRegister(weightsCollector{desc: weights, tuner: t})
	return nil
}

// weightsCollector exports the Tuner's weights when scraped.
type weightsCollector struct {
	desc  *prometheus.Desc
	tuner *ranker.Tuner
}

func (c weightsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c weightsCollector) Collect(ch chan<- prometheus.Metric) {
	for name, v := range c.tuner.Weights().ByName() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, name)
	}
}

// RankerWeights returns the weights users outside experiments are ranked
// with, whether they learn, and the steps they have taken.
func (s *Service) RankerWeights() (w ranker.Weights, learning bool, steps uint64) {
	if s.tuner != nil {
		steps = s.tuner.Steps()
	}
	return s.rank.Weights(), s.tuner != nil, steps
}

// tune teaches the Tuner the item events of a batch just applied, and saves
// the weights once SaveEvery steps have been taken since the last save.
func (s *Service) tune(events []features.Event, applied []features.Applied) {
	if s.tuner == nil || len(applied) == 0 {
		return
	}
	evs := make([]ranker.Event, 0, len(applied))
	for _, a := range applied {
		if ev := &events[a.Index]; ev.Type != features.Search && ev.Item != "" {
			evs = append(evs, ranker.Event{User: ev.User, Item: ev.Item})
		}
	}
	s.tuner.Observe(s.now(), evs)
	if steps := s.tuner.Steps(); steps-s.tunedSaved.Load() >= s.opts.Tuning.SaveEvery {
		s.tunedSaved.Store(steps)
		if err := s.saveTuning(pebble.NoSync); err != nil {
			s.opts.Logger.Printf("%v", err)
		}
	}
}

// saveTuning keeps the learned weights in the data directory.
func (s *Service) saveTuning(opt *pebble.WriteOptions) error {
	if s.tuner == nil {
		return nil
	}
	b, err := json.Marshal(s.tuner.Weights().ByName())
	if err != nil {
		return err
	}
	if err := s.db.Set(MetaKey(tuningMeta), b, opt); err != nil {
		return fmt.Errorf("service: cannot save the learned weights: %w", err)
	}
	return nil
}
