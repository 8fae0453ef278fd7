package features

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// TierRule names the users whose combined R+F+M score places them in the top
// Share of purchasers (after the tiers before it).
type TierRule struct {
	Name  string
	Share float64
}

// DefaultTiers are the value tiers: the top 15% are champions, the next 35%
// potential; everyone else with a purchase is RestTier.
var DefaultTiers = []TierRule{{Name: "champions", Share: 0.15}, {Name: "potential", Share: 0.35}}

// RestTier is the tier of purchasers below every TierRule.
const RestTier = "nurture"

// Segmentation is an RFM scoring of the whole user base at one moment: the
// quintile cut points of recency, frequency and monetary value among users
// with a purchase, and the value tiers built on them.
type Segmentation struct {
	AsOf       int64   `json:"as_of"`      // Unix milliseconds
	Profiles   int     `json:"profiles"`   // profiles scanned
	Purchasers int     `json:"purchasers"` // profiles with a purchase, the ones scored
	WindowDays float64 `json:"window_days"`
	// Cut points, ascending: the values at the 20th, 40th, 60th and 80th
	// percentiles (nearest rank) of recency (days), frequency (orders) and
	// monetary value within the window.
	Recency   [4]float64 `json:"recency_days_cuts"`
	Frequency [4]float64 `json:"frequency_cuts"`
	Monetary  [4]float64 `json:"monetary_cuts"`
	// RSizes, FSizes and MSizes count purchasers by score, index 0 for score 1.
	RSizes [5]int `json:"r_sizes"`
	FSizes [5]int `json:"f_sizes"`
	MSizes [5]int `json:"m_sizes"`
	// RFGrid counts purchasers by R score (row, index 0 for score 1) and F
	// score (column): the grid marketers read segments from.
	RFGrid [5][5]int `json:"rf_grid"`
	// Lifecycle counts the profiles scanned by lifecycle stage (prospect,
	// new, active, loyal, at_risk, lapsed) as of AsOf.
	Lifecycle map[string]int `json:"lifecycle"`
	// Tiers are the value tiers, best first, each with the least R+F+M score
	// that reaches it and how many purchasers it holds; the last is RestTier.
	Tiers []TierCut `json:"tiers"`
}

// TierCut is one value tier of a Segmentation.
type TierCut struct {
	Name     string  `json:"name"`
	Share    float64 `json:"target_share"`
	MinScore int     `json:"min_score"`
	Users    int     `json:"users"`
}

// Scores are one user's RFM scores (1 to 5; 0 without a purchase) and tier.
type Scores struct {
	R, F, M int
	Tier    string
}

// Score returns the RFM scores of a user with the given indicators.
func (g *Segmentation) Score(ind *Indicators) Scores {
	if g == nil || ind.RecencyDays < 0 {
		return Scores{}
	}
	s := Scores{
		R: 5 - above(ind.RecencyDays, &g.Recency),
		F: 1 + above(float64(ind.Frequency), &g.Frequency),
		M: 1 + above(ind.Monetary, &g.Monetary),
	}
	total := s.R + s.F + s.M
	for _, t := range g.Tiers {
		if total >= t.MinScore {
			s.Tier = t.Name
			break
		}
	}
	return s
}

// above counts the cut points strictly below v.
func above(v float64, cuts *[4]float64) int {
	n := 0
	for _, c := range cuts {
		if v > c {
			n++
		}
	}
	return n
}

// QuintileCuts returns the nearest-rank 20th, 40th, 60th and 80th percentiles
// of values, which it sorts.
func QuintileCuts(values []float64) [4]float64 {
	var cuts [4]float64
	if len(values) == 0 {
		return cuts
	}
	slices.Sort(values)
	n := len(values)
	for k := 1; k <= 4; k++ {
		rank := int(math.Ceil(float64(k*n) / 5))
		cuts[k-1] = values[max(rank, 1)-1]
	}
	return cuts
}

// Segment scores every stored profile as of now and returns the new
// segmentation; it does not store it (see SaveSegmentation).
func (s *Store) Segment(now int64, rules Rules, tiers []TierRule) (*Segmentation, error) {
	rules = rules.withDefaults()
	if len(tiers) == 0 {
		tiers = DefaultTiers
	}
	g := &Segmentation{AsOf: now, WindowDays: rules.Window.Hours() / 24, Lifecycle: map[string]int{}}
	var rec, freq, mon []float64
	err := s.EachProfile("", func(p *Profile) bool {
		g.Profiles++
		if p.Purchases == 0 {
			g.Lifecycle[StageProspect]++
			return true
		}
		ind := Compute(p, now, rules)
		g.Lifecycle[ind.Lifecycle]++
		rec = append(rec, ind.RecencyDays)
		freq = append(freq, float64(ind.Frequency))
		mon = append(mon, ind.Monetary)
		return true
	})
	if err != nil {
		return nil, err
	}
	g.Purchasers = len(rec)
	// Score before sorting the columns for their cut points.
	recS, freqS, monS := slices.Clone(rec), slices.Clone(freq), slices.Clone(mon)
	g.Recency, g.Frequency, g.Monetary = QuintileCuts(recS), QuintileCuts(freqS), QuintileCuts(monS)
	var byTotal [16]int // purchasers by R+F+M, 3 to 15
	for i := range rec {
		r := 5 - above(rec[i], &g.Recency)
		f := 1 + above(freq[i], &g.Frequency)
		m := 1 + above(mon[i], &g.Monetary)
		g.RSizes[r-1]++
		g.FSizes[f-1]++
		g.MSizes[m-1]++
		g.RFGrid[r-1][f-1]++
		byTotal[r+f+m]++
	}
	g.Tiers = tierCuts(byTotal, g.Purchasers, tiers)
	return g, nil
}

// tierCuts picks, tier by tier from the best, the least total score whose
// cumulative share of purchasers comes closest to the tier's target.
func tierCuts(byTotal [16]int, n int, rules []TierRule) []TierCut {
	var cuts []TierCut
	next := 15 // the best total not yet given to a tier
	taken := 0
	target := 0.0
	for _, r := range rules {
		target += r.Share
		best, bestGap := next+1, math.Inf(1)
		cum := taken
		for t := next; t >= 3; t-- {
			cum += byTotal[t]
			if gap := math.Abs(float64(cum)/math.Max(float64(n), 1) - target); gap < bestGap {
				best, bestGap = t, gap
			}
		}
		users := 0
		for t := best; t <= next; t++ {
			users += byTotal[t]
		}
		cuts = append(cuts, TierCut{Name: r.Name, Share: r.Share, MinScore: best, Users: users})
		taken += users
		next = best - 1
	}
	rest := 0
	for t := 3; t <= next; t++ {
		rest += byTotal[t]
	}
	share := 1.0 - target
	return append(cuts, TierCut{Name: RestTier, Share: math.Max(share, 0), MinScore: 3, Users: rest})
}

var segmentationKey = kv.Key(kv.PrefixMeta, "segmentation")

// SaveSegmentation stores g as the current segmentation.
func (s *Store) SaveSegmentation(g *Segmentation) error {
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	if err := s.db.Set(segmentationKey, v, pebble.Sync); err != nil {
		return fmt.Errorf("features: cannot store segmentation: %w", err)
	}
	return nil
}

// LoadSegmentation returns the stored segmentation, nil when none was saved.
func (s *Store) LoadSegmentation() (*Segmentation, error) {
	v, closer, err := s.db.Get(segmentationKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	g := &Segmentation{}
	if err := json.Unmarshal(v, g); err != nil {
		return nil, fmt.Errorf("features: corrupt segmentation: %w", err)
	}
	if g.Lifecycle == nil {
		g.Lifecycle = map[string]int{} // stored by a version that did not count stages
	}
	return g, nil
}
