package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/server/openrtb"
)

// Outcomes of a bid request.
const (
	outcomeBid = iota
	outcomeNoBid
	numOutcomes
)

// No-bid reasons beyond the auction's: the request allowed too little time to
// start (tmax), the answer was ready after the deadline (late), or the
// server was at capacity and shed it (overload).
const (
	noBidTmax = int(auction.NumNoBidReasons) + iota
	noBidLate
	noBidOverload
	numNoBids
)

func noBidName(r int) string {
	switch r {
	case noBidTmax:
		return "tmax"
	case noBidLate:
		return "late"
	case noBidOverload:
		return "overload"
	}
	return auction.NoBidReason(r).String()
}

// bidMetrics are the bidder's metric children, resolved once.
type bidMetrics struct {
	requests      [numOutcomes]prometheus.Counter
	invalid       prometheus.Counter
	nobids        [numNoBids]prometheus.Counter
	bids          [2]prometheus.Counter // by test
	privacy       [2]prometheus.Counter // contextual, personal
	schain        [3]prometheus.Counter // absent, incomplete, complete
	eids          prometheus.Counter
	profileErrors prometheus.Counter
	latency       prometheus.Observer
	notices       [4][ledger.Conflict + 1]prometheus.Counter // by ledger.Kind, then outcome (0 = test)
	badNotices    prometheus.Counter
	spend         *prometheus.CounterVec // micros, by currency
}

func newBidMetrics(reg prometheus.Registerer) *bidMetrics {
	m := &bidMetrics{}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_bid_requests_total", Help: "OpenRTB bid requests by outcome: bid, nobid (204) or invalid (4xx)."},
		[]string{"outcome"})
	nobids := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_bid_nobids_total", Help: "Bid requests answered with no bid, by the furthest stage any imp reached."},
		[]string{"reason"})
	bids := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_bids_total", Help: "Bids sent, by whether the request was a test."}, []string{"test"})
	privacy := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_bid_privacy_total", Help: "Bid requests by what privacy signals allowed: personal (profile used) or contextual."},
		[]string{"mode"})
	schain := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_bid_schain_total", Help: "Bid requests by supply chain: absent, incomplete or complete."},
		[]string{"schain"})
	m.eids = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_bid_eids_total", Help: "Bid requests carrying extended user ids (user.eids or user.ext.eids)."})
	m.profileErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_bid_profile_errors_total", Help: "Bid requests whose user's profile could not be read; they bid contextually."})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "tailor_bid_duration_seconds", Help: "Time to answer a bid request, from routing to response.",
		Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3}})
	notices := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_notices_total", Help: "Win, billing and loss notices by outcome: applied, duplicate, expired, conflict or test."},
		[]string{"kind", "outcome"})
	m.badNotices = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_notices_invalid_total", Help: "Notices refused: missing or forged token, or ids that do not match it."})
	m.spend = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_spend_micros_total", Help: "Spend booked by billing notices, in micros of the campaigns' currency."},
		[]string{"currency"})
	reg.MustRegister(requests, nobids, bids, privacy, schain, m.eids, m.profileErrors, latency, notices, m.badNotices, m.spend)
	m.requests[outcomeBid] = requests.WithLabelValues("bid")
	m.requests[outcomeNoBid] = requests.WithLabelValues("nobid")
	m.invalid = requests.WithLabelValues("invalid")
	for r := range m.nobids {
		m.nobids[r] = nobids.WithLabelValues(noBidName(r))
	}
	m.bids[0], m.bids[1] = bids.WithLabelValues("false"), bids.WithLabelValues("true")
	m.privacy[0], m.privacy[1] = privacy.WithLabelValues("contextual"), privacy.WithLabelValues("personal")
	m.schain[0], m.schain[1], m.schain[2] = schain.WithLabelValues("absent"), schain.WithLabelValues("incomplete"), schain.WithLabelValues("complete")
	m.latency = latency
	for k := ledger.Win; k <= ledger.Loss; k++ {
		m.notices[k][0] = notices.WithLabelValues(k.String(), "test")
		for o := ledger.Applied; o <= ledger.Conflict; o++ {
			m.notices[k][o] = notices.WithLabelValues(k.String(), o.String())
		}
	}
	return m
}

// supply counts a request's supply chain and extended ids.
func (m *bidMetrics) supply(e *openrtb.Signals) {
	switch sc := e.SupplyChain(); {
	case sc == nil:
		m.schain[0].Inc()
	case sc.Complete == 1:
		m.schain[2].Inc()
	default:
		m.schain[1].Inc()
	}
	if e.EIDs() > 0 {
		m.eids.Inc()
	}
}
