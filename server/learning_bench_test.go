package server

import (
	"math/rand/v2"
	"testing"

	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/service"
)

// warmModel teaches the server's click model from its own answers to a
// thousand users, clicking one item in twenty, until it is warm.
func warmModel(b *testing.B, bw *benchWorld) {
	b.Helper()
	m := bw.srv.svc.Model()
	r := rand.New(rand.NewPCG(1, 1))
	var req ranker.Request
	var res ranker.Result
	var labels []model.Label
	for u := 0; !m.Snapshot().Warm(); u++ {
		if u > 100000 {
			b.Fatalf("the model does not warm: %+v", m.Stats())
		}
		req = ranker.Request{N: 10, Features: true}
		if _, err := bw.srv.svc.Recommend(bw.world.UserID(u%benchUsers), nil, nil, &req, &res); err != nil {
			b.Fatal(err)
		}
		labels = labels[:0]
		for i := range res.Items {
			x := append(append([]model.Feature(nil), res.ItemFeatures(i)...), model.Position(i))
			labels = append(labels, model.Label{Features: x, Click: r.IntN(20) == 0})
		}
		if err := m.Learn(labels); err != nil {
			b.Fatal(err)
		}
	}
	m.Publish()
}

// BenchmarkRecommendLearning runs the recommend handler with the decision
// log off (as before learning existed), with it on and hand-set weights, and
// with it on and a warm click model scoring every candidate.
func BenchmarkRecommendLearning(b *testing.B) {
	bw := loadWorld(b, 1<<30)
	warmModel(b, bw)
	body := bw.plainRecommend
	off := loadWorld(b, 1<<30, func(o *service.Options) { o.Learning.Disabled = true })
	b.Run("off", func(b *testing.B) {
		benchRecommend(b, off, benchUsersPerRun, body)
	})
	b.Run("hand-set", func(b *testing.B) {
		// Everyone in one experiment whose only arm keeps the hand-set
		// weights: the decision log runs as with the model.
		hand := false
		if err := bw.srv.svc.SetExperiments(&learn.ExperimentsConfig{Experiments: []learn.ExperimentConfig{
			{ID: "bench", Arms: []learn.ArmConfig{{Name: "hand", Ranker: learn.RankerConfig{Model: &hand}}}}}}); err != nil {
			b.Fatal(err)
		}
		defer bw.srv.svc.SetExperiments(&learn.ExperimentsConfig{})
		benchRecommend(b, bw, benchUsersPerRun, body)
	})
	b.Run("model", func(b *testing.B) {
		benchRecommend(b, bw, benchUsersPerRun, body)
	})
}
