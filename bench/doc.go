// Package bench is tailor's load-testing suite: it writes synthetic worlds to
// disk, streams them into a running server, and drives open-loop load at a
// constant arrival rate while measuring latency the way a user sees it.
//
// It talks to the server over HTTP only, like any client; it imports none of
// the server's packages, so it measures any build of tailor (or anything else
// that serves the same API).
//
// # What the figures mean
//
// Requests are scheduled at fixed intended times (rate R: one every 1/R
// seconds) whether or not earlier answers have come back. Latency is measured
// from a request's intended send time to its answer, so a server stall delays
// every request scheduled during it and shows in the percentiles; a driver
// that waits for answers before sending more (a closed loop) would send fewer
// requests during the stall and hide it (coordinated omission). Service time,
// measured from the actual send, is reported beside it: the difference is
// time spent waiting for a connection or for the driver's own timer, which
// Go's timers make up to about a millisecond at low rates.
//
// A run is invalid when the rate actually offered during the measured window
// falls short of the asked rate by more than a tolerance: its percentiles
// describe a lighter load than the one asked for. Latencies are recorded in
// HDR histograms (1 µs to 1 min, 3 significant digits); only answered
// requests with a 2xx status are recorded, other outcomes are counted by
// kind (http_404, http_503, timeout, conn_refused, ...).
//
// # Files
//
// A world directory holds world.json (the manifest), items.ndjson,
// events.ndjson and campaigns.ndjson (for loading), and recommend.ndjson,
// events-live.ndjson and bid.ndjson (one request body per line, for the
// driver). A run writes result.json and report.html, a self-contained page
// with inline SVG plots.
package bench
