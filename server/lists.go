package server

import (
	"fmt"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/ident"
)

// Limits of a list page.
const (
	defaultPage = 100
	maxPage     = 1000
)

// page reads the paging parameters of a list request: limit (1 to maxPage,
// default defaultPage) and cursor (the last id of the previous page).
func page(ctx *fasthttp.RequestCtx) (cursor string, limit int, e *apiError) {
	limit = defaultPage
	args := ctx.QueryArgs()
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxPage {
			return "", 0, badRequest(codeInvalidRequest, "limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxPage))
		}
		limit = n
	}
	cursor = string(args.Peek("cursor"))
	if cursor != "" {
		if p := ident.Problem(cursor); p != "" {
			return "", 0, badRequest(codeInvalidRequest, "cursor", "cursor must be the next of a previous page: it "+p)
		}
	}
	return cursor, limit, nil
}

// writePage answers a list page: the records under their name, and the
// cursor of the next page (last of the final record), null on the last page.
func writePage[T any](ctx *fasthttp.RequestCtx, name string, records []T, more bool, last func(T) string) {
	out := map[string]any{name: records, "next": nil}
	if more && len(records) > 0 {
		out["next"] = last(records[len(records)-1])
	}
	writeJSON(ctx, out)
}

// handleListItems answers GET /v1/items: the catalog a page at a time, in
// id order.
func (s *Server) handleListItems(ctx *fasthttp.RequestCtx) {
	cursor, limit, e := page(ctx)
	if e != nil {
		writeError(ctx, e)
		return
	}
	items, more, err := s.idx.List(cursor, limit)
	if err != nil {
		s.logger.Printf("items: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "items could not be read, retry", index: -1})
		return
	}
	writePage(ctx, "items", items, more, func(it index.Item) string { return it.ID })
}

// handleListCampaigns answers GET /v1/campaigns: the campaigns a page at a
// time, in id order.
func (s *Server) handleListCampaigns(ctx *fasthttp.RequestCtx) {
	cursor, limit, e := page(ctx)
	if e != nil {
		writeError(ctx, e)
		return
	}
	live, more := s.bid.camps.List(cursor, limit)
	list := make([]*campaign.Campaign, len(live))
	for i, c := range live {
		list[i] = &c.Campaign
	}
	writePage(ctx, "campaigns", list, more, func(c *campaign.Campaign) string { return c.ID })
}

// handleAudiences answers GET /v1/audiences: the audiences a page at a
// time, in name order.
func (s *Server) handleAudiences(ctx *fasthttp.RequestCtx) {
	cursor, limit, e := page(ctx)
	if e != nil {
		writeError(ctx, e)
		return
	}
	all := s.svc.Audiences().List() // in name order
	i := 0
	for i < len(all) && cursor != "" && all[i].Name <= cursor {
		i++
	}
	list := all[i:]
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	if list == nil {
		list = []*audience.Audience{}
	}
	writePage(ctx, "audiences", list, more, func(a *audience.Audience) string { return a.Name })
}
