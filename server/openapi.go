package server

import (
	_ "embed" // the API description is built in
	"encoding/json"

	"github.com/valyala/fasthttp"
)

// openAPIDocument is the OpenAPI 3.1 description of every route of the API,
// served as is at /openapi.json. TestOpenAPIDocument checks that it parses
// and validates as OpenAPI 3.1, and that it describes every route; the other
// tests of the package check every request they send, and every answer they
// get, against it.
//
//go:embed openapi.json
var openAPIDocument []byte

func init() {
	// A broken description is a broken build: fail at start, not on a
	// client's first read.
	if !json.Valid(openAPIDocument) {
		panic("server: the embedded openapi.json is not valid JSON")
	}
}

// handleOpenAPI serves the API's OpenAPI description. It needs no token:
// it holds no data.
func (s *Server) handleOpenAPI(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(openAPIDocument)
}
