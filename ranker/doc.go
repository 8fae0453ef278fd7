// Package ranker turns a user's profile and a request's context into a ranked,
// diversified and explained list of items.
//
// Candidates come from several sources: neighbours of the user's recent items,
// matches of recent searches, popular items of the user's strongest categories,
// the request's context item, query and category, and trending items. Each is
// scored by a linear function of named features, filtered (purchased,
// unavailable, excluded), capped per leaf category and explained with the
// reasons that contributed most.
//
// The ranker does no I/O. Given the same profile, index state, request and
// time it returns the same answer. Rank allocates nothing in steady state: its
// scratch space is pooled and the Result is reused by the caller.
package ranker
