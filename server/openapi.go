package server

import "github.com/valyala/fasthttp"

// handleOpenAPI serves the API's OpenAPI description.
func (s *Server) handleOpenAPI(ctx *fasthttp.RequestCtx) {
	writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "the API description is not in this build", index: -1})
}
