package server

import "github.com/valyala/fasthttp"

// handleConsole serves the operator console's pages under /console.
func (s *Server) handleConsole(ctx *fasthttp.RequestCtx) {
	writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "the console is not in this build", index: -1})
}
