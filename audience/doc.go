// Package audience defines named groups of users by boolean expressions over
// their segments, indicators, interests and attributes, for example
//
//	lifecycle = at_risk AND interest("Baby/Formula") > 0.3 AND tier >= 2
//
// Expressions are parsed once into a tree and evaluated against a Subject (a
// profile with its indicators and RFM scores) without allocating. Definitions
// are stored in Pebble and kept in memory; membership is computed, never
// stored, so an audience always reflects the latest profiles and segments.
package audience
