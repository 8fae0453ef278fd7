package ranker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kv"
)

// newTestIndex opens an empty index on a Pebble database in a temporary
// directory.
func newTestIndex(t testing.TB) *index.Index {
	t.Helper()
	db, err := kv.Open(t.TempDir(), kv.Options{CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	idx, err := index.New(db, index.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestContextItemInANewShop asks for an anonymous visitor's slot on an item
// page of a shop nobody has browsed yet: no co-visitation, no popularity.
// The slot still holds the other items of the page item's leaf category.
func TestContextItemInANewShop(t *testing.T) {
	idx := newTestIndex(t)
	var items []index.Item
	for i := range 12 {
		items = append(items, index.Item{ID: fmt.Sprintf("i%02d", i), Title: fmt.Sprintf("Item %d", i),
			Category: []string{"Root", fmt.Sprintf("Leaf%d", i%3)}, Price: 10})
	}
	if err := idx.Upsert(items); err != nil {
		t.Fatal(err)
	}
	r := New(idx, Options{})
	req := Request{N: 5, ContextItem: "i01", Now: 1000}
	var res Result
	r.Rank(&req, &res)
	if len(res.Items) != 3 {
		t.Fatalf("slot of %d items, want the 3 other items of Leaf1", len(res.Items))
	}
	for _, it := range res.Items {
		if it.Doc.Item.ID == "i01" || !strings.HasSuffix(strings.Join(it.Doc.Item.Category, "/"), "Leaf1") {
			t.Errorf("slot holds %s of %v, want the page item's leaf Leaf1 without the item itself", it.Doc.Item.ID, it.Doc.Item.Category)
		}
		if it.NReasons == 0 || it.Reasons[0].Code != ContextItem {
			t.Errorf("%s reasons %v, want context_item", it.Doc.Item.ID, it.Reasons[:it.NReasons])
		}
	}
}
