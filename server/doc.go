// Package server is tailor's HTTP API on fasthttp: routing, request decoding
// and validation, tokens and scopes, body limits, load shedding, response
// encoding and HTTP metrics. The work behind the endpoints is the
// service's (package service): the handlers decode a request, call one
// operation or read one part, and encode the answer.
//
// Every error is answered with a JSON body {"error":{"code","message",...}}
// naming the field at fault where there is one; a panic in a handler is
// answered with 500 and the process lives on. Open opens the service and
// Close closes it, and may be called twice; Shutdown stops the listeners
// first, waiting for the requests in flight.
package server
