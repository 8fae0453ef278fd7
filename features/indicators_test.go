package features

import (
	"math"
	"testing"
	"time"
)

const dayMS = int64(24 * time.Hour / time.Millisecond)

// applied applies events to a new profile as the store would.
func applied(events ...Event) *Profile {
	p := &Profile{User: "u"}
	lim := Limits{}
	lim.setDefaults()
	for i := range events {
		events[i].User = "u"
		p.apply(&events[i], &lim)
	}
	return p
}

func TestOrdersGroupSessions(t *testing.T) {
	now := int64(1000 * dayMS)
	p := applied(
		Event{Type: Purchase, Item: "a", Amount: 10, TS: now - 40*dayMS, Session: "inv1"},
		Event{Type: Purchase, Item: "b", Amount: 5, TS: now - 40*dayMS, Session: "inv1"},
		Event{Type: Purchase, Item: "c", Amount: 7, TS: now - 20*dayMS, Session: "inv2"},
		Event{Type: Purchase, Item: "c", Amount: 3, TS: now - 400*dayMS}, // no session: its own order, outside the window
	)
	ind := Compute(p, now, Rules{})
	if ind.Frequency != 2 || ind.Monetary != 22 || ind.AOV != 11 {
		t.Errorf("frequency %d monetary %v aov %v, want 2, 22, 11", ind.Frequency, ind.Monetary, ind.AOV)
	}
	if math.Abs(ind.RecencyDays-20) > 1e-9 {
		t.Errorf("recency = %v days, want 20", ind.RecencyDays)
	}
	if len(p.Orders) != 3 || p.Purchases != 4 || p.Monetary != 25 {
		t.Errorf("orders %d purchases %d monetary %v, want 3, 4, 25", len(p.Orders), p.Purchases, p.Monetary)
	}
	if ind := Compute(p, now, Rules{Window: 500 * 24 * time.Hour}); ind.Frequency != 3 {
		t.Errorf("with a 500-day window frequency = %d, want 3", ind.Frequency)
	}
}

func TestLifecycleStages(t *testing.T) {
	start := int64(1000 * dayMS)
	var events []Event
	for i := 0; i < 5; i++ { // an order every 10 days
		events = append(events, Event{Type: Purchase, Item: "x", Amount: 1, TS: start + int64(i)*10*dayMS, Session: string(rune('a' + i))})
	}
	last := events[4].TS
	p := applied(events[:1]...)
	if got := Lifecycle(p, start+dayMS, Rules{}); got != StageNew {
		t.Errorf("after one order: %s, want new", got)
	}
	p = applied(events[:2]...)
	if got := Lifecycle(p, events[1].TS+dayMS, Rules{}); got != StageActive {
		t.Errorf("after two orders: %s, want active", got)
	}
	p = applied(events...)
	for _, tt := range []struct {
		days int64
		want string
	}{{1, StageLoyal}, {59, StageLoyal}, {60, StageAtRisk}, {89, StageAtRisk}, {90, StageLapsed}} {
		if got := Lifecycle(p, last+tt.days*dayMS, Rules{}); got != tt.want {
			t.Errorf("%d days after the last order: %s, want %s", tt.days, got, tt.want)
		}
	}
	// Lapsed and not seen since: due a wake-up; a recent visit means not.
	if ind := Compute(p, last+100*dayMS, Rules{}); !ind.DueWakeup {
		t.Errorf("lapsed and dormant: due_wakeup false")
	}
	p = applied(append(events, Event{Type: View, Item: "y", TS: last + 95*dayMS})...)
	if ind := Compute(p, last+100*dayMS, Rules{}); ind.Lifecycle != StageLapsed || ind.DueWakeup {
		t.Errorf("lapsed but browsing: %s due_wakeup %v, want lapsed and false", ind.Lifecycle, ind.DueWakeup)
	}
}

func TestReplenishDue(t *testing.T) {
	start := int64(1000 * dayMS)
	formula := []string{"Baby", "Feeding", "Formula"}
	var events []Event
	for i := 0; i < 4; i++ { // every 20 days
		events = append(events, Event{Type: Purchase, Item: "f1", Category: formula, Amount: 20, TS: start + int64(i)*20*dayMS})
	}
	events = append(events, Event{Type: Purchase, Item: "toy", Category: []string{"Baby", "Toys"}, Amount: 30, TS: start})
	p := applied(events...)
	last := events[3].TS
	for _, tt := range []struct {
		days int64
		due  bool
	}{{10, false}, {24, false}, {26, true}, {79, true}, {81, false}} {
		ind := Compute(p, last+tt.days*dayMS, Rules{})
		due := len(ind.Replenish) == 1 && ind.Replenish[0].Key == "Baby/Feeding/Formula" && ind.Replenish[0].Item == "f1"
		if due != tt.due || (!tt.due && len(ind.Replenish) != 0) {
			t.Errorf("%d days after the last formula: replenish %+v, want due %v", tt.days, ind.Replenish, tt.due)
		}
		if due && math.Abs(ind.Replenish[0].IntervalDays-20) > 1e-9 {
			t.Errorf("interval = %v days, want 20", ind.Replenish[0].IntervalDays)
		}
	}
}

func TestPriceBandAndHabits(t *testing.T) {
	ts := int64(1000*dayMS) + 14*3_600_000 // 14:00 UTC
	cheap := applied(
		Event{Type: View, Item: "a", PriceRatio: 0.5, TS: ts, Channel: "app"},
		Event{Type: Purchase, Item: "a", PriceRatio: 0.5, Amount: 5, TS: ts + 1, Channel: "app"},
		Event{Type: View, Item: "b", PriceRatio: 1.2, TS: ts + 2, Channel: "web"},
	)
	ind := Compute(cheap, ts+3, Rules{})
	if ind.PriceBand != BandBudget || ind.PriceIndex >= 0.8 {
		t.Errorf("budget shopper: band %q index %v", ind.PriceBand, ind.PriceIndex)
	}
	if ind.ActiveHour != 14 || ind.ActiveChannel != "app" {
		t.Errorf("habits: hour %d channel %q, want 14 app", ind.ActiveHour, ind.ActiveChannel)
	}
	rich := applied(Event{Type: Purchase, Item: "z", PriceRatio: 3, Amount: 300, TS: ts})
	if got := Compute(rich, ts, Rules{}).PriceBand; got != BandPremium {
		t.Errorf("premium shopper: band %q", got)
	}
	if got := Compute(applied(Event{Type: View, Item: "z", PriceRatio: 3, TS: ts}), ts, Rules{}).PriceBand; got != BandUnknown {
		t.Errorf("one view: band %q, want unknown until enough evidence", got)
	}
}

func TestPropensityOrdersIntent(t *testing.T) {
	now := int64(1000 * dayMS)
	browse := applied(Event{Type: View, Item: "a", TS: now - dayMS})
	carted := applied(Event{Type: View, Item: "a", TS: now - dayMS}, Event{Type: Cart, Item: "a", TS: now - dayMS + 1})
	bought := applied(Event{Type: View, Item: "a", TS: now - dayMS}, Event{Type: Cart, Item: "a", TS: now - dayMS + 1},
		Event{Type: Purchase, Item: "a", Amount: 1, TS: now - dayMS + 2})
	stale := applied(Event{Type: View, Item: "a", TS: now - 30*dayMS}, Event{Type: Cart, Item: "a", TS: now - 30*dayMS})
	pb, pc, pp, ps := Compute(browse, now, Rules{}).Propensity, Compute(carted, now, Rules{}).Propensity,
		Compute(bought, now, Rules{}).Propensity, Compute(stale, now, Rules{}).Propensity
	if !(pc > pb && pc > pp && pb > ps) || pc <= 0 || pc >= 1 {
		t.Errorf("propensity: browse %.3f carted %.3f bought %.3f stale %.3f; want carted highest, stale lowest", pb, pc, pp, ps)
	}
}

func TestAttributesUpdate(t *testing.T) {
	str := func(s string) *string { return &s }
	tier := 3
	chans := []string{"Email", "sms", "email"}
	labels := []Label{{"z", "1"}, {"a", "2"}}
	u := AttributesUpdate{User: "u", Country: str("gb"), Tier: &tier, Channels: &chans, Labels: &labels}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	var a Attributes
	u.applyTo(&a)
	if a.Country != "GB" || a.Tier != 3 || len(a.Channels) != 2 || a.Channels[0] != "email" || a.Labels[0].Key != "a" {
		t.Errorf("applied %+v", a)
	}
	bad := []struct {
		u     AttributesUpdate
		field string
	}{
		{AttributesUpdate{Country: str("Britain")}, "country"},
		{AttributesUpdate{Tier: new(int)}, ""},
		{AttributesUpdate{Region: str(string(make([]byte, 65)))}, "region"},
		{AttributesUpdate{Channels: &[]string{"e mail"}}, "channels[0]"},
		{AttributesUpdate{Labels: &[]Label{{"", "x"}}}, "labels."},
	}
	for _, tt := range bad {
		err := tt.u.Validate()
		ae, ok := err.(*AttributeError)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.u, err)
		case tt.field != "" && (!ok || ae.Field != tt.field):
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.u, err, tt.field)
		}
	}
}
