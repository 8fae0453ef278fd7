package index

import (
	"slices"
	"strings"
)

// Tags that mark an item as a value offer or as service-rich, the two ends of
// price-band personalization. Tags compare without regard to case.
var (
	DealTags    = []string{"deal", "sale", "discount", "clearance", "value", "budget", "offer"}
	ServiceTags = []string{"premium", "warranty", "service", "installation", "concierge", "luxury"}
)

// Facts is what ranking reads of an item. The catalog keeps them in a dense
// array by ordinal, so that scoring hundreds of candidates touches one cache
// line each instead of chasing a document, its category slice and its tags.
type Facts struct {
	Doc        *Doc                    // nil when the ordinal has no catalog entry
	Cats       [MaxCategoryDepth]int32 // the category path's ids, root first: Depth of them
	Depth      uint8
	Available  bool
	Deal       bool // tagged as a value offer (DealTags)
	Service    bool // tagged as service-rich (ServiceTags)
	Brand      int32
	Price      float64
	PriceRatio float64 // Price over its leaf category's median price; 0 when either is unknown (filled by Describe)
}

// Path returns the item's category ids, root first.
func (f *Facts) Path() []int32 { return f.Cats[:f.Depth] }

// Leaf returns the id of the item's deepest category, -1 when it has none.
func (f *Facts) Leaf() int32 {
	if f.Depth == 0 {
		return -1
	}
	return f.Cats[f.Depth-1]
}

// In reports whether the item is in category cat or below it.
func (f *Facts) In(cat int32) bool { return slices.Contains(f.Path(), cat) }

// factsOf derives the facts of a document.
func factsOf(d *Doc) Facts {
	f := Facts{Doc: d, Available: d.Available, Brand: d.Brand, Price: d.Item.Price}
	f.Depth = uint8(copy(f.Cats[:], d.Categories))
	for _, t := range d.Item.Tags {
		is := func(class string) bool { return strings.EqualFold(class, t) }
		f.Deal = f.Deal || slices.ContainsFunc(DealTags, is)
		f.Service = f.Service || slices.ContainsFunc(ServiceTags, is)
	}
	return f
}

// Describe appends to dst the facts of every ordinal in ords, in order, under
// one read lock; an ordinal without a catalog entry gets zero facts (nil Doc).
func (x *Index) Describe(ords []int32, dst []Facts) []Facts {
	c := x.cat
	c.mu.RLock()
	defer c.mu.RUnlock()
	// Two passes: the copies' loads, each a miss at a random place in the
	// facts, do not wait on one another, so the processor overlaps them;
	// the ratios then read the copies and the medians, both in cache.
	at := len(dst)
	for _, o := range ords {
		if o < 0 || int(o) >= len(c.facts) {
			dst = append(dst, Facts{})
			continue
		}
		dst = append(dst, c.facts[o])
	}
	for i := range dst[at:] {
		f := &dst[at+i]
		if leaf := f.Leaf(); leaf >= 0 && f.Price > 0 {
			if med := c.medianLocked(leaf); med > 0 {
				f.PriceRatio = f.Price / med
			}
		}
	}
	return dst
}

// Popularities appends to dst the decayed popularity of every ordinal in ords
// as of now, in order, under one read lock.
func (x *Index) Popularities(ords []int32, now int64, dst []float64) []float64 {
	return x.pop.getAll(ords, now, dst)
}
