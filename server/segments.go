package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/trigger"
)

// segments wires RFM segmentation, audiences and triggers into the server.
type segments struct {
	current atomic.Pointer[features.Segmentation]
	aud     *audience.Store
	out     *trigger.Outbox
	refresh sync.Mutex // one refresh at a time
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func (s *Server) openSegments() error {
	g, err := s.store.LoadSegmentation()
	if err != nil {
		return err
	}
	s.seg.current.Store(g)
	if s.seg.aud, err = audience.Open(s.db, s.opts.Now); err != nil {
		return err
	}
	if s.seg.out, err = trigger.OpenOutbox(s.db); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.seg.cancel = cancel
	wh := s.opts.Webhooks
	if wh.Logger == nil {
		wh.Logger = s.opts.Logger
	}
	s.seg.done.Add(1)
	go func() {
		defer s.seg.done.Done()
		s.seg.out.Deliver(ctx, s.seg.aud, wh)
	}()
	if every := s.opts.SegmentEvery; every > 0 {
		s.seg.done.Add(1)
		go func() {
			defer s.seg.done.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, _, err := s.RefreshSegments(); err != nil {
						s.opts.Logger.Printf("segments: %v", err)
					}
				}
			}
		}()
	}
	return nil
}

func (s *Server) stopSegments() {
	if s.seg.cancel != nil {
		s.seg.cancel()
		s.seg.done.Wait()
	}
}

// subject returns what audience expressions see of p as of now.
func (s *Server) subject(p *features.Profile, now int64) *audience.Subject {
	subj := &audience.Subject{Indicators: new(features.Indicators)}
	s.subjectInto(subj, p, now)
	return subj
}

// subjectInto fills subj, whose Indicators must be set, reusing its memory.
func (s *Server) subjectInto(subj *audience.Subject, p *features.Profile, now int64) {
	features.ComputeInto(subj.Indicators, p, now, s.opts.Lifecycle)
	subj.Profile = p
	subj.Scores = s.seg.current.Load().Score(subj.Indicators)
}

// RefreshSegments recomputes the RFM segmentation over every profile, stores
// it, then evaluates every user against the audiences with triggers. It
// returns the segmentation and the number of trigger records appended.
func (s *Server) RefreshSegments() (*features.Segmentation, int, error) {
	return s.refreshSegments(s.now(), true)
}

// refreshSegments segments as of now and, when sweep is set, evaluates the
// triggers.
func (s *Server) refreshSegments(now int64, sweep bool) (*features.Segmentation, int, error) {
	s.seg.refresh.Lock()
	defer s.seg.refresh.Unlock()
	g, err := s.store.Segment(now, s.opts.Lifecycle, s.opts.Tiers)
	if err != nil {
		return nil, 0, err
	}
	if err := s.store.SaveSegmentation(g); err != nil {
		return nil, 0, err
	}
	s.seg.current.Store(g)
	if !sweep {
		return g, 0, nil
	}
	n, err := s.sweepTriggers(now)
	return g, n, err
}

// sweepTriggers evaluates every profile against the triggered audiences as
// of now. An audience stored after now (during a long refresh) waits for the
// next sweep: its webhook queue passes over records stamped before it.
func (s *Server) sweepTriggers(now int64) (int, error) {
	triggered := slices.DeleteFunc(slices.Clone(s.seg.aud.Triggered()), func(a *audience.Audience) bool { return a.Updated > now })
	if len(triggered) == 0 {
		return 0, nil
	}
	var evals []trigger.Evaluation
	appended := 0
	flush := func() error {
		recs, err := s.seg.out.Apply(triggered, evals, now)
		appended += len(recs)
		evals = evals[:0]
		return err
	}
	var ferr error
	err := s.store.EachProfile("", func(p *features.Profile) bool {
		evals = append(evals, s.evaluation(p, now))
		if len(evals) == 1000 {
			ferr = flush()
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		err = flush()
	}
	return appended, err
}

func (s *Server) evaluation(p *features.Profile, now int64) trigger.Evaluation {
	subj := s.subject(p, now)
	return trigger.Evaluation{User: p.User, Member: func(a *audience.Audience) bool { return a.Expr().Match(subj) }}
}

// checkTriggers evaluates the users just changed against the triggered
// audiences, so that transitions caused by events show at once rather than
// at the next sweep.
func (s *Server) checkTriggers(users []string) error {
	triggered := s.seg.aud.Triggered()
	if len(triggered) == 0 || len(users) == 0 {
		return nil
	}
	now := s.now()
	evals := make([]trigger.Evaluation, 0, len(users))
	for _, u := range users {
		p, err := s.store.Get(u)
		if err != nil {
			if errors.Is(err, features.ErrNotFound) {
				continue
			}
			return err
		}
		evals = append(evals, s.evaluation(p, now))
	}
	_, err := s.seg.out.Apply(triggered, evals, now)
	return err
}

// Handlers.

func (s *Server) handleGetSegments(ctx *fasthttp.RequestCtx) {
	g := s.seg.current.Load()
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
	g, n, err := s.refreshSegments(now, sweep)
	if err != nil {
		s.opts.Logger.Printf("segments: %v", err)
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

func (s *Server) handleAudiences(ctx *fasthttp.RequestCtx) {
	list := s.seg.aud.List()
	out := struct {
		Audiences []*audience.Audience `json:"audiences"`
	}{Audiences: list}
	if out.Audiences == nil {
		out.Audiences = []*audience.Audience{}
	}
	writeJSON(ctx, out)
}

func (s *Server) handleAudience(ctx *fasthttp.RequestCtx, name string) {
	switch string(ctx.Method()) {
	case "GET":
		a, err := s.seg.aud.Get(name)
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
			writeError(ctx, badRequest(codeInvalidJSON, "", "body must be {\"expression\",\"description\",\"trigger\"}: "+err.Error()))
			return
		}
		a := &audience.Audience{Name: name, Expression: body.Expression, Description: body.Description, Trigger: body.Trigger}
		var err error // the webhook's address is checked here, where the server's options are known
		if t := body.Trigger; t != nil && t.Webhook != "" {
			err = trigger.CheckWebhookURL(t.Webhook, s.opts.Webhooks.AllowPrivate)
		}
		if err == nil {
			err = s.seg.aud.Put(a)
		}
		if err != nil {
			var fe *audience.FieldError
			if errors.As(err, &fe) {
				writeError(ctx, badRequest("invalid_audience", fe.Field, fe.Field+" "+fe.Message))
				return
			}
			s.opts.Logger.Printf("audiences: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "audience could not be stored, retry", index: -1})
			return
		}
		writeJSON(ctx, a)
	case "DELETE":
		if err := s.seg.aud.Delete(name); err != nil {
			if errors.Is(err, audience.ErrNotFound) {
				writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no audience with this name", field: "name", index: -1})
				return
			}
			s.opts.Logger.Printf("audiences: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "audience could not be deleted, retry", index: -1})
			return
		}
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBodyString(`{"deleted":true}` + "\n")
	default:
		methodNotAllowed(ctx, "GET, PUT, POST, DELETE")
	}
}

// Limits of a members page.
const (
	defaultMembers = 100
	maxMembers     = 1000
	maxScanPerCall = 50000
)

// handleAudienceUsers lists an audience's members a page at a time, in user
// id order: each call scans at most maxScanPerCall profiles and returns the
// cursor to continue from, so a page may hold fewer than limit members and
// still not be the last ("next" is null on the last page).
func (s *Server) handleAudienceUsers(ctx *fasthttp.RequestCtx, name string) {
	a, err := s.seg.aud.Get(name)
	if err != nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no audience with this name", field: "name", index: -1})
		return
	}
	limit := defaultMembers
	if v := ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxMembers {
			writeError(ctx, badRequest(codeInvalidRequest, "limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxMembers)))
			return
		}
		limit = n
	}
	cursor := string(ctx.QueryArgs().Peek("cursor"))
	now := s.now()
	users := []string{}
	scanned := 0
	last := ""
	finished := true
	err = s.store.EachProfile(cursor, func(p *features.Profile) bool {
		if len(users) == limit || scanned == maxScanPerCall {
			finished = false
			return false
		}
		scanned++
		last = p.User
		if a.Expr().Match(s.subject(p, now)) {
			users = append(users, p.User)
		}
		return true
	})
	if err != nil {
		s.opts.Logger.Printf("audiences: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "members could not be read, retry", index: -1})
		return
	}
	out := struct {
		Audience string   `json:"audience"`
		Users    []string `json:"users"`
		Next     *string  `json:"next"`
		Scanned  int      `json:"scanned"`
	}{Audience: name, Users: users, Scanned: scanned}
	if !finished {
		out.Next = &last
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
	recs, err := s.seg.out.Read(after, limit)
	if err != nil {
		s.opts.Logger.Printf("triggers: %v", err)
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
