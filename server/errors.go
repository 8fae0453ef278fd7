package server

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/tailor-dev/tailor/internal/jsonw"
)

// Error codes of the API.
const (
	codeInvalidJSON    = "invalid_json"
	codeInvalidEvent   = "invalid_event"
	codeInvalidItem    = "invalid_item"
	codeInvalidRequest = "invalid_request"
	codeNotFound       = "not_found"
	codeMethod         = "method_not_allowed"
	codeTooLarge       = "body_too_large"
	codeInternal       = "internal"
	codeUnavailable    = "unavailable"
)

// apiError is an error answered to the client.
type apiError struct {
	status  int
	code    string
	message string
	field   string
	index   int // -1 when not about one record of a batch
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(code, field, message string) *apiError {
	return &apiError{status: fasthttp.StatusBadRequest, code: code, field: field, message: message, index: -1}
}

// writeError answers e as {"error":{"code","message","field","index"}}.
func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	b := make([]byte, 0, 128)
	b = append(b, `{"error":{"code":`...)
	b = jsonw.AppendString(b, e.code)
	b = append(b, `,"message":`...)
	b = jsonw.AppendString(b, e.message)
	if e.field != "" {
		b = append(b, `,"field":`...)
		b = jsonw.AppendString(b, e.field)
	}
	if e.index >= 0 {
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(e.index), 10)
	}
	b = append(b, "}}\n"...)
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetStatusCode(e.status)
	ctx.SetBody(b)
}
