package service

import (
	"testing"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/ranker"
)

// TestTuningLearnsAndSurvivesRestart: a user is recommended a slot and then
// views one of its items; the ranker's weights take a step, the metrics say
// so, and the weights learned are the ones the service starts with after a
// restart. With tuning disabled the same traffic leaves the weights as set.
func TestTuningLearnsAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	traffic := func(s *Service) {
		t.Helper()
		if err := s.Index().Upsert([]index.Item{
			{ID: "shoe-1", Title: "trail shoe", Category: []string{"shoes"}, Price: 90},
			{ID: "shoe-2", Title: "road shoe", Category: []string{"shoes"}, Price: 110},
			{ID: "sock-1", Title: "wool socks", Category: []string{"socks"}, Price: 12},
			{ID: "sock-2", Title: "run socks", Category: []string{"socks"}, Price: 9},
		}); err != nil {
			t.Fatal(err)
		}
		now := s.now()
		if _, err := s.Ingest([]features.Event{
			{User: "ben", Type: features.View, Item: "shoe-1", TS: now - 3000},
			{User: "ben", Type: features.View, Item: "sock-1", TS: now - 2000},
			{User: "ben", Type: features.View, Item: "sock-2", TS: now - 1000},
			{User: "ana", Type: features.View, Item: "shoe-1", TS: now - 1000},
		}); err != nil {
			t.Fatal(err)
		}
		req := ranker.Request{N: 3, Exclude: []string{"shoe-1"}}
		var out ranker.Result
		if _, err := s.Recommend("ana", nil, nil, &req, &out); err != nil || len(out.Items) < 2 {
			t.Fatalf("Recommend(ana) = %d items, %v", len(out.Items), err)
		}
		// ana goes on to the slot's last item, not its first.
		next := out.Items[len(out.Items)-1].Doc.Item.ID
		if _, err := s.Ingest([]features.Event{{User: "ana", Type: features.View, Item: next, TS: now}}); err != nil {
			t.Fatal(err)
		}
	}

	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	traffic(s)
	if got := gathered(t, s, "tailor_ranker_tuning_steps_total"); len(got) != 1 || got[0] != 1 {
		t.Errorf("tailor_ranker_tuning_steps_total = %v, want 1", got)
	}
	learned := s.tuner.Weights()
	if learned == ranker.DefaultWeights {
		t.Fatalf("weights after a step are the defaults")
	}
	if got := gathered(t, s, "tailor_ranker_weight"); len(got) != len(ranker.FeatureNames) {
		t.Errorf("tailor_ranker_weight = %v, want %d series", got, len(ranker.FeatureNames))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.tuner.Weights(); got != learned {
		t.Errorf("weights after a restart %+v, want those learned %+v", got, learned)
	}
	s.Close()

	o := testOptions()
	o.Tuning.Reset = true
	if s, err = Open(dir, o); err != nil {
		t.Fatal(err)
	}
	if got := s.tuner.Weights(); got != ranker.DefaultWeights {
		t.Errorf("weights after a restart with Reset %+v, want the defaults", got)
	}
	s.Close()
	if s, err = Open(dir, testOptions()); err != nil {
		t.Fatal(err)
	}
	if got := s.tuner.Weights(); got != ranker.DefaultWeights {
		t.Errorf("weights after a reset and a restart %+v, want the defaults saved at the reset's Close", got)
	}
	s.Close()

	o = testOptions()
	o.Tuning.Disabled = true
	s, err = Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	traffic(s)
	if s.tuner != nil || s.opts.Ranker.Tuner != nil {
		t.Errorf("tuning disabled, yet the ranker has a tuner")
	}
}

// gathered returns the values of the metric called name on s's registry.
func gathered(t *testing.T, s *Service, name string) []float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var vs []float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				vs = append(vs, m.GetCounter().GetValue())
			case m.Gauge != nil:
				vs = append(vs, m.GetGauge().GetValue())
			}
		}
	}
	return vs
}
