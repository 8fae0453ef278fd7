package main

import (
	"fmt"
	"strconv"
	"strings"
)

// memoryBudget is how a --memory-limit is shared out.
type memoryBudget struct {
	limit      int64 // the whole process, bytes
	goLimit    int64 // Go's soft limit: limit less what Pebble allocates outside Go's heap
	profiles   int64 // the profile cache
	blockCache int64 // Pebble's block cache and memtables
}

// gcPercentWithLimit is the collector's GOGC under --memory-limit, unless
// GOGC is set: the limit bounds the heap, so the heap may grow to four times
// what is live between collections rather than twice, and the collector runs
// less often. Fewer collections mean fewer stretches of the one core given
// to marking, which in the standard scenario are the longest waits left.
const gcPercentWithLimit = 400

// Shares of --memory-limit given to the caches; the rest is for the heap:
// the catalog, co-visitation, popularity, the decision log, the click
// models and the requests in flight.
const (
	profileShare    = 0.20
	blockCacheShare = 0.25
	// minBlockCache is the least block cache Pebble works well with: its
	// memtables (4 x 32 MiB in flight) are reserved out of it.
	minBlockCache = 192 << 20
)

// budgetFor shares limit out. A limit below 512 MiB is refused: it would
// leave the caches too small to serve from.
func budgetFor(limit int64) (memoryBudget, error) {
	if limit < 512<<20 {
		return memoryBudget{}, fmt.Errorf("--memory-limit %s is below 512MiB", formatBytes(limit))
	}
	b := memoryBudget{
		limit:      limit,
		profiles:   int64(profileShare * float64(limit)),
		blockCache: max(int64(blockCacheShare*float64(limit)), minBlockCache),
	}
	b.goLimit = b.limit
	if blockCacheOffHeap {
		b.goLimit -= b.blockCache
	}
	return b, nil
}

// parseBytes reads a size such as 2GiB, 512MiB, 1.5GB or 1073741824.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 2GiB, 512MiB or 1073741824", s)
	}
	return int64(v * mult), nil
}

// formatBytes writes n in MiB or GiB.
func formatBytes(n int64) string {
	if n >= 1<<30 {
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
	}
	return strconv.FormatInt(n>>20, 10) + "MiB"
}
