// Package synth generates a synthetic world for benchmarks and load tests:
// a product catalog, users with interests, the behavioural events those
// users produce, advertising campaigns, and the live requests of a load
// test (recommendation slots, visits, OpenRTB 2.6 bid requests), in the
// shapes the HTTP API accepts (POST /v1/items, /v1/events, /v1/campaigns,
// /v1/recommend and /openrtb2/bid). It is data only: it does no I/O beyond
// writing to the io.Writer it is given.
//
// # Determinism
//
// Everything is a pure function of [Options]: two Worlds built from equal
// Options hold identical catalogs, and their WriteItemsNDJSON and
// WriteEventsNDJSON outputs are byte-identical, run after run; so are
// campaign c ([World.Campaign]) and request k ([World.Recommend],
// [World.LiveEvents], [World.BidRequest]) for every c and k. Random
// numbers come from math/rand/v2 PCG sources seeded from Options.Seed; the
// package keeps no global state. The events of user u depend only on the
// Options and on u, so users can be generated independently, in any order
// or in parallel. A World is read-only after [New] returns and is safe for
// concurrent use.
//
// The guarantee holds for one version of this package built with one Go
// release on one architecture; changing the tables in this package, the
// generator code or the floating-point math library may change the data.
//
// # Catalog
//
// Categories form a fixed three-level tree (for example
// ["Sports", "Running", "Shoes"]); items are spread unevenly over its
// leaves, with more items in popular categories. Each item has an invented
// brand that sells in its top-level category, an English title built from
// the brand, adjectives and the leaf noun ("Trailvex Lightweight Running
// Shoes"), or about one time in ten a Chinese or Japanese title holding the
// leaf noun in CJK ("经典跑步鞋"), 1-4 lowercase tags, a log-normal price
// around a per-leaf median, and an availability flag (about 3% false).
// Popularity inside a leaf follows a Zipf law (s = 1.1) over a fixed,
// seed-dependent order of the leaf's items; see [World.PopularItem].
//
// # Users and events
//
// Each user prefers 1-3 leaves, biased toward the bigger ones, and has on
// average Options.SessionsPerUser sessions spread over Options.Days. A
// session starts with a search (60% of sessions), followed by 2-8 item
// views, 80% of them in a preferred leaf, some preceded by a click; about
// 15% of sessions put a viewed item in the cart and about 5% buy it.
// Events in a session are seconds to minutes apart.
//
// # Campaigns and requests
//
// Each campaign's advertiser is a brand of the catalog; it targets the
// categories (and sometimes the search keywords) of a leaf the brand sells
// in, and shows banners or, for about 30% of campaigns, sponsors the
// brand's items. Requests draw their users uniformly from the world, with
// about 5% users the world does not know; their pages and visits follow the
// user's interests. See each generator for the mix it draws.
package synth
