package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkRoutes runs every read route, and the health checks, through the
// whole handler in process on a loaded world, to report each route's time
// and allocations per request (recommend, bid and events have benchmarks
// of their own).
func BenchmarkRoutes(b *testing.B) {
	bw := loadWorld(b, 1<<30)
	user := bw.world.UserID(7)
	item := bw.world.Items[3].ID
	h, ctx := bw.inProcess()
	serveOK(b, h, ctx, "PUT", "/v1/audiences/active", []byte(`{"expression":"events > 2"}`))
	serveOK(b, h, ctx, "POST", "/v1/segments/refresh", nil)
	for _, r := range []struct{ name, method, uri string }{
		{"healthz", "GET", "/healthz"},
		{"readyz", "GET", "/readyz"},
		{"user", "GET", "/v1/users/" + user},
		{"item", "GET", "/v1/items/" + item},
		{"items_page", "GET", "/v1/items?limit=100"},
		{"segments", "GET", "/v1/segments"},
		{"audiences", "GET", "/v1/audiences"},
		{"audience_users", "GET", "/v1/audiences/active/users?limit=100"},
		{"experiments", "GET", "/v1/experiments"},
		{"metrics", "GET", "/metrics"},
	} {
		b.Run(r.name, func(b *testing.B) {
			serveOK(b, h, ctx, r.method, r.uri, nil) // warm
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				serveOK(b, h, ctx, r.method, r.uri, nil)
			}
		})
	}
}

// serveOK runs one request through h in ctx, failing b unless it is
// answered 200.
func serveOK(b *testing.B, h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, method, uri string, body []byte) {
	ctx.Request.Reset()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	ctx.Request.SetBody(body)
	ctx.Response.Reset()
	h(ctx)
	if c := ctx.Response.StatusCode(); c != 200 {
		b.Fatalf("%s %s = %d %s", method, uri, c, ctx.Response.Body())
	}
}
