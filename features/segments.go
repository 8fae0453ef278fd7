package features

import "time"

// Lifecycle stages, from a user's purchase history.
const (
	StageProspect = "prospect" // never bought
	StageNew      = "new"      // first purchase recently
	StageActive   = "active"   // bought recently
	StageAtRisk   = "at_risk"  // no purchase for a while
	StageLapsed   = "lapsed"   // no purchase for long: due a wake-up
)

// LifecycleRules sets the thresholds of the lifecycle stages.
type LifecycleRules struct {
	NewFor time.Duration // a first purchase this recent makes a user new; default 30 days
	AtRisk time.Duration // no purchase for this long: at risk; default 60 days
	Lapsed time.Duration // no purchase for this long: lapsed; default 90 days
}

func (r LifecycleRules) withDefaults() LifecycleRules {
	if r.NewFor <= 0 {
		r.NewFor = 30 * 24 * time.Hour
	}
	if r.AtRisk <= 0 {
		r.AtRisk = 60 * 24 * time.Hour
	}
	if r.Lapsed <= 0 {
		r.Lapsed = 90 * 24 * time.Hour
	}
	return r
}

// Lifecycle returns p's lifecycle stage as of now (Unix milliseconds).
func Lifecycle(p *Profile, now int64, rules LifecycleRules) string {
	rules = rules.withDefaults()
	if p.Purchases == 0 {
		return StageProspect
	}
	since := time.Duration(now-p.LastPurchase) * time.Millisecond
	switch {
	case since >= rules.Lapsed:
		return StageLapsed
	case since >= rules.AtRisk:
		return StageAtRisk
	case p.Purchases == 1 && time.Duration(now-p.FirstPurchase)*time.Millisecond < rules.NewFor:
		return StageNew
	}
	return StageActive
}
