// Package server is tailor's HTTP API on fasthttp: routing, request decoding and
// validation, response encoding, limits, metrics, and the wiring of the profile
// store, the index and the ranker behind the endpoints.
//
// Every error is answered with a JSON body {"error":{"code","message",...}}
// naming the field at fault where there is one; a panic in a handler is
// answered with 500 and the process lives on. The same operations are
// available in process (Ingest, UpsertItems, Recommend) for tools that replay
// data without HTTP.
package server
