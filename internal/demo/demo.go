// Package demo holds the small catalog and event set that `tailor serve --demo`
// loads into an empty data directory, so that a newcomer sees personalized
// answers at once.
package demo

import (
	_ "embed"
)

// ItemsJSON is the demo catalog, a JSON array as POST /v1/items takes it.
//
//go:embed items.json
var ItemsJSON []byte

// EventsJSON is the demo behaviour, a JSON array as POST /v1/events takes it
// (without timestamps: they are stamped when loaded).
//
//go:embed events.json
var EventsJSON []byte
