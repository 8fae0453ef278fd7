// Package model is tailor's online click model: logistic regression over
// hashed features, learned one label at a time with FTRL-Proximal (McMahan et
// al. 2013, "Ad Click Prediction: a View from the Trenches"): per-coordinate
// learning rates, L1 regularization that keeps most weights at exactly zero,
// and L2.
//
// # Features
//
// A feature is a hashed key and a value ([Feature]). Keys are built with
// [Hash]: a namespace, then the strings and numbers that name the feature,
// and Cross for conjunctions ("the user's strongest category is Books and the
// item is in Books/Crime"). Hashing is FNV-1a with a fixed seed, so keys are
// the same in every process and a snapshot stays valid across restarts.
// Collisions are accepted, as in every hashed model; the hash space is
// [Options.Bits] wide.
//
// Predictions start from the log-odds of the click rate seen so far (with
// half a click of prior), and the weights learn how an example differs from
// it: a new model predicts the base rate rather than 50%, and the bias does
// not have to crawl to the rare-click regime one small step at a time.
//
// # Learning and serving
//
// [Model.Learn] stores labels durably (one synced Pebble batch), then folds
// them into the learner under a mutex. Serving never touches the learner: it
// reads an immutable [Snapshot] of the weights that the model publishes every
// [Options.PublishEvery] labels or [Options.PublishInterval], swapped with an
// atomic pointer. Snapshot.Logit and Model.Update allocate nothing.
//
// A model is cold until it has learned from [Options.MinLabels] labels with
// at least [Options.MinClicks] clicks among them; Snapshot.Warm reports it,
// and callers fall back to their hand-set scores while it is cold.
//
// # Durability
//
// The learner's state (the z and n of every touched coordinate) is
// checkpointed to Pebble every [Options.CheckpointInterval] and on Close,
// with a version that grows with every publish. Labels are kept under
// sequence numbers, and Open loads the last checkpoint and then replays the
// labels stored after it, so an acknowledged label is never lost by a crash,
// only learned again. A checkpoint made with another hash width is ignored
// and the model retrains from the labels still kept ([Options.KeepLabels]).
package model
