package server

import (
	"io"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Request bodies are read by the server itself rather than by fasthttp
// (Server.StreamRequestBody), so that each route's size limit applies before
// a byte past it is read and every body being read counts against one
// budget for the whole process (Options.MaxInflightBytes).

// Body limits of the routes that take small bodies.
const (
	smallBodyBytes     = 256 << 10 // recommend, audiences, experiments
	noticeBodyBytes    = 16 << 10  // notices carry their data in the URL
	defaultInflightMiB = 256
)

// bodyBuffers pools the memory bodies are read into.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody is the largest buffer kept for reuse; bigger ones are left to
// the garbage collector so that one large batch does not pin its memory.
const maxPooledBody = 1 << 20

// bodyLimit returns the largest body route r accepts.
func (s *Server) bodyLimit(r routeID) int {
	switch r {
	case routeRecommend, routeAudience, routeExperiments:
		return min(smallBodyBytes, s.opts.MaxBodyBytes)
	case routeBid:
		return s.opts.Bidder.MaxBodyBytes
	case routeWin, routeBilling, routeLoss:
		return noticeBodyBytes
	}
	return s.opts.MaxBodyBytes
}

// readBody reads the request body within route r's limit and the in-flight
// budget, leaving it as the request's body for the handler. It returns the
// function that gives the memory back (nil when there is nothing to give
// back) and false once it has answered the request itself.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, r routeID) (func(), bool) {
	if !ctx.Request.IsBodyStream() {
		return nil, true
	}
	limit := s.bodyLimit(r)
	n := ctx.Request.Header.ContentLength()
	if n > limit {
		s.tooLarge(ctx, r, limit)
		return nil, false
	}
	reserve := int64(n)
	if n < 0 { // chunked: the most it may be
		reserve = int64(limit)
	}
	if reserve > 0 && !s.reserveBody(reserve) {
		s.m.shed[classNone].Inc()
		ctx.Response.Header.Set("Retry-After", "1")
		ctx.SetConnectionClose()
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: "overloaded",
			message: "too many request bodies are being received at once; retry shortly", index: -1})
		return nil, false
	}
	bp := bodyBuffers.Get().(*[]byte)
	release := func() {
		s.inflightBody.Add(-reserve)
		if cap(*bp) <= maxPooledBody {
			*bp = (*bp)[:0]
			bodyBuffers.Put(bp)
		}
	}
	buf := (*bp)[:0]
	if n >= 0 {
		buf = slices.Grow(buf, n+1) // +1: reading to EOF needs room past the end
	}
	buf, err := readLimited(buf, ctx.RequestBodyStream(), limit)
	*bp = buf
	switch {
	case err == errBodyTooLarge:
		s.tooLarge(ctx, r, limit)
		release()
		return nil, false
	case err != nil:
		ctx.SetConnectionClose()
		writeError(ctx, badRequest("bad_http", "", "the request body could not be read: "+err.Error()))
		release()
		return nil, false
	}
	// The body is read to its end: the stream can go, the bytes stay ours
	// until release.
	ctx.Request.SetBodyRaw(buf)
	return release, true
}

// tooLarge answers 413: with the API's JSON error, or with no body on the
// bid route, as OpenRTB exchanges expect.
func (s *Server) tooLarge(ctx *fasthttp.RequestCtx, r routeID, limit int) {
	ctx.SetConnectionClose() // the rest of the body is never read
	if r == routeBid {
		s.bid.m.invalid.Inc()
		ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
		return
	}
	writeError(ctx, &apiError{status: fasthttp.StatusRequestEntityTooLarge, code: codeTooLarge,
		message: "request body is larger than " + strconv.Itoa(limit) + " bytes", index: -1})
}

// reserveBody counts n bytes against the in-flight budget, unless that
// would pass it; a lone body is always let through.
func (s *Server) reserveBody(n int64) bool {
	total := s.inflightBody.Add(n)
	if total > s.opts.MaxInflightBytes && total != n {
		s.inflightBody.Add(-n)
		return false
	}
	return true
}

type bodyError string

func (e bodyError) Error() string { return string(e) }

const errBodyTooLarge = bodyError("server: body too large")

// readLimited appends r to dst until EOF, failing with errBodyTooLarge once
// more than limit bytes have come: it never reads more than limit+1.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(len(dst), 4096)) // doubling: a few copies in all
		}
		room := dst[len(dst):cap(dst)]
		if over := len(dst) + len(room) - (limit + 1); over > 0 {
			room = room[:len(room)-over]
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errBodyTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// validUTF8 answers 400 and returns false when the body is not UTF-8, the
// same on every route that takes JSON.
func validUTF8(ctx *fasthttp.RequestCtx, body []byte) bool {
	if utf8.Valid(body) {
		return true
	}
	writeError(ctx, badRequest(codeInvalidJSON, "", "body is not valid UTF-8"))
	return false
}
