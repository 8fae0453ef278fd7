package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

func openDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatalf("kv.Open(%q) error = %v, want nil", dir, err)
	}
	return db
}

// newTestIndex returns an index over a new database in a temporary directory,
// closed when the test ends.
func newTestIndex(t testing.TB, opts Options) *Index {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	x, err := New(db, opts, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	return x
}

func mustUpsert(t testing.TB, x *Index, items ...Item) {
	t.Helper()
	if err := x.Upsert(items); err != nil {
		t.Fatalf("Upsert(%d items) error = %v, want nil", len(items), err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	ok := func() Item {
		return Item{ID: "i1", Title: "Trail shoes", Category: []string{"Sports", "Running"}, Brand: "Acme",
			Tags: []string{"trail"}, Price: 59.9, Attrs: json.RawMessage(`{"color":"red"}`)}
	}
	tests := []struct {
		name  string
		edit  func(*Item)
		field string // "" when valid
	}{
		{"valid", func(*Item) {}, ""},
		{"minimal", func(it *Item) { *it = Item{ID: "x"} }, ""},
		{"id of 256 bytes", func(it *Item) { it.ID = strings.Repeat("a", 256) }, ""},
		{"unicode id", func(it *Item) { it.ID = "商品-🙂" }, ""},
		{"zero price", func(it *Item) { it.Price = 0 }, ""},
		{"64 tags", func(it *Item) { it.Tags = make([]string, 64) }, ""},
		{"8 category levels", func(it *Item) { it.Category = strings.Split("a/b/c/d/e/f/g/h", "/") }, ""},
		{"empty id", func(it *Item) { it.ID = "" }, "id"},
		{"id of 257 bytes", func(it *Item) { it.ID = strings.Repeat("a", 257) }, "id"},
		{"invalid UTF-8 id", func(it *Item) { it.ID = "a\xffb" }, "id"},
		{"long title", func(it *Item) { it.Title = strings.Repeat("t", MaxTitleBytes+1) }, "title"},
		{"negative price", func(it *Item) { it.Price = -0.01 }, "price"},
		{"NaN price", func(it *Item) { it.Price = math.NaN() }, "price"},
		{"infinite price", func(it *Item) { it.Price = math.Inf(1) }, "price"},
		{"empty category name", func(it *Item) { it.Category = []string{"Sports", ""} }, "category[1]"},
		{"long category name", func(it *Item) { it.Category = []string{strings.Repeat("c", MaxTitleBytes+1)} }, "category[0]"},
		{"9 category levels", func(it *Item) { it.Category = strings.Split("a/b/c/d/e/f/g/h/i", "/") }, "category"},
		{"long brand", func(it *Item) { it.Brand = strings.Repeat("b", MaxTitleBytes+1) }, "brand"},
		{"too many tags", func(it *Item) { it.Tags = make([]string, MaxTags+1) }, "tags"},
		{"long tag", func(it *Item) { it.Tags = []string{"ok", strings.Repeat("t", MaxTitleBytes+1)} }, "tags[1]"},
		{"invalid UTF-8 title", func(it *Item) { it.Title = "caf\xe9" }, "title"},
		{"invalid UTF-8 brand", func(it *Item) { it.Brand = "\xc3" }, "brand"},
		{"invalid UTF-8 category", func(it *Item) { it.Category = []string{"ok", "\xff"} }, "category[1]"},
		{"invalid UTF-8 tag", func(it *Item) { it.Tags = []string{"\xed\xa0\x80"} }, "tags[0]"},
		{"attrs array", func(it *Item) { it.Attrs = json.RawMessage(`[1,2]`) }, "attrs"},
		{"attrs null", func(it *Item) { it.Attrs = json.RawMessage(`null`) }, "attrs"},
		{"attrs string", func(it *Item) { it.Attrs = json.RawMessage(`"x"`) }, "attrs"},
		{"attrs too large", func(it *Item) {
			it.Attrs = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxAttrsBytes) + `"}`)
		}, "attrs"},
	}
	for _, tt := range tests {
		it := ok()
		tt.edit(&it)
		err := it.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want nil", tt.name, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Validate(%s) = %v, want a *FieldError for %q", tt.name, err, tt.field)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.field+": ") || fe.Message == "" {
			t.Errorf("Validate(%s).Error() = %q, want %q and a message", tt.name, err.Error(), tt.field+": ...")
		}
	}
}

func TestIsAvailable(t *testing.T) {
	tests := []struct {
		avail *bool
		want  bool
	}{{nil, true}, {ptr(true), true}, {ptr(false), false}}
	for _, tt := range tests {
		it := Item{ID: "i", Available: tt.avail}
		if got := it.IsAvailable(); got != tt.want {
			t.Errorf("IsAvailable(%v) = %v, want %v", tt.avail, got, tt.want)
		}
	}
}

func catalogItems() []Item {
	return []Item{
		{ID: "shoe", Title: "Trail Running Shoes", Category: []string{"Sports", "Running"}, Brand: "Acme",
			Tags: []string{"trail", "waterproof"}, Price: 89.5, Attrs: json.RawMessage(`{"size":[42,43]}`)},
		{ID: "锅-1", Title: "不粘炒锅 28cm", Category: []string{"厨房", "锅具"}, Brand: "苏泊尔", Price: 199},
		{ID: "lamp", Title: "Vintage desk lamp", Category: []string{"Home"}, Price: 0, Available: ptr(false)},
		{ID: "bare"},
	}
}

func TestUpsertPersists(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	x, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	items := catalogItems()
	mustUpsert(t, x, items...)
	// A second upsert of the same id replaces the first.
	changed := items[3]
	changed.Title = "Bare item, renamed"
	changed.Price = 3
	mustUpsert(t, x, changed)
	items[3] = changed
	want := make(map[string]Item)
	for _, it := range items {
		if it.Available == nil {
			it.Available = ptr(true)
		}
		want[it.ID] = it
	}
	check := func(x *Index, when string) {
		t.Helper()
		if got := x.Len(); got != len(want) {
			t.Errorf("Len() %s = %d, want %d", when, got, len(want))
		}
		for id, it := range want {
			d, ok := x.Get(id)
			if !ok {
				t.Errorf("Get(%q) %s = not found, want the item", id, when)
				continue
			}
			if !reflect.DeepEqual(d.Item, it) {
				t.Errorf("Get(%q) %s = %+v, want %+v", id, when, d.Item, it)
			}
			if d.Available != it.IsAvailable() || x.Doc(d.Ord) != d {
				t.Errorf("Get(%q) %s: Available = %v, Doc(%d) = %p, want %v, %p", id, when, d.Available, d.Ord, x.Doc(d.Ord), it.IsAvailable(), d)
			}
			if len(d.Categories) != len(it.Category) {
				t.Errorf("Get(%q) %s: Categories = %v, want one id per level of %q", id, when, d.Categories, it.Category)
			}
			for i, c := range d.Categories {
				if key, want := x.CategoryKey(c), strings.Join(it.Category[:i+1], "/"); key != want {
					t.Errorf("CategoryKey(%d) %s = %q, want %q", c, when, key, want)
				}
			}
			if it.Brand == "" && d.Brand != -1 {
				t.Errorf("Get(%q) %s: Brand = %d, want -1", id, when, d.Brand)
			}
			if it.Brand != "" {
				if b, ok := x.BrandID(it.Brand); !ok || b != d.Brand {
					t.Errorf("BrandID(%q) %s = %d, %v, want %d, true", it.Brand, when, b, ok, d.Brand)
				}
			}
		}
		if hits := x.Search(AppendTerms(nil, "trail shoes"), 10, nil); len(hits) != 1 || x.Doc(hits[0].Ord).Item.ID != "shoe" {
			t.Errorf("Search(%q) %s = %v, want the shoe", "trail shoes", when, hits)
		}
	}
	check(x, "before reopening")
	if err := db.Close(); err != nil {
		t.Fatalf("Close() error = %v, want nil", err)
	}

	db = openDB(t, dir)
	defer db.Close()
	x, err = New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() after reopening error = %v, want nil", err)
	}
	check(x, "after reopening")
	if got := x.Brands(); got != 2 {
		t.Errorf("Brands() after reopening = %d, want 2", got)
	}
	if got := x.Categories(); got != 5 {
		t.Errorf("Categories() after reopening = %d, want 5", got)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	x, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	mustUpsert(t, x, catalogItems()...)
	d, _ := x.Get("shoe")
	if err := x.Delete("shoe"); err != nil {
		t.Fatalf("Delete(%q) error = %v, want nil", "shoe", err)
	}
	if got, ok := x.Get("shoe"); ok {
		t.Errorf("Get(%q) after Delete = %+v, want not found", "shoe", got)
	}
	if got := x.Doc(d.Ord); got != nil {
		t.Errorf("Doc(%d) after Delete = %+v, want nil", d.Ord, got)
	}
	if hits := x.Search([]string{"trail"}, 10, nil); len(hits) != 0 {
		t.Errorf("Search(%q) after Delete = %v, want nothing", "trail", hits)
	}
	if got := x.Len(); got != 3 {
		t.Errorf("Len() after Delete = %d, want 3", got)
	}
	for _, id := range []string{"shoe", "unknown", ""} {
		if err := x.Delete(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
	}
	// Observed but never in the catalog: still not found.
	x.Observe(Observation{Item: "ghost", Weight: 1, TS: 1})
	if err := x.Delete("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(%q) = %v, want ErrNotFound", "ghost", err)
	}
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	x, err = New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() after reopening error = %v, want nil", err)
	}
	if got, ok := x.Get("shoe"); ok {
		t.Errorf("Get(%q) after Delete and reopening = %+v, want not found", "shoe", got)
	}
	if got := x.Len(); got != 3 {
		t.Errorf("Len() after Delete and reopening = %d, want 3", got)
	}
	// A deleted item can come back, searchable again.
	mustUpsert(t, x, catalogItems()[0])
	if hits := x.Search([]string{"trail"}, 10, nil); len(hits) != 1 {
		t.Errorf("Search(%q) after re-adding = %v, want the shoe", "trail", hits)
	}
}

func TestUpsertInvalidBatch(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	x, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	f := func(bad Item, field string) {
		t.Helper()
		items := []Item{{ID: "a", Title: "alpha"}, bad, {ID: "c", Title: "gamma"}}
		err := x.Upsert(items)
		var ie *ItemError
		if !errors.As(err, &ie) || ie.Index != 1 {
			t.Errorf("Upsert(valid, %+v, valid) = %v, want an *ItemError for item 1", bad, err)
			return
		}
		var fe *FieldError
		if field != "" && (!errors.As(err, &fe) || fe.Field != field) {
			t.Errorf("Upsert(valid, %+v, valid) = %v, want a *FieldError for %q", bad, err, field)
		}
		for _, id := range []string{"a", bad.ID, "c"} {
			if d, ok := x.Get(id); ok {
				t.Errorf("Get(%q) after a failed Upsert = %+v, want not found", id, d)
			}
		}
		if hits := x.Search([]string{"alpha", "gamma"}, 10, nil); len(hits) != 0 {
			t.Errorf("Search(alpha gamma) after a failed Upsert = %v, want nothing", hits)
		}
	}
	f(Item{ID: "b", Price: -1}, "price")
	f(Item{ID: ""}, "id")
	f(Item{ID: "b", Attrs: json.RawMessage(`{"unterminated":`)}, "") // passes Validate, fails to encode
	if got := x.Len(); got != 0 {
		t.Errorf("Len() after failed upserts = %d, want 0", got)
	}
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	x, err = New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() after reopening error = %v, want nil", err)
	}
	if got := x.Len(); got != 0 {
		t.Errorf("Len() after failed upserts and reopening = %d, want 0", got)
	}
}

func TestNewCorruptItem(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	if err := db.Set(kv.Key(kv.PrefixItem, "bad"), []byte("{not json"), pebble.Sync); err != nil {
		t.Fatalf("Set() error = %v, want nil", err)
	}
	if x, err := New(db, Options{}, nil); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("New() over a corrupt item = %v, %v, want an error naming the item", x, err)
	}
}

// FuzzItemJSON checks the catalog's persisted form: an item that validates is
// stored as JSON, and what New decodes from it must be the item that was
// installed in memory, or the catalog would change across a restart.
func FuzzItemJSON(f *testing.F) {
	f.Add("shoe", "Trail Running Shoes", "Sports", "Acme", "trail", 89.5, []byte(`{"size":[42,43]}`))
	f.Add("锅-1", "不粘炒锅 28cm", "厨房", "苏泊尔", "", 0.0, []byte(nil))
	f.Add("x", "a\xffb", "c", "d", "e", 1.0, []byte(`{}`))
	f.Add("x", "<b>&amp;</b>", "c\x00", "\u2028", "\xc3", 1e300, []byte(`{"a": "<b>"}`))
	f.Fuzz(func(t *testing.T, id, title, cat, brand, tag string, price float64, attrs []byte) {
		it := Item{ID: id, Title: title, Brand: brand, Price: price, Available: ptr(true)}
		if cat != "" {
			it.Category = []string{cat}
		}
		if tag != "" {
			it.Tags = []string{tag}
		}
		if len(attrs) > 0 {
			it.Attrs = attrs
		}
		if it.Validate() != nil {
			return
		}
		v, err := json.Marshal(&it)
		if err != nil {
			return // Upsert refuses the item with an *ItemError
		}
		var got Item
		if err := json.Unmarshal(v, &got); err != nil {
			t.Fatalf("json.Unmarshal(%q) error = %v, want nil", v, err)
		}
		// Attrs are compacted when stored; compare them by meaning.
		if len(it.Attrs) > 0 {
			var a, b any
			if json.Unmarshal(it.Attrs, &a) != nil || json.Unmarshal(got.Attrs, &b) != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("stored attrs = %s, want %s", got.Attrs, it.Attrs)
			}
		}
		got.Attrs, it.Attrs = nil, nil
		if !reflect.DeepEqual(got, it) {
			show := func(it Item) string {
				return fmt.Sprintf("{%q %q %q %q %q %v}", it.ID, it.Title, it.Category, it.Brand, it.Tags, it.Price)
			}
			t.Fatalf("json round trip of %s = %s, want it unchanged", show(it), show(got))
		}
	})
}

// TestConcurrentWrites upserts and deletes one item from several goroutines:
// when they are done, the catalog, the text index and the database must all
// hold the same version of it.
func TestConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	x, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	const writers, each = 4, 40
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if g == 0 && i%4 == 3 {
					if err := x.Delete("x"); err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("Delete(%q) error = %v, want nil or ErrNotFound", "x", err)
					}
					continue
				}
				it := Item{ID: "x", Title: fmt.Sprintf("w%dv%d", g, i)}
				if err := x.Upsert([]Item{it}); err != nil {
					t.Errorf("Upsert(%+v) error = %v, want nil", it, err)
				}
			}
		}()
	}
	wg.Wait()
	// One last write by each writer, so that the item exists at the end.
	mustUpsert(t, x, Item{ID: "x", Title: "final"})
	mustUpsert(t, x, Item{ID: "y", Title: "other"})
	wg.Add(writers)
	for g := 0; g < writers; g++ {
		go func() {
			defer wg.Done()
			it := Item{ID: "x", Title: fmt.Sprintf("last%d", g)}
			if err := x.Upsert([]Item{it}); err != nil {
				t.Errorf("Upsert(%+v) error = %v, want nil", it, err)
			}
		}()
	}
	wg.Wait()
	d, ok := x.Get("x")
	if !ok {
		t.Fatalf("Get(%q) = not found, want the item", "x")
	}
	title := d.Item.Title
	if got := searchIDs(x, title, 10); !slices.Equal(got, []string{"x"}) {
		t.Errorf("Search(%q) = %q, want %q: the text index holds another version than the catalog", title, got, []string{"x"})
	}
	if x.text.docs != 2 || len(x.text.postings) != 2 {
		t.Errorf("text index holds %d documents and %d terms, want 2 and 2", x.text.docs, len(x.text.postings))
	}
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	x, err = New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() after reopening error = %v, want nil", err)
	}
	if d, ok := x.Get("x"); !ok || d.Item.Title != title {
		t.Errorf("Get(%q) after reopening = %+v, %v, want the title %q held in memory before", "x", d, ok, title)
	}
}

// TestIntern: known ids keep their ordinals, new ones get theirs, and an
// item the catalog gets later has the ordinal it was given.
func TestIntern(t *testing.T) {
	x := newTestIndex(t, Options{})
	mustUpsert(t, x, Item{ID: "a", Title: "a"})
	a, _ := x.Ord("a")
	got := x.Intern([]string{"a", "later", "a"}, []int32{-7})
	if len(got) != 4 || got[0] != -7 || got[1] != a || got[3] != a || got[2] == a {
		t.Fatalf("Intern = %v, want [-7 %d <new> %d]", got, a, a)
	}
	if x.Doc(got[2]) != nil {
		t.Errorf("an interned id has a catalog entry before it is upserted")
	}
	mustUpsert(t, x, Item{ID: "later", Title: "later"})
	if o, ok := x.Ord("later"); !ok || o != got[2] || x.Doc(o) == nil {
		t.Errorf("Ord(later) after upsert = %d, %v, want the interned %d with an entry", o, ok, got[2])
	}
}

// TestCatalogSharesRepeatedNames upserts items whose category levels, brand,
// tags and title words are equal strings held in separate memory, then reads
// the catalog back from Pebble: each time the documents hold one copy of
// each name, so that the collector marks one object per distinct name.
func TestCatalogSharesRepeatedNames(t *testing.T) {
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	item := func(id string) Item {
		own := func(s string) string { return strings.Clone(s) }
		return Item{ID: id, Title: own("Trail shoes"), Category: []string{own("Sports"), own("Running")},
			Brand: own("Acme"), Tags: []string{own("trail")}, Price: 10}
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	for _, when := range []string{"upserted", "loaded from Pebble"} {
		x, err := New(db, Options{}, nil)
		if err != nil {
			t.Fatalf("New() error = %v, want nil", err)
		}
		if when == "upserted" {
			mustUpsert(t, x, item("i1"), item("i2"))
		}
		d1, ok1 := x.Get("i1")
		d2, ok2 := x.Get("i2")
		if !ok1 || !ok2 {
			t.Fatalf("%s: Get(i1), Get(i2) found %v, %v, want both", when, ok1, ok2)
		}
		a, b := d1.Item, d2.Item
		if !reflect.DeepEqual(a.Category, b.Category) || a.Brand != b.Brand || !slices.Equal(a.Tags, b.Tags) {
			t.Fatalf("%s: items differ: %+v, %+v", when, a, b)
		}
		if !same(a.Category[0], b.Category[0]) || !same(a.Category[1], b.Category[1]) || !same(a.Brand, b.Brand) ||
			!same(a.Tags[0], b.Tags[0]) || a.Available != b.Available {
			t.Errorf("%s: the two documents hold their own copies of category, brand, tags or availability", when)
		}
		trail := x.text.postings["trail"]
		if trail == nil || !slices.Contains(x.text.docLists[d1.Ord], trail.id) ||
			!slices.Contains(x.text.docLists[d2.Ord], trail.id) {
			t.Errorf("%s: the documents' lists %v, %v, want both holding the list of %q", when,
				x.text.docLists[d1.Ord], x.text.docLists[d2.Ord], "trail")
		}
	}
}

// TestCatalogObjectsPerItem counts the heap objects a catalog of repeated
// category paths and tag lists keeps per item: every one of them is marked
// by the collector in every cycle, so a catalog of a hundred thousand items
// costs the collector in proportion. An item keeps its document, its id and
// title strings, its category ids and its text index lists; category paths,
// tag lists and names are shared.
func TestCatalogObjectsPerItem(t *testing.T) {
	if testing.Short() {
		t.Skip("upserts 20,000 items")
	}
	const items = 20000
	batch := make([]Item, 0, 1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := newTestIndex(t, Options{})
	for i := 0; i < items; i++ {
		// Fresh strings and slices per item, as a JSON decode makes them.
		batch = append(batch, Item{ID: fmt.Sprintf("i%06d", i), Title: fmt.Sprintf("Trail shoe %d", i%997),
			Category: []string{strings.Clone("Sports"), fmt.Sprintf("Sport %d", i%10)},
			Brand:    fmt.Sprintf("Brand %d", i%50),
			Tags:     []string{fmt.Sprintf("tag %d", i%7), fmt.Sprintf("tag %d", i%3)}, Price: 10})
		if len(batch) == cap(batch) {
			mustUpsert(t, x, batch...)
			batch = batch[:0]
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	perItem := float64(after.HeapObjects-before.HeapObjects) / items
	t.Logf("%.2f heap objects per item", perItem)
	if perItem > 5.5 {
		t.Errorf("the catalog keeps %.2f heap objects per item, want at most 5.5", perItem)
	}
}
