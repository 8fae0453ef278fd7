package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fasthttp"
)

// openAPIOperations lists, for every route of the router, the operations
// (method and path template) openapi.json describes for it. A route added to
// routes.go without its entry here, or an entry without its operation in
// openapi.json, fails TestOpenAPIRoutes.
var openAPIOperations = map[routeID][]string{
	routeEvents:          {"POST /v1/events", "OPTIONS /v1/events"},
	routeRecommend:       {"POST /v1/recommend", "OPTIONS /v1/recommend"},
	routeExperiments:     {"GET /v1/experiments", "PUT /v1/experiments", "POST /v1/experiments"},
	routeExperiment:      {"GET /v1/experiments/{id}"},
	routeItems:           {"GET /v1/items", "POST /v1/items"},
	routeItem:            {"GET /v1/items/{id}", "DELETE /v1/items/{id}"},
	routeUser:            {"GET /v1/users/{id}", "DELETE /v1/users/{id}"},
	routeMetrics:         {"GET /metrics"},
	routeHealth:          {"GET /healthz"},
	routeUsers:           {"POST /v1/users"},
	routeSegments:        {"GET /v1/segments"},
	routeSegmentsRefresh: {"POST /v1/segments/refresh"},
	routeAudiences:       {"GET /v1/audiences"},
	routeAudience:        {"GET /v1/audiences/{name}", "PUT /v1/audiences/{name}", "POST /v1/audiences/{name}", "DELETE /v1/audiences/{name}"},
	routeAudienceUsers:   {"GET /v1/audiences/{name}/users"},
	routeTriggers:        {"GET /v1/triggers"},
	routeBid:             {"POST /openrtb2/bid"},
	routeWin:             {"GET /openrtb2/win", "POST /openrtb2/win"},
	routeBilling:         {"GET /openrtb2/billing", "POST /openrtb2/billing"},
	routeLoss:            {"GET /openrtb2/loss", "POST /openrtb2/loss"},
	routeCampaigns:       {"GET /v1/campaigns", "POST /v1/campaigns"},
	routeCampaign:        {"GET /v1/campaigns/{id}", "DELETE /v1/campaigns/{id}"},
	routeCampaignStats:   {"GET /v1/campaigns/{id}/stats"},
	routeReady:           {"GET /readyz"},
	routeOpenAPI:         {"GET /openapi.json"},
	routeConsole:         {"GET /console", "GET /console/", "GET /console/{path}"},
	routeBackup:          {"POST /v1/admin/backup"},
}

// openAPIChecker validates recorded traffic against openapi.json. It is
// built once for the whole package's tests: the document, its router and
// the compiled schemas are shared.
type openAPIChecker struct {
	doc    *openapi3.T
	router routers.Router

	// Bodies are checked against their schemas compiled once, at their
	// JSON pointer in the document: openapi3filter compiles a schema at
	// every call, which would double the package's test time.
	schemaMu sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema // by JSON pointer

	mu       sync.Mutex
	reported map[string]bool // test name + failure key: each failure once a test
}

// openAPIURL is where the compiler finds the document.
const openAPIURL = "https://tailor.invalid/openapi.json"

// validateBody checks v against the schema at pointer (a JSON pointer into
// the document, such as #/components/schemas/Item), compiled once.
func (c *openAPIChecker) validateBody(pointer string, v any) error {
	c.schemaMu.Lock()
	sch, ok := c.compiled[pointer]
	if !ok {
		var err error
		if sch, err = c.compiler.Compile(openAPIURL + pointer); err != nil {
			c.schemaMu.Unlock()
			return fmt.Errorf("cannot compile the schema at %s: %w", pointer, err)
		}
		c.compiled[pointer] = sch
	}
	c.schemaMu.Unlock()
	return sch.Validate(v)
}

// pointer returns the JSON pointer of a location in the document.
func pointer(base string, keys ...string) string {
	p := base
	for _, k := range keys {
		p += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
	}
	return p
}

// mediaType returns the key under content that a Content-Type selects (as
// openapi3.Content.Get does), "" when none.
func mediaType(content openapi3.Content, contentType string) string {
	mt := content.Get(contentType)
	for k, v := range content {
		if v == mt && mt != nil {
			return k
		}
	}
	return ""
}

// decodeBody decodes a JSON body, or an NDJSON one as the array of its
// lines, as the schema compiler takes values; any other body is text.
func decodeBody(mime string, body []byte) (any, error) {
	switch {
	case mime == "application/json" || strings.HasSuffix(mime, "+json"):
		return jsonschema.UnmarshalJSON(bytes.NewReader(body))
	case mime != "application/x-ndjson" && mime != "application/jsonl":
		return string(body), nil // text
	}
	var records []any
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
		if err != nil {
			return nil, err
		}
		records = append(records, v)
	}
	return records, nil
}

// loadOpenAPI parses and validates the embedded document and builds its
// router, once.
var loadOpenAPI = sync.OnceValues(func() (*openAPIChecker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("openapi.json does not parse: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableSchemaFormatValidation()); err != nil {
		return nil, fmt.Errorf("openapi.json does not validate as OpenAPI 3.1: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: cannot build a router: %w", err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDocument))
	if err != nil {
		return nil, err
	}
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.AssertFormat() // as openapi3filter does
	if err := compiler.AddResource(openAPIURL, raw); err != nil {
		return nil, err
	}
	return &openAPIChecker{doc: doc, router: router, compiler: compiler, compiled: map[string]*jsonschema.Schema{},
		reported: map[string]bool{}}, nil
})

// openAPIBase is the server of openapi.json, which its router matches.
const openAPIBase = "http://127.0.0.1:8080"

// maxCheckedRecords bounds the records of a batch request that are checked:
// tests post batches of up to 10,000 records, and the first ones say as much
// about the description as all of them.
const maxCheckedRecords = 64

// checkOpenAPI validates a request a test sent and the answer it got
// against openapi.json: the answer always (its status is documented for the
// operation, its body matches the schema of its Content-Type), the request
// only when the answer is 2xx (tests send invalid requests on purpose). A
// request to a path or method the document does not describe must get the
// API's JSON error. A mismatch fails t, once for each operation, status and
// kind of mismatch.
func checkOpenAPI(t testing.TB, req *fasthttp.Request, resp *fasthttp.Response) {
	t.Helper()
	c, err := loadOpenAPI()
	if err != nil {
		return // TestOpenAPIDocument reports it
	}
	if key, err := c.check(req, resp); err != nil {
		c.mu.Lock()
		first := !c.reported[t.Name()+"\x00"+key]
		c.reported[t.Name()+"\x00"+key] = true
		c.mu.Unlock()
		if first {
			t.Errorf("openapi.json: %s: %v\nrequest: %s %s\nanswer: %d %s", key, err, req.Header.Method(), req.RequestURI(),
				resp.StatusCode(), clip(resp.Body(), 600))
		}
	}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// check returns the operation's key (method, path template, status) and
// what does not match the description, if anything.
func (c *openAPIChecker) check(req *fasthttp.Request, resp *fasthttp.Response) (string, error) {
	method := string(req.Header.Method())
	// HEAD is answered as GET without the body (see serve): it is checked
	// as the GET it stands for, its status and headers only.
	head := method == "HEAD"
	if head {
		method = "GET"
	}
	status := resp.StatusCode()
	success := status >= 200 && status < 300
	uri := string(req.Header.RequestURI())          // as sent, %2F and all
	if _, rest, ok := strings.Cut(uri, "://"); ok { // an absolute URI: its path and query
		uri = "/"
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			uri = rest[i:]
		}
	}
	hreq, err := http.NewRequest(method, openAPIBase+uri, nil)
	if err != nil {
		return fmt.Sprintf("%s %s %d", method, req.URI().Path(), status), err
	}
	for k, v := range req.Header.All() {
		hreq.Header.Add(string(k), string(v))
	}
	route, params, err := c.router.FindRoute(hreq)
	if err != nil {
		key := fmt.Sprintf("%s %s %d (not described)", method, req.URI().Path(), status)
		if head {
			return key, nil // 405 or 404 without the body a GET would have
		}
		return key, c.checkUndescribed(resp, err)
	}
	if status == http.StatusInternalServerError {
		// A handler that panicked: no operation lists it (see the
		// document's description), but it is still the API's error.
		return fmt.Sprintf("%s %s 500", method, route.Path), c.checkUndescribed(resp, errors.New("a panic"))
	}
	key := fmt.Sprintf("%s %s %d", method, route.Path, status)

	// openapi3filter checks the parameters, the status and the headers;
	// the bodies are checked here, against schemas compiled once.
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true, ExcludeRequestBody: true, ExcludeResponseBody: true}
	in := &openapi3filter.RequestValidationInput{Request: hreq, PathParams: params, Route: route, Options: opts}
	ctx := context.Background()
	if success {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return key + " (request)", err
		}
		if err := c.checkRequestBody(route, req); err != nil {
			return key + " (request)", err
		}
	}
	header := http.Header{}
	for k, v := range resp.Header.All() {
		header.Add(string(k), string(v))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return key, err
	}
	if head {
		if len(resp.Body()) > 0 {
			return key, errors.New("an answer to HEAD with a body")
		}
		return key, nil
	}
	return key, c.checkResponseBody(route, status, resp)
}

// checkRequestBody checks the body of a request that was answered 2xx.
func (c *openAPIChecker) checkRequestBody(route *routers.Route, req *fasthttp.Request) error {
	rb := route.Operation.RequestBody
	if rb == nil {
		return nil // the route reads no body
	}
	body := requestBody(req)
	if len(body) == 0 {
		if rb.Value.Required {
			return errors.New("the request body is required")
		}
		return nil
	}
	// The server reads every body that is not NDJSON as JSON, whatever
	// its Content-Type says.
	ct, _, _ := strings.Cut(strings.ToLower(string(req.Header.ContentType())), ";")
	if ct = strings.TrimSpace(ct); ct != "application/x-ndjson" && ct != "application/jsonl" {
		ct = "application/json"
	}
	mime := mediaType(rb.Value.Content, ct)
	if mime == "" {
		return fmt.Errorf("a request body of Content-Type %s is not described", ct)
	}
	base := pointer("#/paths", route.Path, strings.ToLower(route.Method), "requestBody")
	if rb.Ref != "" {
		base = rb.Ref
	}
	v, err := decodeBody(mime, body)
	if err != nil {
		return fmt.Errorf("the request body does not decode as %s: %w", mime, err)
	}
	return c.validateBody(pointer(base, "content", mime, "schema"), v)
}

// checkResponseBody checks an answer's body against the schema of its
// Content-Type; ValidateResponse has checked its status is described.
func (c *openAPIChecker) checkResponseBody(route *routers.Route, status int, resp *fasthttp.Response) error {
	body := resp.Body()
	if (status == http.StatusNoContent || status == http.StatusNotModified) && len(body) > 0 {
		return fmt.Errorf("%d with a body", status)
	}
	rr := route.Operation.Responses.Status(status)
	if rr == nil || len(rr.Value.Content) == 0 {
		return nil // no body described: there may be none
	}
	ct := string(resp.Header.ContentType())
	mime := mediaType(rr.Value.Content, ct)
	if mime == "" {
		return fmt.Errorf("an answer of Content-Type %q is not described", ct)
	}
	if rr.Value.Content[mime].Schema == nil {
		return nil
	}
	base := pointer("#/paths", route.Path, strings.ToLower(route.Method), "responses", strconv.Itoa(status))
	if rr.Ref != "" {
		base = rr.Ref
	}
	v, err := decodeBody(mime, body)
	if err != nil {
		return fmt.Errorf("the answer does not decode as %s: %w", mime, err)
	}
	return c.validateBody(pointer(base, "content", mime, "schema"), v)
}

// checkUndescribed checks the answer to a request openapi.json has no
// operation for: a method a path does not take, a path no template matches
// (an unknown endpoint, an id holding '/'). It must be the API's JSON error.
func (c *openAPIChecker) checkUndescribed(resp *fasthttp.Response, routeErr error) error {
	status := resp.StatusCode()
	switch status {
	case 400, 401, 403, 404, 405, 413, 429, 500, 503, 507:
	default:
		return fmt.Errorf("%v, and the answer is %d", routeErr, status)
	}
	if status == 405 && len(resp.Header.Peek("Allow")) == 0 {
		return errors.New("405 without an Allow header")
	}
	if ct := string(resp.Header.ContentType()); ct != "application/json" {
		return fmt.Errorf("%v, and the answer's Content-Type is %q, not the API's JSON error", routeErr, ct)
	}
	v, err := decodeBody("application/json", resp.Body())
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	if err := c.validateBody("#/components/schemas/Error", v); err != nil {
		return fmt.Errorf("the answer is not the API's JSON error: %w", err)
	}
	return nil
}

// requestBody returns the body of req as the handler reads it: inflated
// when gzip-encoded, and with a batch cut to its first maxCheckedRecords
// records.
func requestBody(req *fasthttp.Request) []byte {
	body := req.Body()
	if enc := strings.ToLower(string(req.Header.ContentEncoding())); enc == "gzip" || enc == "x-gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return body
		}
		if b, err := io.ReadAll(io.LimitReader(zr, 1<<20)); err == nil {
			body = b
		}
	}
	if len(body) < 16<<10 {
		return body
	}
	if ct := strings.ToLower(string(req.Header.ContentType())); strings.Contains(ct, "ndjson") || strings.Contains(ct, "jsonl") {
		lines := bytes.SplitN(body, []byte("\n"), maxCheckedRecords+1)
		return bytes.Join(lines[:min(len(lines), maxCheckedRecords)], []byte("\n"))
	}
	// A JSON array: its first records, found as the server finds them.
	rest := skipSpace(body)
	if len(rest) == 0 || rest[0] != '[' {
		return body
	}
	rest = skipSpace(rest[1:])
	out := []byte{'['}
	for n := 0; n < maxCheckedRecords; n++ {
		el, after, ok := nextElement(rest)
		if !ok {
			return body
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, el...)
		if rest = skipSpace(after); len(rest) == 0 || rest[0] != ',' {
			return body // the whole array
		}
		rest = skipSpace(rest[1:])
	}
	return append(out, ']')
}

// checkRaw is checkOpenAPI for a request written out as bytes; a request
// that does not parse is not checked.
func checkRaw(t testing.TB, request string, resp *fasthttp.Response) {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(request))); err != nil {
		return
	}
	checkOpenAPI(t, &req, resp)
}

// TestOpenAPIDocument checks that openapi.json parses and validates as
// OpenAPI 3.1, and that /openapi.json serves it.
func TestOpenAPIDocument(t *testing.T) {
	c, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if c.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", c.doc.OpenAPI)
	}
	ts := newTestServer(t)
	code, out := ts.do("GET", "/openapi.json", "", "")
	if code != 200 || out != string(openAPIDocument) {
		t.Errorf("GET /openapi.json = %d and %d bytes, want 200 and openapi.json's %d", code, len(out), len(openAPIDocument))
	}
}

// TestOpenAPIRoutes checks that openapi.json describes every route of the
// router, and that every operation it describes routes to the route it
// claims, with the scope it claims, and is served (not 405).
func TestOpenAPIRoutes(t *testing.T) {
	c, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	claimed := map[string]routeID{}
	for r := routeOther + 1; r < numRoutes; r++ {
		ops := openAPIOperations[r]
		if len(ops) == 0 {
			t.Errorf("route %s has no operation in openAPIOperations (and openapi.json)", r.name())
		}
		for _, op := range ops {
			claimed[op] = r
		}
	}
	var described []string
	for _, path := range c.doc.Paths.InMatchingOrder() {
		for method := range c.doc.Paths.Value(path).Operations() {
			described = append(described, method+" "+path)
		}
	}
	sort.Strings(described)
	for op, r := range claimed {
		if !slices.Contains(described, op) {
			t.Errorf("route %s: %s is not in openapi.json", r.name(), op)
		}
	}

	ts := startServer(t, t.TempDir(), nil, Options{CORSOrigins: []string{"*"}})
	for _, op := range described {
		r, ok := claimed[op]
		if !ok {
			t.Errorf("openapi.json describes %s, which openAPIOperations gives no route", op)
			continue
		}
		method, path, _ := strings.Cut(op, " ")
		sample := strings.NewReplacer("{id}", "t1", "{name}", "t1", "{path}", "console.css").Replace(path)
		if got := route([]byte(sample)); got != r {
			t.Errorf("%s: route(%q) = %s, want %s", op, sample, got.name(), r.name())
		}
		o := c.doc.Paths.Value(path).GetOperation(method)
		want := r.scope([]byte(method)).String()
		if want == "" {
			want = "none"
		}
		if got, _ := o.Extensions["x-tailor-scope"].(string); got != want {
			t.Errorf("%s: x-tailor-scope = %q, want %q", op, got, want)
		}
		var roles []string
		if o.Security != nil {
			for _, req := range *o.Security {
				for scheme, rs := range req {
					for _, role := range rs {
						roles = append(roles, scheme+":"+role)
					}
				}
			}
		}
		switch {
		case want == "none" && (o.Security == nil || len(*o.Security) != 0):
			t.Errorf("%s: security = %v, want [] (no token)", op, roles)
		case want != "none" && !slices.Contains(roles, "bearerAuth:"+want):
			t.Errorf("%s: security = %v, want bearerAuth with %s", op, roles, want)
		}

		// The server takes the method on the path.
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		req.SetRequestURI("http://tailor" + sample)
		req.Header.SetMethod(method)
		if method == "OPTIONS" {
			req.Header.Set("Origin", "https://shop.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		if err := ts.client.Do(req, resp); err != nil {
			t.Fatalf("%s %s: %v", method, sample, err)
		}
		if resp.StatusCode() == 405 {
			t.Errorf("%s %s = 405 %s: openapi.json describes a method the route does not take", method, sample, resp.Body())
		}
		checkOpenAPI(t, req, resp)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// TestOpenAPICheckerCatches checks the checker itself: answers and requests
// that do not match openapi.json are caught, so that recorded traffic that
// passes means something.
func TestOpenAPICheckerCatches(t *testing.T) {
	c, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, uri, reqBody string
		status               int
		contentType, body    string
		ok                   bool
	}{
		{"POST", "/v1/events", `{"user":"u1","type":"view","item":"i1"}`, 200, "application/json", `{"accepted":1,"duplicates":0}`, true},
		{"POST", "/v1/events", `{"user":"u1","type":"view","item":"i1"}`, 200, "application/json", `{"accepted":"1","duplicates":0}`, false},
		{"POST", "/v1/events", `{"user":"u1","type":"view","item":"i1"}`, 200, "application/json", `{"accepted":1}`, false},
		{"POST", "/v1/events", `{"user":"u1","type":"view","item":"i1"}`, 200, "application/json", `{"accepted":1,"token":"0:3"}`, true},
		{"POST", "/v1/events", `{"user":"u1","type":"view","item":"i1"}`, 418, "application/json", `{"error":{"code":"x","message":"y"}}`, false},
		{"POST", "/v1/events", `{"user":"u1","type":"view"}`, 200, "application/json", `{"accepted":1,"duplicates":0}`, false},
		{"POST", "/v1/events", `{"user":"u1","type":"view"}`, 400, "application/json", `{"error":{"code":"invalid_event","message":"item is required","field":"item","index":0}}`, true},
		{"POST", "/v1/events", `{"user":"u1","type":"view"}`, 400, "application/json", `{"error":{"code":"invalid_event"}}`, false},
		{"POST", "/v1/events", `[{"user":"u1","type":"search","query":"q"},{"type":"impression","rec_id":"0123456789abcdef","items":["i1"]}]`, 200, "application/json", `{"accepted":2,"duplicates":0}`, true},
		{"POST", "/v1/events", `[{"user":"u1","type":"search"}]`, 200, "application/json", `{"accepted":1,"duplicates":0}`, false},
		{"POST", "/v1/events", `{"type":"impression","items":["i1"]}`, 200, "application/json", `{"accepted":1,"duplicates":0}`, false},
		{"GET", "/v1/items/x1", "", 200, "text/plain", `x`, false},
		{"GET", "/v1/items/x1", "", 200, "application/json", `{"id":"x1","price":1}`, true},
		{"GET", "/v1/items/x1", "", 200, "application/json", `{"id":"x1","price":1,"colour":"red"}`, false},
		{"GET", "/v1/items/..", "", 200, "application/json", `{"id":"..","price":1}`, false},
		{"PATCH", "/v1/items/x1", "", 405, "application/json", `{"error":{"code":"method_not_allowed","message":"m"}}`, false}, // no Allow header
		{"GET", "/v1/nothing", "", 404, "application/json", `{"error":{"code":"not_found","message":"m"}}`, true},
		{"GET", "/v1/nothing", "", 200, "application/json", `{}`, false},
		{"GET", "/healthz", "", 500, "application/json", `{"error":{"code":"internal","message":"internal error"}}`, true},
	} {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		req.SetRequestURI("http://tailor" + tc.uri)
		req.Header.SetMethod(tc.method)
		if tc.reqBody != "" {
			req.Header.SetContentType("application/json")
			req.SetBodyString(tc.reqBody)
		}
		resp.SetStatusCode(tc.status)
		resp.Header.SetContentType(tc.contentType)
		resp.SetBodyString(tc.body)
		key, err := c.check(req, resp)
		if (err == nil) != tc.ok {
			t.Errorf("check(%s %s %s -> %d %s) = %s: %v, want ok %v", tc.method, tc.uri, tc.reqBody, tc.status, tc.body, key, err, tc.ok)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}
