package learn

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// otherNodes holds the experiment counters of the other nodes of a cluster,
// as each last shared them: totals since each experiment began, merged
// field by field by their maximum, so a total read twice, or an older one
// read after a newer, changes nothing. They are stored in Pebble.
type otherNodes struct {
	mu    sync.Mutex
	nodes map[string]map[[2]string]ArmStats
}

var otherNodesKey = kv.Key(kv.PrefixMeta, "experiment-stats-of-nodes")

func loadOtherNodes(db *pebble.DB) (*otherNodes, error) {
	o := &otherNodes{nodes: map[string]map[[2]string]ArmStats{}}
	var stored map[string][]ArmStats
	if _, err := readJSON(db, otherNodesKey, "the other nodes' experiment statistics", &stored); err != nil {
		return nil, err
	}
	for node, list := range stored {
		o.mergeLocked(node, list)
	}
	return o, nil
}

func (o *otherNodes) mergeLocked(node string, list []ArmStats) {
	m := o.nodes[node]
	if m == nil {
		m = map[[2]string]ArmStats{}
		o.nodes[node] = m
	}
	for _, s := range list {
		k := [2]string{s.Experiment, s.Arm}
		old := m[k]
		m[k] = ArmStats{Experiment: s.Experiment, Arm: s.Arm, Decisions: max(old.Decisions, s.Decisions),
			Impressions: max(old.Impressions, s.Impressions), Clicks: max(old.Clicks, s.Clicks),
			Conversions: max(old.Conversions, s.Conversions), Revenue: math.Max(old.Revenue, s.Revenue)}
	}
}

// addTo adds every other node's counters to list (this node's), keeping it
// sorted by experiment and arm.
func (o *otherNodes) addTo(list []ArmStats) []ArmStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.nodes) == 0 {
		return list
	}
	at := make(map[[2]string]int, len(list))
	for i, s := range list {
		at[[2]string{s.Experiment, s.Arm}] = i
	}
	for _, m := range o.nodes {
		for k, s := range m {
			i, ok := at[k]
			if !ok {
				i = len(list)
				at[k] = i
				list = append(list, ArmStats{Experiment: s.Experiment, Arm: s.Arm})
			}
			t := &list[i]
			t.Decisions += s.Decisions
			t.Impressions += s.Impressions
			t.Clicks += s.Clicks
			t.Conversions += s.Conversions
			t.Revenue += s.Revenue
		}
	}
	slices.SortFunc(list, func(a, b ArmStats) int {
		if c := strings.Compare(a.Experiment, b.Experiment); c != 0 {
			return c
		}
		return strings.Compare(a.Arm, b.Arm)
	})
	return list
}

// OwnStats returns this node's own experiment counters, for a cluster node
// to share with the others (see MergeStats).
func (l *Learner) OwnStats() []ArmStats { return l.stats.list() }

// MergeStats takes in the experiment counters another node of a cluster
// shared (its OwnStats): from then on, Experiments and Report count them
// with this node's own. Counters are totals, merged by their maximum, so
// merging the same or an older sharing again changes nothing. They are
// stored, and so kept across restarts.
func (l *Learner) MergeStats(node string, stats []ArmStats) error {
	l.others.mu.Lock()
	defer l.others.mu.Unlock()
	l.others.mergeLocked(node, stats)
	stored := make(map[string][]ArmStats, len(l.others.nodes))
	for n, m := range l.others.nodes {
		list := make([]ArmStats, 0, len(m))
		for _, s := range m {
			list = append(list, s)
		}
		stored[n] = list
	}
	b, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	if err := l.db.Set(otherNodesKey, b, pebble.NoSync); err != nil {
		return fmt.Errorf("learn: cannot store the other nodes' experiment statistics: %w", err)
	}
	return nil
}
