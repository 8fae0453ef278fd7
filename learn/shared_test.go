package learn

import (
	"slices"
	"testing"
)

// TestOtherNodesMergeByMaximum: a node's shared totals replace older ones
// field by field, an older sharing read late changes nothing, and the
// cluster's counters are this node's plus each other node's.
func TestOtherNodesMergeByMaximum(t *testing.T) {
	o := &otherNodes{nodes: map[string]map[[2]string]ArmStats{}}
	st := func(arm string, dec, imp, clk uint64, rev float64) ArmStats {
		return ArmStats{Experiment: "e", Arm: arm, Decisions: dec, Impressions: imp, Clicks: clk, Revenue: rev}
	}
	o.mergeLocked("b", []ArmStats{st("x", 10, 50, 5, 1.5)})
	o.mergeLocked("b", []ArmStats{st("x", 12, 60, 6, 2)})
	o.mergeLocked("b", []ArmStats{st("x", 10, 50, 5, 1.5)}) // read again, late
	o.mergeLocked("c", []ArmStats{st("x", 1, 2, 1, 0), st("y", 3, 4, 0, 0)})
	got := o.addTo([]ArmStats{st("x", 100, 200, 20, 10)})
	want := []ArmStats{st("x", 113, 262, 27, 12), st("y", 3, 4, 0, 0)}
	if !slices.Equal(got, want) {
		t.Errorf("cluster counters = %+v, want %+v", got, want)
	}
}
