package auction

import "math"

// Features of the click model. Each is scaled to [0, 1].
const (
	// FeatInterest is the user's interest in the categories the campaign
	// targets (or its item's categories), relative to their strongest.
	FeatInterest = iota
	// FeatSearch is how recently the user searched for one of the
	// campaign's keywords: 1 for the latest search, less for older ones.
	FeatSearch
	// FeatPage is 1 when the page's keywords hold one of the campaign's.
	FeatPage
	// FeatHistory is how recently the user looked at one of the campaign's
	// items, or at items of the categories it targets.
	FeatHistory
	// FeatItem is the ranking score of a sponsored product for the user.
	FeatItem
	// FeatSegment is 1 when the campaign targets a segment the user is in.
	FeatSegment
	// FeatKnownUser is 1 when the bid may use the user's profile.
	FeatKnownUser
	// FeatVideo, FeatAudio and FeatNative are the creative's format (a
	// banner has none of them).
	FeatVideo
	FeatAudio
	FeatNative
	// FeatInterstitial is 1 for a full-screen placement.
	FeatInterstitial
	NumCTRFeatures
)

// CTRFeatureNames names the features, for models that learn by name.
var CTRFeatureNames = [NumCTRFeatures]string{"interest", "search", "page", "history", "item", "segment",
	"known_user", "video", "audio", "native", "interstitial"}

// CTRFeatures are the inputs of a click model for one ad in one slot.
type CTRFeatures [NumCTRFeatures]float64

// CTRModel predicts clicks. Implementations must be safe for concurrent use
// and should not allocate: PCTR runs for every candidate of every bid.
type CTRModel interface {
	// PCTR returns the probability that the ad is clicked once shown.
	PCTR(f *CTRFeatures) float64
}

// LogisticModel is a logistic regression over the features: pCTR =
// 1/(1+exp(-(Bias + Weights·f))).
type LogisticModel struct {
	Bias    float64
	Weights [NumCTRFeatures]float64
}

// PCTR implements CTRModel.
func (m *LogisticModel) PCTR(f *CTRFeatures) float64 {
	z := m.Bias
	for i, w := range m.Weights {
		z += w * f[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// DefaultCTRModel is a hand-set model: about 0.2% for a banner nobody has a
// reason to click, rising to several percent for an ad matching the user's
// latest search and strong interests. It orders ads sensibly; it is not
// fitted to outcomes.
var DefaultCTRModel = &LogisticModel{
	Bias: -6.2,
	Weights: [NumCTRFeatures]float64{
		FeatInterest:     1.8,
		FeatSearch:       2.2,
		FeatPage:         0.8,
		FeatHistory:      1.2,
		FeatItem:         1.5,
		FeatSegment:      0.4,
		FeatKnownUser:    0.2,
		FeatVideo:        1.0,
		FeatAudio:        0.3,
		FeatNative:       0.6,
		FeatInterstitial: 0.5,
	},
}
