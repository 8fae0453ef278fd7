package bench

import (
	"slices"
	"testing"
)

func TestParseMix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mix
	}{
		{DefaultMix, Mix{{"recommend", 70}, {"events", 20}, {"bid", 10}}},
		{" recommend = 1 , bid=0 ", Mix{{"recommend", 1}}},
		{"events", Mix{{"events", 1}}},
	} {
		got, err := ParseMix(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseMix(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "bid=0", "search=1", "recommend=-1", "recommend=x", "bid=1,bid=2"} {
		if got, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) = %v, want an error", bad, got)
		}
	}
	m, _ := ParseMix(DefaultMix)
	if got := m.String(); got != DefaultMix {
		t.Errorf("String() = %q, want %q", got, DefaultMix)
	}
}

// The order gives each endpoint its share and spreads it evenly.
func TestMixOrder(t *testing.T) {
	m, _ := ParseMix(DefaultMix)
	order := m.order()
	if len(order) != 10 {
		t.Fatalf("order of 70/20/10: got %d entries, want 10", len(order))
	}
	counts := make([]int, len(m))
	for _, i := range order {
		counts[i]++
	}
	if !slices.Equal(counts, []int{7, 2, 1}) {
		t.Errorf("order of 70/20/10: got counts %v, want [7 2 1]", counts)
	}
	// No endpoint of share s waits more than about 1/s turns for its next.
	for i, e := range m {
		gap, longest := 0, 0
		for _, o := range append(order, order...) {
			if gap++; o == i {
				longest, gap = max(longest, gap), 0
			}
		}
		if limit := 10/(e.Weight/10) + 1; longest > limit {
			t.Errorf("%s: got a gap of %d turns, want at most %d", e.Name, longest, limit)
		}
	}
}
