package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// endpoint is a kind of request the driver knows how to send.
type endpoint struct {
	name, path, file string
	header           [][2]string
}

var endpoints = []endpoint{
	{name: "recommend", path: "/v1/recommend", file: RecommendFile},
	{name: "events", path: "/v1/events", file: LiveEventsFile},
	{name: "bid", path: "/openrtb2/bid", file: BidFile, header: [][2]string{{"X-Openrtb-Version", "2.6"}}},
}

func endpointByName(name string) (endpoint, bool) {
	for _, e := range endpoints {
		if e.name == name {
			return e, true
		}
	}
	return endpoint{}, false
}

// MixEntry is one endpoint of a mix and its weight.
type MixEntry struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// Mix is the share of each endpoint in a load test's requests.
type Mix []MixEntry

// DefaultMix is the standard scenario's mix.
const DefaultMix = "recommend=70,events=20,bid=10"

// ParseMix parses "recommend=70,events=20,bid=10": endpoint names (recommend,
// events, bid) with non-negative integer weights. Endpoints of weight 0 are
// left out; at least one weight must be positive.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for _, e := range splitList(s) {
		name, w := e.name, e.value
		if !e.named {
			w = "1"
		}
		if _, known := endpointByName(name); !known {
			return nil, fmt.Errorf("bench: mix: unknown endpoint %q (want recommend, events or bid)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("bench: mix: %s given twice", name)
		}
		seen[name] = true
		weight, err := strconv.Atoi(w)
		if err != nil || weight < 0 {
			return nil, fmt.Errorf("bench: mix: weight of %s must be a non-negative integer, got %q", name, w)
		}
		if weight > 0 {
			m = append(m, MixEntry{Name: name, Weight: weight})
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("bench: mix %q has no endpoint with a positive weight", s)
	}
	return m, nil
}

// String formats m as ParseMix takes it.
func (m Mix) String() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Name + "=" + strconv.Itoa(e.Weight)
	}
	return strings.Join(parts, ",")
}

// share returns the fraction of requests that go to entry i.
func (m Mix) share(i int) float64 {
	total := 0
	for _, e := range m {
		total += e.Weight
	}
	return float64(m[i].Weight) / float64(total)
}

// order returns one cycle of endpoint indexes in which entry i appears in
// proportion to its weight, spread evenly (smooth weighted round robin).
func (m Mix) order() []int {
	g := 0
	for _, e := range m {
		g = gcd(g, e.Weight)
	}
	total := 0
	for _, e := range m {
		total += e.Weight / g
	}
	current := make([]int, len(m))
	out := make([]int, total)
	for k := range out {
		best := 0
		for i, e := range m {
			current[i] += e.Weight / g
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		out[k] = best
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// listEntry is one entry of a comma-separated flag value: name=value, or a
// name alone.
type listEntry struct {
	name, value string
	named       bool // it had a value
}

// splitList splits "a=1, b = 2,c" into its entries, spaces trimmed and
// empty entries left out.
func splitList(s string) []listEntry {
	var out []listEntry
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, value, named := strings.Cut(part, "=")
		out = append(out, listEntry{name: strings.TrimSpace(name), value: strings.TrimSpace(value), named: named})
	}
	return out
}
