package features

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Lifecycle stages, from a user's purchase history.
const (
	StageProspect = "prospect" // never bought
	StageNew      = "new"      // first purchase recently
	StageActive   = "active"   // bought recently
	StageLoyal    = "loyal"    // bought recently and often
	StageAtRisk   = "at_risk"  // no purchase for a while
	StageLapsed   = "lapsed"   // no purchase for long
)

// Price bands: what a user typically pays relative to the median of the
// categories they buy in.
const (
	BandUnknown = ""
	BandBudget  = "budget"
	BandMid     = "mid"
	BandPremium = "premium"
)

// Rules sets the windows and thresholds of indicators and lifecycle stages.
// Zero fields take their defaults.
type Rules struct {
	// Window is the period frequency and monetary value are counted over.
	// Default 365 days.
	Window time.Duration
	// NewFor: a first purchase this recent makes a user new. Default 30 days.
	NewFor time.Duration
	// AtRisk: no purchase for this long puts a user at risk. Default 60 days.
	AtRisk time.Duration
	// Lapsed: no purchase for this long makes a user lapsed. Default 90 days.
	Lapsed time.Duration
	// LoyalOrders: this many orders within Window make an active user loyal.
	// Default 4.
	LoyalOrders int
	// IntentWindow is how far back views and carts count toward purchase
	// propensity. Default 7 days.
	IntentWindow time.Duration
	// ReplenishAfter: a category bought on at least 3 occasions is due again
	// once this multiple of its mean interval has passed since the last.
	// Default 1.25.
	ReplenishAfter float64
}

// WindowOrDefault returns the frequency and monetary window in effect.
func (r Rules) WindowOrDefault() time.Duration { return r.withDefaults().Window }

func (r Rules) withDefaults() Rules {
	const day = 24 * time.Hour
	if r.Window <= 0 {
		r.Window = 365 * day
	}
	if r.NewFor <= 0 {
		r.NewFor = 30 * day
	}
	if r.AtRisk <= 0 {
		r.AtRisk = 60 * day
	}
	if r.Lapsed <= 0 {
		r.Lapsed = 90 * day
	}
	if r.LoyalOrders <= 0 {
		r.LoyalOrders = 4
	}
	if r.IntentWindow <= 0 {
		r.IntentWindow = 7 * day
	}
	if r.ReplenishAfter <= 0 {
		r.ReplenishAfter = 1.25
	}
	return r
}

// Indicators are what tailor derives about a user at a moment: their value,
// stage, propensity and habits.
type Indicators struct {
	// RecencyDays is the time since the last purchase, in days; -1 if never.
	RecencyDays float64
	// Frequency is the orders within the window; Monetary their total.
	Frequency int
	Monetary  float64
	// AOV is the average order value within the window, 0 without orders.
	AOV float64
	// Propensity estimates the chance of a purchase soon, from 0 to 1.
	Propensity float64
	// PriceBand is budget, mid or premium; "" until the user has engaged
	// with enough priced items.
	PriceBand string
	// PriceIndex is the user's typical price over the category median (1 when unknown).
	PriceIndex float64
	// Lifecycle is the stage; DueWakeup marks a lapsed user who has not been
	// back at all since well before lapsing.
	Lifecycle string
	DueWakeup bool
	// Replenish lists the categories (or items) the user usually rebuys and is
	// due to buy again, most overdue first.
	Replenish []Replenishment
	// ActiveHour is the UTC hour with most events (-1 without events);
	// ActiveChannel the channel with most events ("" when none is known).
	ActiveHour    int
	ActiveChannel string
	// PreferredCategories and PreferredBrands are the strongest interests.
	PreferredCategories []string
	PreferredBrands     []string
}

// Replenishment is a category (or item) due to be bought again.
type Replenishment struct {
	Key          string  // leaf category key or item id
	Item         string  // the item bought last time
	IntervalDays float64 // the user's mean interval between purchases of it
	OverdueDays  float64 // time since the last purchase beyond the interval
}

// Compute derives p's indicators as of now (Unix milliseconds).
func Compute(p *Profile, now int64, rules Rules) Indicators {
	var ind Indicators
	ComputeInto(&ind, p, now, rules)
	return ind
}

// ComputeInto is Compute into ind, reusing its slices: with an ind kept
// across calls it allocates nothing.
func ComputeInto(ind *Indicators, p *Profile, now int64, rules Rules) {
	rules = rules.withDefaults()
	*ind = Indicators{RecencyDays: -1, ActiveHour: -1, PriceIndex: 1,
		Replenish: ind.Replenish[:0], PreferredCategories: ind.PreferredCategories[:0], PreferredBrands: ind.PreferredBrands[:0]}
	const dayMS = float64(24 * time.Hour / time.Millisecond)
	if p.Purchases > 0 {
		ind.RecencyDays = float64(now-p.LastPurchase) / dayMS
	}
	from := now - rules.Window.Milliseconds()
	for _, o := range p.Orders {
		if o.TS >= from && o.TS <= now {
			ind.Frequency++
			ind.Monetary += o.Amount
		}
	}
	if ind.Frequency > 0 {
		ind.AOV = ind.Monetary / float64(ind.Frequency)
	}
	ind.Lifecycle = lifecycle(p, now, ind.Frequency, rules)
	ind.DueWakeup = ind.Lifecycle == StageLapsed && p.LastSeen <= now-rules.AtRisk.Milliseconds()
	ind.Propensity = propensity(p, now, ind.Frequency, rules)
	if p.PriceWeight >= 3 {
		ind.PriceIndex = math.Exp(float64(p.PriceLog / p.PriceWeight))
		switch {
		case ind.PriceIndex < 0.8:
			ind.PriceBand = BandBudget
		case ind.PriceIndex > 1.25:
			ind.PriceBand = BandPremium
		default:
			ind.PriceBand = BandMid
		}
	}
	for _, r := range p.Repurchases {
		if r.Count < 3 {
			continue
		}
		interval := float64(r.Last-r.First) / float64(r.Count-1)
		since := float64(now - r.Last)
		if since > rules.ReplenishAfter*interval && since < 4*interval {
			ind.Replenish = append(ind.Replenish, Replenishment{Key: r.Key, Item: r.Item,
				IntervalDays: interval / dayMS, OverdueDays: (since - interval) / dayMS})
		}
	}
	slices.SortFunc(ind.Replenish, func(a, b Replenishment) int {
		if a.OverdueDays/a.IntervalDays != b.OverdueDays/b.IntervalDays {
			if a.OverdueDays/a.IntervalDays > b.OverdueDays/b.IntervalDays {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	best := uint32(0)
	for h, n := range p.Hours {
		if n > best {
			best, ind.ActiveHour = n, h
		}
	}
	if len(p.Channels) > 0 {
		ind.ActiveChannel = p.Channels[0].Key
	}
	ind.PreferredCategories = AppendPreferredCategories(ind.PreferredCategories, p.Categories, 3)
	for i := 0; i < len(p.Brands) && i < 3; i++ {
		ind.PreferredBrands = append(ind.PreferredBrands, p.Brands[i].Key)
	}
}

// Lifecycle returns p's lifecycle stage as of now (Unix milliseconds).
func Lifecycle(p *Profile, now int64, rules Rules) string {
	return Compute(p, now, rules).Lifecycle
}

func lifecycle(p *Profile, now int64, orders int, rules Rules) string {
	if p.Purchases == 0 {
		return StageProspect
	}
	since := time.Duration(now-p.LastPurchase) * time.Millisecond
	switch {
	case since >= rules.Lapsed:
		return StageLapsed
	case since >= rules.AtRisk:
		return StageAtRisk
	case time.Duration(now-p.FirstPurchase)*time.Millisecond < rules.NewFor && orderCount(p) <= 1:
		return StageNew
	case orders >= rules.LoyalOrders:
		return StageLoyal
	}
	return StageActive
}

// orderCount is the number of orders p made, as far as it remembers.
func orderCount(p *Profile) int {
	if len(p.Orders) == 0 {
		return int(p.Purchases)
	}
	return len(p.Orders)
}

// propensity is a hand-set logistic score of recent intent: views and clicks
// raise it a little, items carted and not bought since raise it most, and a
// history of orders raises the base rate. It orders users sensibly; it is not
// fitted to outcomes.
func propensity(p *Profile, now int64, orders int, rules Rules) float64 {
	from := now - rules.IntentWindow.Milliseconds()
	var views, clicks, openCarts float64
	for i, a := range p.Recent {
		if a.TS < from || a.TS > now {
			continue
		}
		switch a.Type {
		case View:
			views++
		case Click:
			clicks++
		case Cart:
			bought := false
			for _, b := range p.Recent[i+1:] {
				if b.Type == Purchase && b.Target == a.Target {
					bought = true
					break
				}
			}
			if !bought {
				openCarts++
			}
		}
	}
	z := -4.0 + 0.5*math.Log1p(views) + 0.3*math.Log1p(clicks) + 1.2*math.Min(openCarts, 3) + 0.4*math.Log1p(float64(orders))
	return 1 / (1 + math.Exp(-z))
}

// AppendPreferredCategories appends to out up to k of the strongest
// categories, preferring the most specific: a category replaces its ancestor
// when both are strong.
func AppendPreferredCategories(out []string, list []Weighted, k int) []string {
	base := len(out)
	for _, w := range list {
		replaced, skip := false, false
		for j, c := range out[base:] {
			j += base
			switch {
			case strings.HasPrefix(w.Key, c+"/"):
				out[j] = w.Key
				replaced = true
			case strings.HasPrefix(c, w.Key+"/"):
				skip = true
			}
		}
		if replaced || skip {
			continue
		}
		if len(out)-base == k {
			break
		}
		out = append(out, w.Key)
	}
	return out
}
