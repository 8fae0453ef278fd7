package server

import (
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/internal/jsonw"
	"github.com/tailor-dev/tailor/internal/kv"
)

// handleReady answers /readyz: 200 {"status":"ok"} when every route can be
// served, 200 {"status":"degraded","reason":...} while writes are refused
// for want of disk space (reads, recommend and bids go on), 503
// {"status":"catching_up","reason":...} while a cluster node has yet to
// apply the log as it stood when the node started, and 503
// {"status":"failed","reason":...} once the store has failed. /healthz, the
// liveness check, stays ok in all of them.
func (s *Server) handleReady(ctx *fasthttp.RequestCtx) {
	state, reason := s.svc.Disk().Status()
	if ok, why := s.clusterReady(); !ok && state != "failed" {
		state, reason = "catching_up", why
	}
	b := append(make([]byte, 0, 256), `{"status":`...)
	b = jsonw.AppendString(b, state)
	if reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonw.AppendString(b, reason)
	}
	b = append(b, "}\n"...)
	if state == "failed" || state == "catching_up" {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(b)
}

// storageAllows answers and returns false when the store cannot serve the
// request: any request once the store has failed, a write while the disk is
// below its free-space floor (507).
func (s *Server) storageAllows(ctx *fasthttp.RequestCtx, writes bool) bool {
	err := s.svc.Disk().Writable()
	switch {
	case err == nil:
		return true
	case errors.Is(err, kv.ErrFailed):
		_, reason := s.svc.Disk().Status()
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: "storage_failed", message: reason, index: -1})
		return false
	case !writes:
		return true
	}
	_, reason := s.svc.Disk().Status()
	if floor := s.svc.Disk().Floor(); floor > 0 {
		reason += " (free-space floor " + strconv.FormatInt(floor>>20, 10) + " MiB, --min-free-mb)"
	}
	writeError(ctx, &apiError{status: fasthttp.StatusInsufficientStorage, code: "insufficient_storage", message: reason, index: -1})
	return false
}
