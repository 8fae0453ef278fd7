package server

import (
	"slices"

	"github.com/valyala/fasthttp"
)

// browserRoute reports whether web pages call r directly (from another
// origin, with CORS): the events and recommend routes a website client uses.
func (r routeID) browserRoute() bool { return r == routeEvents || r == routeRecommend }

// corsMaxAge is how long, in seconds, a browser may cache a preflight answer.
const corsMaxAge = "600"

// cors handles cross-origin requests of web pages on the browser routes.
// It adds the CORS headers to a request from an allowed origin and answers
// a preflight (OPTIONS with Access-Control-Request-Method) itself, with 204;
// it returns false when it has answered. A request from another origin gets
// no CORS headers, so the browser keeps the answer from the page.
func (s *Server) cors(ctx *fasthttp.RequestCtx, r routeID) bool {
	origin := ctx.Request.Header.Peek(fasthttp.HeaderOrigin)
	if len(origin) == 0 || !r.browserRoute() || !s.originAllowed(origin) {
		return true
	}
	h := &ctx.Response.Header
	h.Add(fasthttp.HeaderVary, fasthttp.HeaderOrigin)
	h.SetBytesV(fasthttp.HeaderAccessControlAllowOrigin, origin)
	if string(ctx.Method()) != fasthttp.MethodOptions || len(ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestMethod)) == 0 {
		return true
	}
	h.Set(fasthttp.HeaderAccessControlAllowMethods, "POST")
	h.Set(fasthttp.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
	h.Set(fasthttp.HeaderAccessControlMaxAge, corsMaxAge)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return false
}

// originAllowed reports whether origin is in Options.CORSOrigins ("*"
// allows every origin).
func (s *Server) originAllowed(origin []byte) bool {
	return slices.ContainsFunc(s.opts.CORSOrigins, func(o string) bool { return o == "*" || o == string(origin) })
}
