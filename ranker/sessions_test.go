package ranker

import (
	"fmt"
	"testing"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
)

// TestSimilarSessionsSource: another user's session held the item this
// user just viewed, with two more; those two lead the user's slot, said to
// come from similar sessions, ahead of the catalog's other items, and the
// source switched off leaves them without that reason.
func TestSimilarSessionsSource(t *testing.T) {
	idx := newTestIndex(t)
	var items []index.Item
	for i := range 8 {
		items = append(items, index.Item{ID: fmt.Sprintf("i%d", i), Title: fmt.Sprintf("Item %d", i), Category: []string{"Root"}, Price: 10})
	}
	if err := idx.Upsert(items); err != nil {
		t.Fatal(err)
	}
	const now = int64(1_760_000_000_000)
	// Every item is as popular as the others; i5 and i6 were in a session
	// with i1. No co-visitation is counted (no Before).
	for i := range 8 {
		idx.Observe(index.Observation{User: fmt.Sprint("shopper", i), Item: fmt.Sprintf("i%d", i), Weight: 1, TS: now - 1000})
	}
	for _, id := range []string{"i5", "i6"} {
		idx.Observe(index.Observation{User: "shopper1", Item: id, Weight: 0, TS: now - 1000})
	}
	p := &features.Profile{User: "u", Recent: []features.Action{{Type: features.View, Target: "i1", TS: now - 500}}}

	var res Result
	New(idx, Options{}).Rank(&Request{Profile: p, N: 4, Now: now}, &res)
	if len(res.Items) < 2 {
		t.Fatalf("slot of %d items", len(res.Items))
	}
	for k, want := range []string{"i5", "i6"} {
		it := res.Items[k]
		if it.Doc.Item.ID != want || it.NReasons == 0 || it.Reasons[0].Code != SimilarSessions {
			t.Errorf("item %d = %s with reasons %v, want %s from similar sessions", k, it.Doc.Item.ID, it.Reasons[:it.NReasons], want)
		}
	}
	New(idx, Options{Sources: AllSources &^ SourceSessions}).Rank(&Request{Profile: p, N: 4, Now: now}, &res)
	for _, it := range res.Items {
		for _, r := range it.Reasons[:it.NReasons] {
			if r.Code == SimilarSessions {
				t.Errorf("%s is said to come from similar sessions with the source off", it.Doc.Item.ID)
			}
		}
	}
}
