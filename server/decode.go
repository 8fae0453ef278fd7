package server

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// records splits a request body into JSON records: the elements of a top-level
// array, a single object, or, with Content-Type application/x-ndjson, one
// object per non-empty line. fn is called with each record and its index; the
// values are valid only during the call.
func (s *Server) records(ctx *fasthttp.RequestCtx, fn func(i int, v *fastjson.Value) *apiError) (int, *apiError) {
	body := ctx.PostBody()
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	if isNDJSON(ctx) {
		n := 0
		for len(body) > 0 {
			line := body
			if i := bytes.IndexByte(body, '\n'); i >= 0 {
				line, body = body[:i], body[i+1:]
			} else {
				body = nil
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if n == s.opts.MaxBatch {
				return n, tooMany(s.opts.MaxBatch)
			}
			v, err := p.ParseBytes(line)
			if err != nil {
				e := badRequest(codeInvalidJSON, "", "line is not valid JSON: "+err.Error())
				e.index = n
				return n, e
			}
			if e := fn(n, v); e != nil {
				return n, e
			}
			n++
		}
		if n == 0 {
			return 0, badRequest(codeInvalidJSON, "", "body holds no records")
		}
		return n, nil
	}
	v, err := p.ParseBytes(body)
	if err != nil {
		return 0, badRequest(codeInvalidJSON, "", "body is not valid JSON: "+err.Error())
	}
	switch v.Type() {
	case fastjson.TypeArray:
		arr, _ := v.Array()
		if len(arr) == 0 {
			return 0, badRequest(codeInvalidJSON, "", "body holds no records")
		}
		if len(arr) > s.opts.MaxBatch {
			return 0, tooMany(s.opts.MaxBatch)
		}
		for i, el := range arr {
			if e := fn(i, el); e != nil {
				return i, e
			}
		}
		return len(arr), nil
	case fastjson.TypeObject:
		return 1, fn(0, v)
	}
	return 0, badRequest(codeInvalidJSON, "", "body must be a JSON array of records, an object, or NDJSON")
}

func tooMany(max int) *apiError {
	return badRequest(codeInvalidRequest, "", fmt.Sprintf("a batch holds at most %d records", max))
}

func isNDJSON(ctx *fasthttp.RequestCtx) bool {
	ct := ctx.Request.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	return bytes.EqualFold(ct, []byte("application/x-ndjson")) || bytes.EqualFold(ct, []byte("application/jsonl"))
}

// fields reads typed fields out of one JSON object, remembering the first error.
type fields struct {
	v    *fastjson.Value
	code string
	err  *apiError
}

func (f *fields) fail(field, msg string) {
	if f.err == nil {
		f.err = badRequest(f.code, field, field+" "+msg)
	}
}

// str returns the string field key ("" when absent or null), at most max bytes.
func (f *fields) str(key string, max int) string {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		f.fail(key, "must be a string")
		return ""
	}
	if len(b) > max {
		f.fail(key, fmt.Sprintf("is longer than %d bytes", max))
		return ""
	}
	if !utf8.Valid(b) {
		f.fail(key, "is not valid UTF-8")
		return ""
	}
	return string(b)
}

// num returns the number field key, or def when absent or null.
func (f *fields) num(key string, def float64) float64 {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return def
	}
	x, err := v.Float64()
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		f.fail(key, "must be a number")
		return def
	}
	return x
}

// integer returns the integer field key, or def when absent or null.
func (f *fields) integer(key string, def int) int {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return def
	}
	x, err := v.Int()
	if err != nil {
		f.fail(key, "must be an integer")
		return def
	}
	return x
}

// strs returns the array of strings at v (nil when absent or null).
func (f *fields) strs(v *fastjson.Value, name string, maxLen, maxEach int) []string {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	arr, err := v.Array()
	if err != nil {
		f.fail(name, "must be an array of strings")
		return nil
	}
	if len(arr) > maxLen {
		f.fail(name, fmt.Sprintf("has more than %d entries", maxLen))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, el := range arr {
		b, err := el.StringBytes()
		if err != nil || len(b) == 0 || len(b) > maxEach || !utf8.Valid(b) {
			f.fail(name+"["+strconv.Itoa(i)+"]", fmt.Sprintf("must be a non-empty string of at most %d bytes", maxEach))
			return nil
		}
		out = append(out, string(b))
	}
	return out
}
