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
		rules Rules
		want  string
	}{
		{"never bought", &Profile{User: "u", Events: 10}, Rules{}, StageProspect},
		{"first purchase today", buyer(1, 0, 0), Rules{}, StageNew},
		{"first purchase 29 days ago", buyer(1, 29*day, 29*day), Rules{}, StageNew},
		{"single purchase 30 days ago", buyer(1, 30*day, 30*day), Rules{}, StageActive},
		{"repeat buyer", buyer(2, 3*day, day), Rules{}, StageActive},
		{"59 days", buyer(4, 200*day, 60*day-1), Rules{}, StageActive},
		{"60 days", buyer(4, 200*day, 60*day), Rules{}, StageAtRisk},
		{"single purchase 60 days ago", buyer(1, 60*day, 60*day), Rules{}, StageAtRisk},
		{"89 days", buyer(4, 200*day, 90*day-1), Rules{}, StageAtRisk},
		{"90 days", buyer(4, 200*day, 90*day), Rules{}, StageLapsed},
		{"a year", buyer(1, 365*day, 365*day), Rules{}, StageLapsed},
		{"custom at risk", buyer(3, 20*day, 10*day), Rules{AtRisk: 10 * 24 * time.Hour, Lapsed: 20 * 24 * time.Hour}, StageAtRisk},
		{"custom lapsed", buyer(3, 20*day, 20*day), Rules{AtRisk: 10 * 24 * time.Hour, Lapsed: 20 * 24 * time.Hour}, StageLapsed},
		{"custom new", buyer(1, 2*day, 2*day), Rules{NewFor: 24 * time.Hour}, StageActive},
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
		if got := Lifecycle(p, now, Rules{}); got != want {
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
