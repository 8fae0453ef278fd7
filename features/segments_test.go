package features

import (
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	now := t0
	buyer := func(purchases uint32, first, last int64) *Profile {
		return &Profile{User: "u", Purchases: purchases, FirstPurchase: now - first, LastPurchase: now - last}
	}
	tests := []struct {
		name  string
		p     *Profile
		rules LifecycleRules
		want  string
	}{
		{"never bought", &Profile{User: "u", Events: 10}, LifecycleRules{}, StageProspect},
		{"first purchase today", buyer(1, 0, 0), LifecycleRules{}, StageNew},
		{"first purchase 29 days ago", buyer(1, 29*day, 29*day), LifecycleRules{}, StageNew},
		{"single purchase 30 days ago", buyer(1, 30*day, 30*day), LifecycleRules{}, StageActive},
		{"repeat buyer", buyer(2, 3*day, day), LifecycleRules{}, StageActive},
		{"59 days", buyer(4, 200*day, 60*day-1), LifecycleRules{}, StageActive},
		{"60 days", buyer(4, 200*day, 60*day), LifecycleRules{}, StageAtRisk},
		{"single purchase 60 days ago", buyer(1, 60*day, 60*day), LifecycleRules{}, StageAtRisk},
		{"89 days", buyer(4, 200*day, 90*day-1), LifecycleRules{}, StageAtRisk},
		{"90 days", buyer(4, 200*day, 90*day), LifecycleRules{}, StageLapsed},
		{"a year", buyer(1, 365*day, 365*day), LifecycleRules{}, StageLapsed},
		{"custom at risk", buyer(3, 20*day, 10*day), LifecycleRules{AtRisk: 10 * 24 * time.Hour, Lapsed: 20 * 24 * time.Hour}, StageAtRisk},
		{"custom lapsed", buyer(3, 20*day, 20*day), LifecycleRules{AtRisk: 10 * 24 * time.Hour, Lapsed: 20 * 24 * time.Hour}, StageLapsed},
		{"custom new", buyer(1, 2*day, 2*day), LifecycleRules{NewFor: 24 * time.Hour}, StageActive},
	}
	for _, tt := range tests {
		if got := Lifecycle(tt.p, now, tt.rules); got != tt.want {
			t.Errorf("Lifecycle(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestLifecycleFromEvents follows one user through the stages by applying
// purchases and asking as time passes.
func TestLifecycleFromEvents(t *testing.T) {
	lim := defaultLimits()
	p := applyAll(lim, Event{Type: View, Item: "i", TS: t0})
	f := func(now int64, want string) {
		t.Helper()
		if got := Lifecycle(p, now, LifecycleRules{}); got != want {
			t.Errorf("Lifecycle(at %d days) = %q, want %q", (now-t0)/day, got, want)
		}
	}
	f(t0, StageProspect)
	p.apply(&Event{Type: Purchase, Item: "i", TS: t0, Price: 3}, lim)
	f(t0+day, StageNew)
	p.apply(&Event{Type: Purchase, Item: "j", TS: t0 + 2*day, Price: 3}, lim)
	f(t0+3*day, StageActive)
	f(t0+62*day, StageAtRisk)
	f(t0+92*day, StageLapsed)
}
