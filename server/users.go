package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/features"
)

// profileJSON is the API's view of a profile.
type profileJSON struct {
	User       string            `json:"user"`
	Events     uint64            `json:"events"`
	Counts     map[string]uint32 `json:"counts"`
	FirstSeen  *string           `json:"first_seen"`
	LastSeen   *string           `json:"last_seen"`
	Recent     []actionJSON      `json:"recent"`
	Interests  interestsJSON     `json:"interests"`
	RFM        rfmJSON           `json:"rfm"`
	Segments   segmentsJSON      `json:"segments"`
	Attributes attributesJSON    `json:"attributes"`
	Indicators indicatorsJSON    `json:"indicators"`
	Audiences  []string          `json:"audiences"`
}

type attributesJSON struct {
	Region   string            `json:"region,omitempty"`
	Country  string            `json:"country,omitempty"`
	AgeBand  string            `json:"age_band,omitempty"`
	Gender   string            `json:"gender,omitempty"`
	Tier     int               `json:"tier"`
	Channels []string          `json:"channels"`
	Labels   map[string]string `json:"labels"`
}

type indicatorsJSON struct {
	AOV                 float64  `json:"average_order_value"`
	Propensity          float64  `json:"purchase_propensity"`
	PriceBand           string   `json:"price_band,omitempty"`
	PriceIndex          float64  `json:"price_index"`
	ActiveHour          *int     `json:"active_hour_utc"`
	ActiveChannel       string   `json:"active_channel,omitempty"`
	PreferredCategories []string `json:"preferred_categories"`
	PreferredBrands     []string `json:"preferred_brands"`
}

type actionJSON struct {
	Type    string `json:"type"`
	Item    string `json:"item,omitempty"`
	Query   string `json:"query,omitempty"`
	TS      string `json:"ts"`
	Session string `json:"session,omitempty"`
}

type weightJSON struct {
	Key    string  `json:"key"`
	Weight float64 `json:"weight"`
}

type interestsJSON struct {
	Categories []weightJSON `json:"categories"`
	Brands     []weightJSON `json:"brands"`
	Terms      []weightJSON `json:"terms"`
}

// rfmJSON is the value view: recency, and frequency (orders) and monetary
// value within the window, their quintile scores against the whole base (0
// until a segmentation exists or without a purchase), and lifetime totals.
type rfmJSON struct {
	RecencyDays   *float64 `json:"recency_days"`
	Frequency     int      `json:"frequency"`
	Monetary      float64  `json:"monetary"`
	WindowDays    float64  `json:"window_days"`
	R             int      `json:"r"`
	F             int      `json:"f"`
	M             int      `json:"m"`
	Purchases     uint32   `json:"purchases"`
	LifetimeValue float64  `json:"lifetime_value"`
	FirstPurchase *string  `json:"first_purchase"`
	LastPurchase  *string  `json:"last_purchase"`
}

type segmentsJSON struct {
	Lifecycle    string          `json:"lifecycle"`
	DueWakeup    bool            `json:"due_wakeup"`
	ReplenishDue []replenishJSON `json:"replenish_due"`
	ValueTier    string          `json:"value_tier,omitempty"`
	PriceBand    string          `json:"price_band,omitempty"`
}

type replenishJSON struct {
	Key          string  `json:"key"`
	Item         string  `json:"item"`
	IntervalDays float64 `json:"interval_days"`
	OverdueDays  float64 `json:"overdue_days"`
}

func (s *Server) handleGetUser(ctx *fasthttp.RequestCtx, id string) {
	p, err := s.store.Get(id)
	if errors.Is(err, features.ErrNotFound) {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no user with this id", field: "id", index: -1})
		return
	}
	if err != nil {
		s.logger.Printf("users: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "profile could not be read, retry", index: -1})
		return
	}
	b, err := json.Marshal(s.profileView(p, s.now()))
	if err != nil {
		panic(err)
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// handleDeleteUser erases a user. On a cluster node the erasure is logged
// whether or not this node knows the user: another node may hold events this
// one has not applied yet, and must erase them too. The answer is then 404
// when this node had no profile of the user, with the erasure's token all
// the same.
func (s *Server) handleDeleteUser(ctx *fasthttp.RequestCtx, id string) {
	var err error
	if s.node == nil {
		err = s.svc.Erase(id)
	} else {
		_, err = s.store.Get(id)
		if err == nil || errors.Is(err, features.ErrNotFound) {
			tok, _, logErr := s.node.Erase(context.Background(), id)
			if logErr != nil {
				err = logErr
			}
			setToken(ctx, tok)
		}
	}
	switch {
	case errors.Is(err, features.ErrNotFound) && s.node != nil:
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound,
			message: "no user with this id on this node; the erasure is logged for the others", field: "id", index: -1})
	case errors.Is(err, features.ErrNotFound):
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no user with this id", field: "id", index: -1})
	case err != nil:
		s.logger.Printf("users: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "user could not be erased, retry", index: -1})
	default:
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBodyString(`{"deleted":true}` + "\n")
	}
}

func rfc3339(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// profileView renders p as of now, interests decayed to now.
func (s *Server) profileView(p *features.Profile, now int64) profileJSON {
	out := profileJSON{
		User:   p.User,
		Events: p.Events,
		Counts: map[string]uint32{},
		Recent: make([]actionJSON, 0, len(p.Recent)),
	}
	if p.Events > 0 {
		first, last := rfc3339(p.FirstSeen), rfc3339(p.LastSeen)
		out.FirstSeen, out.LastSeen = &first, &last
	}
	for t := features.Search; t <= features.Purchase; t++ {
		out.Counts[t.String()] = p.Counts[t]
	}
	for i := len(p.Recent) - 1; i >= 0; i-- {
		a := p.Recent[i]
		aj := actionJSON{Type: a.Type.String(), TS: rfc3339(a.TS), Session: a.Session}
		if a.Type == features.Search {
			aj.Query = a.Target
		} else {
			aj.Item = a.Target
		}
		out.Recent = append(out.Recent, aj)
	}
	f := features.DecayFactor(p.DecayedAt, now, s.store.Limits().HalfLife)
	list := func(ws []features.Weighted) []weightJSON {
		out := make([]weightJSON, 0, len(ws))
		for _, w := range ws {
			out = append(out, weightJSON{Key: w.Key, Weight: round(float64(w.Weight) * f)})
		}
		return out
	}
	out.Interests = interestsJSON{Categories: list(p.Categories), Brands: list(p.Brands), Terms: list(p.Terms)}
	subj := s.svc.Subject(p, now)
	ind := subj.Indicators
	out.RFM = rfmJSON{Frequency: ind.Frequency, Monetary: round(ind.Monetary),
		WindowDays: s.svc.Lifecycle().WindowOrDefault().Hours() / 24,
		R:          subj.Scores.R, F: subj.Scores.F, M: subj.Scores.M,
		Purchases: p.Purchases, LifetimeValue: round(p.Monetary)}
	if p.Purchases > 0 {
		days := round(ind.RecencyDays)
		first, last := rfc3339(p.FirstPurchase), rfc3339(p.LastPurchase)
		out.RFM.RecencyDays, out.RFM.FirstPurchase, out.RFM.LastPurchase = &days, &first, &last
	}
	out.Segments = segmentsJSON{Lifecycle: ind.Lifecycle, DueWakeup: ind.DueWakeup, ReplenishDue: []replenishJSON{},
		ValueTier: subj.Scores.Tier, PriceBand: ind.PriceBand}
	for _, r := range ind.Replenish {
		out.Segments.ReplenishDue = append(out.Segments.ReplenishDue, replenishJSON{Key: r.Key, Item: r.Item,
			IntervalDays: round(r.IntervalDays), OverdueDays: round(r.OverdueDays)})
	}
	a := &p.Attrs
	out.Attributes = attributesJSON{Region: a.Region, Country: a.Country, AgeBand: a.AgeBand, Gender: a.Gender,
		Tier: a.Tier, Channels: a.Channels, Labels: map[string]string{}}
	if out.Attributes.Channels == nil {
		out.Attributes.Channels = []string{}
	}
	for _, l := range a.Labels {
		out.Attributes.Labels[l.Key] = l.Value
	}
	out.Indicators = indicatorsJSON{AOV: round(ind.AOV),
		Propensity: round(ind.Propensity), PriceBand: ind.PriceBand, PriceIndex: round(ind.PriceIndex),
		ActiveChannel: ind.ActiveChannel, PreferredCategories: ind.PreferredCategories, PreferredBrands: ind.PreferredBrands}
	if ind.ActiveHour >= 0 {
		h := ind.ActiveHour
		out.Indicators.ActiveHour = &h
	}
	if out.Indicators.PreferredCategories == nil {
		out.Indicators.PreferredCategories = []string{}
	}
	if out.Indicators.PreferredBrands == nil {
		out.Indicators.PreferredBrands = []string{}
	}
	out.Audiences = s.svc.Audiences().MemberOf(subj, []string{})
	return out
}

// round keeps four decimals, enough to read and compare.
func round(x float64) float64 {
	const k = 1e4
	if x < 0 {
		return -float64(int64(-x*k+0.5)) / k
	}
	return float64(int64(x*k+0.5)) / k
}
