package features

import (
	"fmt"
	"testing"
	"time"
)

// TestSegmentGridAndStages segments a small base whose answer is worked out
// by hand: two prospects (no purchase), and five buyers of one order each at
// 1, 10, 50, 70 and 100 days ago. Every buyer has the same frequency (F 1)
// and recency splits them one to a quintile, so the R x F grid holds one
// buyer in each R row of the F 1 column; their stages follow the 60- and
// 90-day thresholds.
func TestSegmentGridAndStages(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	day := int64(24 * time.Hour / time.Millisecond)
	mustApply(t, s, Event{User: "p1", Type: View, Item: "x", TS: now - day}, Event{User: "p2", Type: View, Item: "y", TS: now - day})
	for i, ago := range []int64{1, 10, 50, 70, 100} {
		mustApply(t, s, Event{User: fmt.Sprintf("b%d", i), Type: Purchase, Item: "z", Amount: 10, Session: "s", TS: now - ago*day})
	}
	g, err := s.Segment(now, Rules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Profiles != 7 || g.Purchasers != 5 {
		t.Fatalf("profiles %d, purchasers %d; want 7 and 5", g.Profiles, g.Purchasers)
	}
	total := 0
	for r := range 5 {
		for f := range 5 {
			total += g.RFGrid[r][f]
		}
		if g.RFGrid[r][0] != 1 {
			t.Errorf("RFGrid[R%d][F1] = %d, want 1 (grid %v)", r+1, g.RFGrid[r][0], g.RFGrid)
		}
	}
	if total != 5 {
		t.Errorf("the grid holds %d buyers, want 5", total)
	}
	want := map[string]int{StageProspect: 2, StageNew: 2, StageActive: 1, StageAtRisk: 1, StageLapsed: 1}
	for stage, n := range want {
		if g.Lifecycle[stage] != n {
			t.Errorf("Lifecycle[%s] = %d, want %d (all %v)", stage, g.Lifecycle[stage], n, g.Lifecycle)
		}
	}
}
