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

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/trigger"
)

func (s *Server) handleGetSegments(ctx *fasthttp.RequestCtx) {
	g := s.svc.Segmentation()
	if g == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound,
			message: "no segmentation yet: POST /v1/segments/refresh computes one", index: -1})
		return
	}
	writeJSON(ctx, segmentationJSON(g, 0))
}

// handleRefreshSegments recomputes the segmentation now, or as of the time in
// the as_of query parameter (RFC 3339), for analysing historical data; a
// segmentation as of another time than now does not fire triggers.
func (s *Server) handleRefreshSegments(ctx *fasthttp.RequestCtx) {
	now, sweep := s.now(), true
	if v := ctx.QueryArgs().Peek("as_of"); len(v) > 0 {
		t, err := time.Parse(time.RFC3339, string(v))
		if err != nil {
			writeError(ctx, badRequest(codeInvalidRequest, "as_of", "as_of must be an RFC 3339 time such as 2010-12-09T20:01:00Z"))
			return
		}
		now, sweep = t.UnixMilli(), false
	}
	g, n, err := s.svc.RefreshSegments(now, sweep)
	if err != nil {
		s.logger.Printf("segments: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "segments could not be refreshed, retry", index: -1})
		return
	}
	writeJSON(ctx, segmentationJSON(g, n))
}

type segJSON struct {
	*features.Segmentation
	AsOfTime string `json:"as_of_time"`
	Triggers *int   `json:"triggers_appended,omitempty"`
}

func segmentationJSON(g *features.Segmentation, appended int) segJSON {
	out := segJSON{Segmentation: g, AsOfTime: rfc3339(g.AsOf)}
	if appended > 0 {
		out.Triggers = &appended
	}
	return out
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always marshal
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// audienceBody is the body of POST /v1/audiences/{name}. The trigger's
// secret is read here but never written back: answers show "secret_set".
type audienceBody struct {
	Expression  string            `json:"expression"`
	Description string            `json:"description"`
	Trigger     *audience.Trigger `json:"trigger"`
}

func (s *Server) handleAudience(ctx *fasthttp.RequestCtx, name string) {
	switch string(ctx.Method()) {
	case "GET":
		a, err := s.svc.Audiences().Get(name)
		if err != nil {
			writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no audience with this name", field: "name", index: -1})
			return
		}
		writeJSON(ctx, a)
	case "POST", "PUT":
		var body audienceBody
		dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				f = strings.Trim(f, `"`)
				writeError(ctx, badRequest("invalid_audience", f, "unknown field "+strconv.Quote(f)+
					": an audience has expression, description and trigger"))
				return
			}
			writeError(ctx, badRequest(codeInvalidJSON, "", "body must be {\"expression\",\"description\",\"trigger\"}: "+err.Error()))
			return
		}
		a := &audience.Audience{Name: name, Expression: body.Expression, Description: body.Description, Trigger: body.Trigger}
		var err error // the webhook's address is checked here, where the server's options are known
		if t := body.Trigger; t != nil && t.Webhook != "" {
			err = trigger.CheckWebhookURL(t.Webhook, s.opts.Service.Webhooks.AllowPrivate)
		}
		if err == nil {
			var tok cluster.Token
			tok, err = s.putAudience(a)
			setToken(ctx, tok)
		}
		if err != nil {
			var fe *audience.FieldError
			if errors.As(err, &fe) {
				writeError(ctx, badRequest("invalid_audience", fe.Field, fe.Field+" "+fe.Message))
				return
			}
			s.logger.Printf("audiences: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "audience could not be stored, retry", index: -1})
			return
		}
		writeJSON(ctx, a)
	case "DELETE":
		tok, err := s.deleteAudience(name)
		setToken(ctx, tok)
		if err != nil {
			if errors.Is(err, audience.ErrNotFound) {
				writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no audience with this name", field: "name", index: -1})
				return
			}
			s.logger.Printf("audiences: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "audience could not be deleted, retry", index: -1})
			return
		}
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBodyString(`{"deleted":true}` + "\n")
	default:
		methodNotAllowed(ctx, "GET, PUT, POST, DELETE")
	}
}

// maxScanPerCall bounds the profiles one members page looks at.
const maxScanPerCall = 50000

// handleAudienceUsers lists an audience's members a page at a time, in user
// id order: each call scans at most maxScanPerCall profiles and returns the
// cursor to continue from, so a page may hold fewer than limit members and
// still not be the last ("next" is null on the last page).
func (s *Server) handleAudienceUsers(ctx *fasthttp.RequestCtx, name string) {
	a, err := s.svc.Audiences().Get(name)
	if err != nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no audience with this name", field: "name", index: -1})
		return
	}
	cursor, limit, e := page(ctx)
	if e != nil {
		writeError(ctx, e)
		return
	}
	members, err := s.svc.Members(a, cursor, limit, maxScanPerCall, s.now())
	if err != nil {
		s.logger.Printf("audiences: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "members could not be read, retry", index: -1})
		return
	}
	out := struct {
		Audience string   `json:"audience"`
		Users    []string `json:"users"`
		Next     *string  `json:"next"`
		Scanned  int      `json:"scanned"`
	}{Audience: name, Users: members.Users, Scanned: members.Scanned}
	if members.Next != "" {
		out.Next = &members.Next
	}
	writeJSON(ctx, out)
}

func (s *Server) handleTriggers(ctx *fasthttp.RequestCtx) {
	var after uint64
	if v := ctx.QueryArgs().Peek("after"); len(v) > 0 {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			writeError(ctx, badRequest(codeInvalidRequest, "after", "after must be a cursor returned by this endpoint (an integer)"))
			return
		}
		after = n
	}
	limit := 100
	if v := ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 1000 {
			writeError(ctx, badRequest(codeInvalidRequest, "limit", "limit must be an integer from 1 to 1000"))
			return
		}
		limit = n
	}
	recs, err := s.svc.Outbox().Read(after, limit)
	if err != nil {
		s.logger.Printf("triggers: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "triggers could not be read, retry", index: -1})
		return
	}
	type recJSON struct {
		trigger.Record
		Time string `json:"time"`
	}
	out := struct {
		Records []recJSON `json:"records"`
		Next    uint64    `json:"next"`
	}{Records: []recJSON{}, Next: after}
	for _, r := range recs {
		out.Records = append(out.Records, recJSON{Record: r, Time: rfc3339(r.TS)})
		out.Next = r.Seq
	}
	writeJSON(ctx, out)
}

// putAudience stores a: on a single node at once; on a node of a cluster
// through the log, prepared here so that every node stores the same
// definition.
func (s *Server) putAudience(a *audience.Audience) (cluster.Token, error) {
	if s.node == nil {
		return cluster.Token{}, s.svc.Audiences().Put(a)
	}
	if err := s.svc.Audiences().Prepare(a); err != nil {
		return cluster.Token{}, err
	}
	tok, _, err := s.node.PutAudience(context.Background(), a)
	return tok, err
}

// deleteAudience deletes the audience called name, through the log on a
// node of a cluster.
func (s *Server) deleteAudience(name string) (cluster.Token, error) {
	if s.node == nil {
		return cluster.Token{}, s.svc.Audiences().Delete(name)
	}
	if _, err := s.svc.Audiences().Get(name); err != nil {
		return cluster.Token{}, err
	}
	tok, _, err := s.node.DeleteAudience(context.Background(), name)
	return tok, err
}
