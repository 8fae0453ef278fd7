// Package openrtb is the bidder's side of OpenRTB 2.6, without the HTTP:
// checking a decoded bid request, turning it into the auction's plain values
// (package auction), deciding from its privacy signals (COPPA, TCF v2, US
// Privacy, GPP) whether the user's profile may be used, encoding the bid
// response with its creative markup, and the signed tokens of the win,
// billing and loss notice URLs.
//
// Nothing a request sends is reflected into a response but its id and imp
// ids, escaped. Request, reused across bid requests, holds every buffer the
// decoding and the encoding need.
package openrtb
