// Package server is tailor's HTTP API on fasthttp: routing, request decoding
// and validation, tokens and scopes, body limits, load shedding, response
// encoding and HTTP metrics, and the wiring of the parts behind the
// endpoints: the profile store (features), the catalog (index), the ranker,
// the decision log and experiments (learn), the campaigns, ledger and
// auction of the OpenRTB bidder, audiences and triggers.
//
// Every error is answered with a JSON body {"error":{"code","message",...}}
// naming the field at fault where there is one; a panic in a handler is
// answered with 500 and the process lives on. Open opens the parts in order
// and closes what it opened if a step fails; Close stops every background
// goroutine before the data directory closes, and may be called twice. The
// same operations are available in process (Ingest, UpsertItems, Recommend)
// for tools that replay data without HTTP.
package server
