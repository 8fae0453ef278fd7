package server

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/jsonw"
)

// codeNotCaughtUp answers a request whose token this node has not applied
// within FreshWait.
const codeNotCaughtUp = "not_caught_up"

// logEvents writes events to the cluster's log and answers
// {"accepted":n,"token":...}: the events are durable in the log, applied on
// this node unless its apply wait ran out, and on every node in time.
func (s *Server) logEvents(ctx *fasthttp.RequestCtx, events []features.Event) {
	tok, _, err := s.node.AppendEvents(context.Background(), events)
	if err != nil {
		s.logger.Printf("events: %v", err)
		writeError(ctx, logError(err, "events"))
		return
	}
	setToken(ctx, tok)
	b := make([]byte, 0, 64)
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(len(events)), 10)
	b = append(b, `,"token":`...)
	b = jsonw.AppendString(b, tok.String())
	b = append(b, "}\n"...)
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(b)
}

// TokenHeader is the response header that carries, on a cluster node, the
// token of a write: events, items, campaigns, audiences, experiments, user
// attributes, erasures and deletions.
const TokenHeader = "Tailor-Token"

// setToken sets the answer's TokenHeader when tok names something.
func setToken(ctx *fasthttp.RequestCtx, tok cluster.Token) {
	if !tok.IsZero() {
		ctx.Response.Header.Set(TokenHeader, tok.String())
	}
}

// logError is the answer to a write the log did not take.
func logError(err error, what string) *apiError {
	msg := what + " could not be logged; nothing was applied, retry"
	if errors.Is(err, cluster.ErrUnknownOutcome) {
		msg = "the log did not confirm the " + what + "; they may have been applied: retry with the same event ids, which are applied once"
	}
	return &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: msg, index: -1}
}

// awaitToken waits until this node has applied what the token text names (a
// recommend's "after"), up to FreshWait. It answers and returns false when
// the token is not one or the wait runs out. On a single node every
// acknowledged write is applied already: a well-formed token is met at once.
func (s *Server) awaitToken(ctx *fasthttp.RequestCtx, text string) bool {
	tok, err := cluster.ParseToken(text)
	if err != nil {
		writeError(ctx, badRequest(codeInvalidRequest, "after",
			"after must be the token of a write's answer: partition:offset pairs separated by commas, such as 0:12,3:40"))
		return false
	}
	if s.node == nil || tok.IsZero() {
		return true
	}
	wctx, cancel := context.WithTimeout(context.Background(), s.opts.FreshWait)
	defer cancel()
	if err := s.node.Wait(wctx, tok); err != nil {
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeNotCaughtUp, index: -1,
			message: "this node has not yet applied the writes the token names (it has applied " + s.node.Applied().String() +
				"); retry, or ask the node that took them"})
		return false
	}
	return true
}

// clusterReady reports, for /readyz, whether this node has caught up with the
// log as it stood at start, and if not, how far behind it is.
func (s *Server) clusterReady() (bool, string) {
	if s.node == nil || s.node.Ready() {
		return true, ""
	}
	return false, "catching up with the cluster's log: " + strconv.FormatInt(s.node.Lag(), 10) + " records to apply"
}

// defaultFreshWait is FreshWait's default.
const defaultFreshWait = time.Second
