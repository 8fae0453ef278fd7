package bench

import (
	"net"

	"github.com/valyala/fasthttp"
)

// floorBody is the floor server's answer to every request.
var floorBody = []byte("{}\n")

// NewFloor returns a trivial fasthttp server that answers every request
// with 200 and a constant two-byte JSON body, without reading it. Measured
// with the same driver and settings as a real server, it is the floor of
// what this machine can show: the cost of HTTP over loopback, the driver,
// and the scheduler.
func NewFloor() *fasthttp.Server {
	return &fasthttp.Server{
		Name:                  "floor",
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentType("application/json")
			ctx.SetBody(floorBody)
		},
	}
}

// ServeFloor serves the floor server on ln until ln is closed.
func ServeFloor(ln net.Listener) error { return NewFloor().Serve(ln) }
