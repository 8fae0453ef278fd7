package server

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/internal/ident"
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
	rest := skipSpace(body)
	if len(rest) == 0 || rest[0] != '[' {
		v, err := p.ParseBytes(body)
		if err != nil {
			return 0, badRequest(codeInvalidJSON, "", "body is not valid JSON: "+err.Error())
		}
		if v.Type() != fastjson.TypeObject {
			return 0, badRequest(codeInvalidJSON, "", "body must be a JSON array of records, an object, or NDJSON")
		}
		return 1, fn(0, v)
	}
	// An array is split into its elements as it is read, each parsed on its
	// own: a request never holds more than one record's parse tree, and a
	// batch past the record limit is refused at the first record too many.
	rest = skipSpace(rest[1:])
	if len(rest) > 0 && rest[0] == ']' {
		if len(skipSpace(rest[1:])) > 0 {
			return 0, badRequest(codeInvalidJSON, "", "body is not valid JSON: data after the array")
		}
		return 0, badRequest(codeInvalidJSON, "", "body holds no records")
	}
	n := 0
	for {
		el, after, ok := nextElement(rest)
		if !ok {
			e := badRequest(codeInvalidJSON, "", "body is not valid JSON: the array is not closed or an element is cut short")
			e.index = n
			return n, e
		}
		if n == s.opts.MaxBatch {
			return n, tooMany(s.opts.MaxBatch)
		}
		v, err := p.ParseBytes(el)
		if err != nil {
			e := badRequest(codeInvalidJSON, "", "record is not valid JSON: "+err.Error())
			e.index = n
			return n, e
		}
		if e := fn(n, v); e != nil {
			return n, e
		}
		n++
		rest = skipSpace(after)
		switch {
		case len(rest) > 0 && rest[0] == ',':
			rest = skipSpace(rest[1:])
		case len(rest) > 0 && rest[0] == ']':
			if len(skipSpace(rest[1:])) > 0 {
				return n, badRequest(codeInvalidJSON, "", "body is not valid JSON: data after the array")
			}
			return n, nil
		default:
			e := badRequest(codeInvalidJSON, "", "body is not valid JSON: expected ',' or ']' after a record")
			e.index = n - 1
			return n, e
		}
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// nextElement returns the JSON value at the start of b (which starts with
// no space) and what follows it. It finds the value's end by its brackets
// and strings only; the parser checks the rest.
func nextElement(b []byte) (el, rest []byte, ok bool) {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
				if depth == 0 {
					return b[:i+1], b[i+1:], true
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the end of the enclosing array
				return b[:i], b[i:], i > 0
			}
			depth--
			if depth == 0 {
				return b[:i+1], b[i+1:], true
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return b[:i], b[i:], i > 0
			}
		}
	}
	return nil, nil, false
}

// parseBody parses the request body as one JSON value with p, answering
// 400 invalid_json and returning false when it is not JSON.
func parseBody(ctx *fasthttp.RequestCtx, p *fastjson.Parser) (*fastjson.Value, bool) {
	v, err := p.ParseBytes(ctx.PostBody())
	if err != nil {
		writeError(ctx, badRequest(codeInvalidJSON, "", "body is not valid JSON: "+err.Error()))
		return nil, false
	}
	return v, true
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

// id returns the id field key ("" when absent or null), checked against the
// rule every id follows (package ident).
func (f *fields) id(key string) string {
	s := f.str(key, ident.MaxBytes)
	if s != "" && f.err == nil {
		if p := ident.Problem(s); p != "" {
			f.fail(key, p)
			return ""
		}
	}
	return s
}

// known fails on the first key of the object that is not one of names, so
// that a misspelt field is an error rather than silently ignored. what
// completes the message: "x is not a field of " + what.
func (f *fields) known(what string, names ...string) {
	o, err := f.v.Object()
	if err != nil || f.err != nil {
		return
	}
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if f.err == nil && !slices.Contains(names, string(k)) {
			f.fail(string(k), "is not a field of "+what)
		}
	})
}

// Bounds of the numbers the API takes.
const (
	// MaxAmount bounds a price or purchase amount, in units of its currency.
	MaxAmount = 1e9
	// MaxWeight bounds a boost weight's magnitude.
	MaxWeight = 1e3
)

// num returns the number field key, or def when absent or null; it must lie
// in [lo, hi].
func (f *fields) num(key string, def, lo, hi float64) float64 {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return def
	}
	x, err := v.Float64()
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		f.fail(key, "must be a number")
		return def
	}
	if x < lo || x > hi {
		f.fail(key, fmt.Sprintf("must be between %g and %g", lo, hi))
		return def
	}
	return x
}

// integer returns the integer field key, or def when absent or null.
// boolean reads a true or false; absent or null is false.
func (f *fields) boolean(key string) bool {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return false
	}
	b, err := v.Bool()
	if err != nil {
		f.fail(key, "must be true or false")
	}
	return b
}

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
