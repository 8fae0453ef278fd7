// Package eval measures recommendation and click-model quality offline, on
// logs of what real users did.
//
// Replay feeds an interaction log to tailor in time order, in process, on a
// temporary data directory: the same ingest and recommend code a deployment
// runs (service.Open with a clock set to each event's time). At every
// next-item event it first asks each recommender for its top K for that
// user, and only then reveals the event to all of them, so no recommender
// ever sees an event before it is scored on it. tailor is measured next to
// baselines run in the same harness on the same events (Baselines, with
// their parameters and tuning grids): popularity, all time and halving
// every 48 hours; co-visitation; Sequential Rules (sr), item-kNN (iknn),
// V-SKNN and STAN, the session-based methods compared by Ludewig, Latifi and
// Jannach (2019) and Garg et al. (2019); and implicit-feedback matrix
// factorization by alternating least squares (als), retrained as the replay
// goes. Every baseline is given what tailor is given: the user's latest
// items across sessions as context, the items of one moment (a basket)
// tied rather than ordered by line, the same seen-item rule, and a list
// completed to K with the items most popular under the same 48-hour
// half-life as tailor's trending. It reports HR@K, MRR@K, NDCG@10, catalog
// coverage and latency, as a table, JSON and an SVG plot of HR@k and NDCG@k
// against k.
//
// Clicks measures a click model on a click log by progressive validation
// (each example is predicted before it is learned from): log loss and AUC
// against a base-rate predictor, with bootstrap intervals, and calibration
// error where the true click probabilities are known.
package eval
