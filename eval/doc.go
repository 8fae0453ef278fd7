// Package eval measures recommendation and click-model quality offline, on
// logs of what real users did.
//
// Replay feeds an interaction log to tailor in time order, in process, on a
// temporary data directory: the same ingest and recommend code a deployment
// runs (service.Open with a clock set to each event's time). At every
// next-item event it first asks each recommender for its top K for that
// user, and only then reveals the event to all of them, so no recommender
// ever sees an event before it is scored on it. tailor is measured next to
// baselines run in the same harness on the same events: global popularity,
// last-item co-visitation and V-SKNN, the session-based nearest neighbours
// of Ludewig and Jannach (2018). It reports HR@K, MRR@K, NDCG@10, catalog
// coverage and latency, as a table, JSON and an SVG plot of HR@k and NDCG@k
// against k.
//
// Clicks measures a click model on a click log by progressive validation
// (each example is predicted before it is learned from): log loss and AUC
// against a base-rate predictor, with bootstrap intervals, and calibration
// error where the true click probabilities are known.
package eval
