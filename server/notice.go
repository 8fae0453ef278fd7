package server

import (
	"bytes"
	"context"
	"math"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/ledger"
)

// noticeKind returns the kind of notice a notice route takes.
func noticeKind(r routeID) ledger.Kind {
	switch r {
	case routeWin:
		return ledger.Win
	case routeBilling:
		return ledger.Billing
	}
	return ledger.Loss
}

// macro reports whether a notice parameter is absent or an unsubstituted
// macro.
func macro(v []byte) bool { return len(v) == 0 || bytes.HasPrefix(v, []byte("${")) }

// handleNotice applies a win, billing or loss notice. Every notice is
// answered 200 with {"status":...}: applied, duplicate (seen before: nothing
// changed), expired (about a bid older than the notice window: not applied)
// or test (a test bid: never charged). A notice whose token is missing or
// forged, or whose auction and imp ids (when filled in) are not the bid's,
// gets 400.
func (s *Server) handleNotice(ctx *fasthttp.RequestCtx, kind ledger.Kind) {
	b := &s.bid
	args := ctx.QueryArgs()
	t, ok := b.notices.ParseToken(args.Peek("t"))
	if ok {
		a, i := args.Peek("a"), args.Peek("i")
		if !macro(a) && !macro(i) && auction.HashAuction(string(a), string(i)) != t.Auction {
			ok = false
		}
	}
	if !ok {
		b.m.badNotices.Inc()
		writeError(ctx, badRequest("invalid_notice", "t", "the notice token is missing, forged, or not for this auction and imp"))
		return
	}
	status := "test"
	if t.Test {
		b.m.notices[kind][0].Inc()
	} else {
		n := ledger.Notice{Kind: kind, Campaign: t.Campaign, Bid: t.Bid, Auction: t.Auction, BidAt: t.BidAt, User: t.User}
		// The clearing price, in the response currency: what the exchange
		// says, which must be a number from 0 to the bid; the bid itself when
		// the exchange leaves the macro unfilled.
		price := float64(t.PriceResp)
		if p := args.Peek("p"); !macro(p) {
			v, err := strconv.ParseFloat(string(p), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v*1e6 > price+0.5 {
				b.m.badNotices.Inc()
				writeError(ctx, badRequest("invalid_notice", "p", "p must be the clearing price CPM, a number from 0 to the bid's "+
					strconv.FormatFloat(price/1e6, 'f', -1, 64)+"; leave the macro unfilled to charge the bid"))
				return
			}
			price = math.Min(v*1e6, price)
		}
		// Micros CPM in the campaign's currency, at the bid's rate; one
		// impression costs a thousandth of it.
		cpm := price * float64(t.PriceCamp) / float64(t.PriceResp)
		n.Price = int64(math.Ceil(cpm / 1000))
		if c, ok := b.camps.Get(t.Campaign); ok {
			n.Limits = auction.Limits(c)
		}
		out, err := b.ledger.Apply(&n)
		if err != nil {
			s.logger.Printf("notices: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
				message: "the notice could not be stored; retry", index: -1})
			return
		}
		if s.node != nil && out != ledger.Expired {
			// The other nodes apply it from the log: the bidding node
			// releases the bid's hold, all count it. A duplicate is logged
			// again, in case its first answer was lost before it was.
			tok, err := s.node.AppendNotice(context.Background(), &n)
			if err != nil {
				s.logger.Printf("notices: %v", err)
				writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
					message: "the notice could not be logged for the other nodes; retry", index: -1})
				return
			}
			setToken(ctx, tok)
		}
		b.m.notices[kind][out].Inc()
		if out == ledger.Applied && kind == ledger.Billing {
			b.m.spend.WithLabelValues(t.CampCur).Add(float64(n.Price))
		}
		status = out.String()
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"` + status + `"}` + "\n")
}
