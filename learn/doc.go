// Package learn closes the loop between recommendations and what users do
// with them: every recommend answer is logged as a decision named by a
// RecID; impressions and clicks that carry it, and purchases of items it
// showed, are attributed to it within an attribution window; shown items
// then become labels (clicked or not, with the features they were ranked
// with and their position) that the online click model (package model)
// learns from; and users are split into experiment arms, each ranking with
// its own settings, with counters and confidence intervals per arm.
//
// Durability: labels and the click models are stored in Pebble by package
// model; the experiments' configuration is stored with a synced commit and
// their counters as labels are flushed and at Close. Decisions awaiting
// their labels live in memory: a restart forgets the open ones, and
// impressions and clicks naming them count as late.
//
// Assignment is a pure function of the user id and the configuration, so a
// user keeps their arm across requests and restarts. Record and Arm are on
// the recommend path: they take one short lock and allocate nothing once the
// decision log is full.
package learn
