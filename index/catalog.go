package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/ident"
	"github.com/tailor-dev/tailor/internal/kv"
)

// Limits on the fields of an item.
const (
	MaxIDBytes       = 256
	MaxTitleBytes    = 1024
	MaxCategoryDepth = 8
	MaxTags          = 64
	MaxAttrsBytes    = 16 << 10
)

// Item is one catalog entry, as the API takes and returns it.
type Item struct {
	ID        string          `json:"id"`
	Title     string          `json:"title,omitempty"`
	Category  []string        `json:"category,omitempty"`
	Brand     string          `json:"brand,omitempty"`
	Tags      []string        `json:"tags,omitempty"`
	Price     float64         `json:"price"`
	Available *bool           `json:"available,omitempty"`
	Attrs     json.RawMessage `json:"attrs,omitempty"`
}

// IsAvailable reports whether the item may be recommended; absent means true.
func (it *Item) IsAvailable() bool { return it.Available == nil || *it.Available }

// FieldError names the field of an input that is wrong and why.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks an item's fields and returns a *FieldError for the first
// that is wrong.
func (it *Item) Validate() error {
	bad := func(field, msg string) error { return &FieldError{Field: field, Message: msg} }
	switch {
	case ident.Problem(it.ID) != "":
		return bad("id", ident.Problem(it.ID))
	case len(it.Title) > MaxTitleBytes:
		return bad("title", fmt.Sprintf("is longer than %d bytes", MaxTitleBytes))
	case !utf8.ValidString(it.Title):
		return bad("title", "is not valid UTF-8")
	case len(it.Category) > MaxCategoryDepth:
		return bad("category", fmt.Sprintf("is deeper than %d levels", MaxCategoryDepth))
	case len(it.Tags) > MaxTags:
		return bad("tags", fmt.Sprintf("has more than %d tags", MaxTags))
	case math.IsNaN(it.Price) || math.IsInf(it.Price, 0) || it.Price < 0:
		return bad("price", "must be a non-negative number")
	case len(it.Brand) > MaxTitleBytes:
		return bad("brand", fmt.Sprintf("is longer than %d bytes", MaxTitleBytes))
	case !utf8.ValidString(it.Brand):
		return bad("brand", "is not valid UTF-8")
	case len(it.Attrs) > MaxAttrsBytes:
		return bad("attrs", fmt.Sprintf("is larger than %d bytes", MaxAttrsBytes))
	}
	for i, c := range it.Category {
		if c == "" || len(c) > MaxTitleBytes || !utf8.ValidString(c) {
			return bad(fmt.Sprintf("category[%d]", i), "must be a non-empty UTF-8 name")
		}
	}
	for i, t := range it.Tags {
		if len(t) > MaxTitleBytes {
			return bad(fmt.Sprintf("tags[%d]", i), "is too long")
		}
		if !utf8.ValidString(t) {
			return bad(fmt.Sprintf("tags[%d]", i), "is not valid UTF-8")
		}
	}
	if len(it.Attrs) > 0 && it.Attrs[0] != '{' {
		return bad("attrs", "must be an object")
	}
	return nil
}

// Doc is an item as the index holds it, with the ids the ranker works with.
type Doc struct {
	Item       Item
	Ord        int32   // the item's dense ordinal
	Categories []int32 // the ids of every level of Item.Category, root first
	Brand      int32   // the brand's id, -1 when the item has none
	Available  bool
}

// Leaf returns the id of the item's deepest category, -1 when it has none.
func (d *Doc) Leaf() int32 {
	if len(d.Categories) == 0 {
		return -1
	}
	return d.Categories[len(d.Categories)-1]
}

// catalog maps item ids to ordinals and holds the documents. Ordinals are also
// given to ids seen only in events, so that co-visitation and popularity can
// count them before (or without) their catalog entry.
type catalog struct {
	mu     sync.RWMutex
	byID   map[string]int32
	ids    []string
	docs   []*Doc  // nil for ids without a catalog entry
	facts  []Facts // by ordinal, what ranking reads of docs; zero without an entry
	cats   map[string]int32
	catKey []string
	names  map[string]string   // category levels, brands and tags: one copy of each
	lists  map[uint64][]string // category paths and tag lists by hash: one copy of each
	seed   maphash.Seed
	brands map[string]int32
	live   int
	prices [][]float64 // by category id: prices of the items in it or below, sorted
	median []float64   // by category id: the median of prices, 0 when none
	items  [][]int32   // by category id: ordinals of the items in it or below, sorted
}

func newCatalog() *catalog {
	return &catalog{byID: map[string]int32{}, cats: map[string]int32{}, brands: map[string]int32{}, names: map[string]string{},
		lists: map[uint64][]string{}, seed: maphash.MakeSeed()}
}

// ordLocked returns the ordinal of id, assigning one when it is new.
func (c *catalog) ordLocked(id string) int32 {
	if o, ok := c.byID[id]; ok {
		return o
	}
	o := int32(len(c.ids))
	c.byID[id] = o
	c.ids = append(c.ids, id)
	c.docs = append(c.docs, nil)
	c.facts = append(c.facts, Facts{})
	return o
}

func (c *catalog) categoryLocked(key string) int32 {
	if id, ok := c.cats[key]; ok {
		return id
	}
	id := int32(len(c.catKey))
	c.cats[key] = id
	c.catKey = append(c.catKey, key)
	return id
}

func (c *catalog) brandLocked(name string) int32 {
	if name == "" {
		return -1
	}
	if id, ok := c.brands[name]; ok {
		return id
	}
	id := int32(len(c.brands))
	c.brands[name] = id
	return id
}

// The availability every document points to: one of these two.
var available, unavailable = true, false

// shareLocked makes it hold the catalog's copy of every name items repeat
// (category levels, brand, tags), of every category path and tag list items
// repeat, and of its availability: the catalog then keeps one object per
// distinct name and list, not one per item, which the collector would
// otherwise mark in every cycle.
func (c *catalog) shareLocked(it *Item) {
	it.Category = c.listLocked(it.Category)
	it.Tags = c.listLocked(it.Tags)
	it.Brand = c.nameLocked(it.Brand)
	if it.Available != nil {
		if *it.Available {
			it.Available = &available
		} else {
			it.Available = &unavailable
		}
	}
}

// listLocked returns the catalog's copy of the list of names, made of its
// copies of the names. Lists are filed by a hash of their names; a list
// whose hash another list already has gets its own copy.
func (c *catalog) listLocked(names []string) []string {
	if len(names) == 0 {
		return names
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, name := range names {
		maphash.WriteComparable(&h, len(name))
		h.WriteString(name)
	}
	key := h.Sum64()
	filed, taken := c.lists[key]
	if taken && slices.Equal(filed, names) {
		return filed
	}
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = c.nameLocked(name)
	}
	if !taken {
		c.lists[key] = out
	}
	return out
}

func (c *catalog) nameLocked(name string) string {
	if name == "" {
		return ""
	}
	if s, ok := c.names[name]; ok {
		return s
	}
	c.names[name] = name
	return name
}

// putLocked installs it and returns its new and previous documents.
func (c *catalog) putLocked(it Item) (doc, old *Doc) {
	c.shareLocked(&it)
	o := c.ordLocked(it.ID)
	doc = &Doc{Item: it, Ord: o, Brand: c.brandLocked(it.Brand), Available: it.IsAvailable()}
	key := ""
	for i, name := range it.Category {
		if i > 0 {
			key += "/"
		}
		key += name
		doc.Categories = append(doc.Categories, c.categoryLocked(key))
	}
	old = c.docs[o]
	c.docs[o] = doc
	c.facts[o] = factsOf(doc)
	if old == nil {
		c.live++
	} else {
		c.unpriceLocked(old)
	}
	c.priceLocked(doc)
	return doc, old
}

// priceLocked adds doc to the item and price lists of its categories.
func (c *catalog) priceLocked(doc *Doc) {
	for _, id := range doc.Categories {
		for int(id) >= len(c.items) {
			c.items = append(c.items, nil)
		}
		i, _ := slices.BinarySearch(c.items[id], doc.Ord)
		c.items[id] = slices.Insert(c.items[id], i, doc.Ord)
	}
	if doc.Item.Price <= 0 {
		return
	}
	for _, id := range doc.Categories {
		for int(id) >= len(c.prices) {
			c.prices = append(c.prices, nil)
		}
		i, _ := slices.BinarySearch(c.prices[id], doc.Item.Price)
		c.prices[id] = slices.Insert(c.prices[id], i, doc.Item.Price)
		c.setMedianLocked(id)
	}
}

// setMedianLocked keeps the median of category id's prices beside them, in
// a dense array that ranking reads for hundreds of items an answer and that
// stays in cache, where the prices' middle is a miss of its own.
func (c *catalog) setMedianLocked(id int32) {
	for int(id) >= len(c.median) {
		c.median = append(c.median, 0)
	}
	p := c.prices[id]
	switch n := len(p); {
	case n == 0:
		c.median[id] = 0
	case n%2 == 0:
		c.median[id] = (p[n/2-1] + p[n/2]) / 2
	default:
		c.median[id] = p[n/2]
	}
}

// medianLocked returns the median price of the priced items in category cat
// or below, 0 when it has none.
func (c *catalog) medianLocked(cat int32) float64 {
	if cat < 0 || int(cat) >= len(c.median) {
		return 0
	}
	return c.median[cat]
}

func (c *catalog) unpriceLocked(doc *Doc) {
	for _, id := range doc.Categories {
		if int(id) < len(c.items) {
			if i, ok := slices.BinarySearch(c.items[id], doc.Ord); ok {
				c.items[id] = slices.Delete(c.items[id], i, i+1)
			}
		}
	}
	if doc.Item.Price <= 0 {
		return
	}
	for _, id := range doc.Categories {
		if int(id) < len(c.prices) {
			if i, ok := slices.BinarySearch(c.prices[id], doc.Item.Price); ok {
				c.prices[id] = slices.Delete(c.prices[id], i, i+1)
				c.setMedianLocked(id)
			}
		}
	}
}

func (c *catalog) deleteLocked(id string) *Doc {
	o, ok := c.byID[id]
	if !ok || c.docs[o] == nil {
		return nil
	}
	old := c.docs[o]
	c.docs[o] = nil
	c.facts[o] = Facts{}
	c.live--
	c.unpriceLocked(old)
	return old
}

// ErrNotFound is returned for an item the catalog does not hold.
var ErrNotFound = errors.New("index: item not found")

func loadItems(db *pebble.DB, fn func(Item) error) error {
	prefix := []byte{kv.PrefixItem}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		var item Item
		if err := json.Unmarshal(v, &item); err != nil {
			return fmt.Errorf("index: corrupt item %q: %w", it.Key()[1:], err)
		}
		if err := fn(item); err != nil {
			return err
		}
	}
	return it.Error()
}

// List returns up to limit items of the stored catalog in id order, starting
// after the id cursor ("" for the first page), and whether more follow.
func (x *Index) List(cursor string, limit int) ([]Item, bool, error) {
	prefix := []byte{kv.PrefixItem}
	lower := prefix
	if cursor != "" {
		// The smallest key after the cursor's own.
		lower = append(kv.Key(kv.PrefixItem, cursor), 0)
	}
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	items := []Item{}
	for it.First(); it.Valid(); it.Next() {
		if len(items) == limit {
			return items, true, nil
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, false, err
		}
		var item Item
		if err := json.Unmarshal(v, &item); err != nil {
			return nil, false, fmt.Errorf("index: corrupt item %q: %w", it.Key()[1:], err)
		}
		items = append(items, item)
	}
	return items, false, it.Error()
}
