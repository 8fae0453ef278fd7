package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/cluster"
)

const codeInvalidCampaign = "invalid_campaign"

func (s *Server) handleCampaigns(ctx *fasthttp.RequestCtx) {
	var list []campaign.Campaign
	_, e := s.records(ctx, func(i int, v *fastjson.Value) *apiError {
		var c campaign.Campaign
		if e := decodeCampaign(v, &c); e != nil {
			e.index = i
			return e
		}
		list = append(list, c)
		return nil
	})
	if e != nil {
		writeError(ctx, e)
		return
	}
	tok, err := s.upsertCampaigns(list)
	if err != nil {
		var ce *campaign.BatchError
		var fe *campaign.FieldError
		if errors.As(err, &ce) && errors.As(err, &fe) {
			e := badRequest(codeInvalidCampaign, fe.Field, fe.Field+" "+fe.Message)
			e.index = ce.Index
			writeError(ctx, e)
			return
		}
		s.logger.Printf("campaigns: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "campaigns could not be stored; nothing was applied, retry", index: -1})
		return
	}
	setToken(ctx, tok)
	b := append(make([]byte, 0, 32), `{"upserted":`...)
	b = strconv.AppendInt(b, int64(len(list)), 10)
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(append(b, "}\n"...))
}

// UpsertCampaigns validates and stores campaigns, replacing those with the
// same ids; a batch with an invalid campaign changes nothing. Budgets must be
// in a currency of the rate table.
func (s *Server) UpsertCampaigns(list []campaign.Campaign) error {
	_, err := s.upsertCampaigns(list)
	return err
}

// upsertCampaigns is UpsertCampaigns that returns, on a cluster node, the
// token of the campaigns' record.
func (s *Server) upsertCampaigns(list []campaign.Campaign) (cluster.Token, error) {
	rates := s.bid.auction.Rates()
	for i := range list {
		if err := list[i].Validate(); err != nil {
			return cluster.Token{}, &campaign.BatchError{Index: i, Err: err}
		}
		if !rates.Known(list[i].Budget.Currency) {
			return cluster.Token{}, &campaign.BatchError{Index: i, Err: &campaign.FieldError{Field: "budget.currency",
				Message: "is not in the currency rate table"}}
		}
	}
	if s.node != nil {
		tok, _, err := s.node.AppendCampaigns(context.Background(), list)
		return tok, err
	}
	return cluster.Token{}, s.bid.camps.Upsert(list)
}

// decodeCampaign reads one campaign object strictly: an unknown field is an
// error, so that a misspelt limit is not silently ignored.
func decodeCampaign(v *fastjson.Value, c *campaign.Campaign) *apiError {
	if v.Type() != fastjson.TypeObject {
		return badRequest(codeInvalidCampaign, "", "campaign must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(v.MarshalTo(nil)))
	dec.DisallowUnknownFields()
	err := dec.Decode(c)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		field := te.Field
		return badRequest(codeInvalidCampaign, field, field+" must be a JSON "+jsonKind(te.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return badRequest(codeInvalidCampaign, field, field+" is not a campaign field")
	}
	return badRequest(codeInvalidCampaign, "", "campaign cannot be read: "+err.Error())
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "slice" || k == "array":
		return "array"
	case k == "struct" || k == "map" || k == "ptr":
		return "object"
	case k == "bool":
		return "boolean"
	}
	return k
}

func (s *Server) handleGetCampaign(ctx *fasthttp.RequestCtx, id string) {
	c, ok := s.bid.camps.Get(id)
	if !ok {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no campaign with this id", field: "id", index: -1})
		return
	}
	writeJSON(ctx, &c.Campaign)
}

func (s *Server) handleDeleteCampaign(ctx *fasthttp.RequestCtx, id string) {
	var err error
	var tok cluster.Token
	if s.node == nil {
		err = s.bid.camps.Delete(id)
	} else if _, ok := s.bid.camps.Get(id); !ok {
		err = campaign.ErrNotFound
	} else {
		tok, _, err = s.node.DeleteCampaign(context.Background(), id)
	}
	setToken(ctx, tok)
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no campaign with this id", field: "id", index: -1})
	case err != nil:
		s.logger.Printf("campaigns: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "campaign could not be deleted, retry", index: -1})
	default:
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBodyString(`{"deleted":true}` + "\n")
	}
}

// campaignStats is the body of GET /v1/campaigns/{id}/stats. Money is in the
// campaign's currency.
type campaignStats struct {
	Campaign    string      `json:"campaign"`
	Status      string      `json:"status"`
	Currency    string      `json:"currency"`
	Bids        uint64      `json:"bids"`
	Wins        uint64      `json:"wins"`
	Losses      uint64      `json:"losses"`
	Impressions uint64      `json:"impressions"`
	Spend       json.Number `json:"spend"`
	SpendToday  json.Number `json:"spend_today"`
	Reserved    json.Number `json:"reserved"`
	Budget      struct {
		Daily json.Number `json:"daily"`
		Total json.Number `json:"total"`
	} `json:"budget"`
	Pacing struct {
		Mode     string      `json:"mode"`
		State    string      `json:"state"`
		Rate     float64     `json:"rate"`
		Target   json.Number `json:"target_today"`
		DayStart string      `json:"day_start"`
	} `json:"pacing"`
}

func (s *Server) handleCampaignStats(ctx *fasthttp.RequestCtx, id string) {
	c, ok := s.bid.camps.Get(id)
	if !ok {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no campaign with this id", field: "id", index: -1})
		return
	}
	lim := auction.Limits(c)
	st := s.bid.ledger.Stats(c.ID, &lim)
	out := campaignStats{Campaign: c.ID, Status: c.Status, Currency: c.Currency, Bids: st.Bids, Wins: st.Wins,
		Losses: st.Losses, Impressions: st.Impressions, Spend: money(st.Spent), SpendToday: money(st.SpentToday),
		Reserved: money(st.Reserved)}
	out.Budget.Daily, out.Budget.Total = money(c.Daily), money(c.Total)
	out.Pacing.Mode, out.Pacing.State, out.Pacing.Rate = c.Pacing, st.PaceState, st.PaceRate
	out.Pacing.Target = money(st.PaceTarget)
	out.Pacing.DayStart = st.DayStart.Format(time.RFC3339)
	writeJSON(ctx, &out)
}

// money writes micros as an exact decimal number.
func money(micros int64) json.Number {
	neg := micros < 0
	if neg {
		micros = -micros
	}
	b := strconv.AppendInt(nil, micros/1e6, 10)
	if frac := micros % 1e6; frac != 0 {
		f := strconv.FormatInt(frac+1e6, 10)[1:] // six digits, leading zeros kept
		b = append(append(b, '.'), strings.TrimRight(f, "0")...)
	}
	if neg {
		return json.Number("-" + string(b))
	}
	return json.Number(b)
}
