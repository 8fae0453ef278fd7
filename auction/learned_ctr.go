package auction

import "github.com/tailor-dev/tailor/model"

// ClickModel is a learned click model, as the bidder reads it; *model.Model
// implements it.
type ClickModel interface {
	// Snapshot returns the model to score one bid with. It is never nil; a
	// snapshot that is not Warm is not used.
	Snapshot() *model.Snapshot
}

// LearnedCTR is the bidder's CTRModel read from a ClickModel: pCTR comes from the learned model
// while it is warm, from Fallback (the hand-set DefaultCTRModel when nil)
// before. The model must learn ad labels built with CTRVector.
type LearnedCTR struct {
	Model    ClickModel
	Fallback CTRModel
}

// PCTR implements CTRModel without allocating.
func (m *LearnedCTR) PCTR(f *CTRFeatures) float64 {
	s := m.Model.Snapshot()
	if !s.Warm() {
		if m.Fallback == nil {
			return DefaultCTRModel.PCTR(f)
		}
		return m.Fallback.PCTR(f)
	}
	var x [NumCTRFeatures + 1]model.Feature
	return s.Predict(CTRVector(x[:0], f))
}

// ctrKeys are the click-model keys of the ad features, namespace "ad".
var ctrKeys = func() (k [NumCTRFeatures]uint32) {
	for i, n := range CTRFeatureNames {
		k[i] = model.NS("ad").Str(n).Key()
	}
	return k
}()

// CTRVector appends the click-model features of an ad's CTRFeatures to dst:
// the bias and every non-zero feature under its name. Ad labels carry these
// (and model.Position where the slot has one).
func CTRVector(dst []model.Feature, f *CTRFeatures) []model.Feature {
	dst = append(dst, model.Bias)
	for i, v := range f {
		if v != 0 {
			dst = append(dst, model.Feature{Key: ctrKeys[i], Value: float32(v)})
		}
	}
	return dst
}
