package index

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/internal/kv"
)

// Options configures an Index.
type Options struct {
	// NeighborsKept is how many co-visited neighbours each item keeps. Default 64.
	NeighborsKept int
	// PopularKept is how many items each popularity list keeps. Default 200.
	PopularKept int
	// PopularityHalfLife is the time over which popularity loses half its
	// weight. Default 48 hours.
	PopularityHalfLife time.Duration
	// SessionGap ends a user's session: events further apart start a new
	// one. Default 30 minutes.
	SessionGap time.Duration
	// SessionsKept is how many of the latest sessions, of all users, are
	// kept for session neighbours, rounded up to a power of two. Default
	// 131,072.
	SessionsKept int
	// SessionsPerItem is how many of the latest sessions holding an item
	// are kept for it. Default 16.
	SessionsPerItem int
	// SessionLength is how many distinct items of a session are kept.
	// Default 50.
	SessionLength int
}

// Index is the catalog and everything learned about its items.
type Index struct {
	db    *pebble.DB
	opts  Options
	cat   *catalog
	text  *textIndex
	covis *covisit
	pop   *popularity
	sess  *sessions
	accs  sync.Pool
	// searches caches recent search results, invalidated by catalog changes.
	searches *searchCache

	// wmu serializes catalog writes, so that the order in which they commit
	// to Pebble is the order in which they are installed in memory.
	wmu sync.Mutex

	items prometheus.GaugeFunc
}

// New opens the index over db and loads the catalog it holds. Co-visitation and
// popularity start empty; feed them the stored history with Observe.
func New(db *pebble.DB, opts Options, reg prometheus.Registerer) (*Index, error) {
	if opts.NeighborsKept <= 0 {
		opts.NeighborsKept = 64
	}
	if opts.PopularKept <= 0 {
		opts.PopularKept = 200
	}
	if opts.PopularityHalfLife <= 0 {
		opts.PopularityHalfLife = 48 * time.Hour
	}
	if opts.SessionGap <= 0 {
		opts.SessionGap = 30 * time.Minute
	}
	if opts.SessionsKept <= 0 {
		opts.SessionsKept = 1 << 17
	}
	if opts.SessionsPerItem <= 0 {
		opts.SessionsPerItem = 16
	}
	if opts.SessionLength <= 0 {
		opts.SessionLength = 50
	}
	x := &Index{
		db:    db,
		opts:  opts,
		cat:   newCatalog(),
		text:  newTextIndex(),
		covis: newCovisit(opts.NeighborsKept),
		pop:   newPopularity(opts.PopularityHalfLife.Milliseconds(), opts.PopularKept),
		sess:  newSessions(opts.SessionGap.Milliseconds(), opts.SessionsKept, opts.SessionsPerItem, opts.SessionLength),
	}
	x.accs.New = func() any { return new(accumulator) }
	x.searches = newSearchCache()
	err := loadItems(db, func(it Item) error {
		x.install(it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		x.items = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tailor_catalog_items", Help: "Items in the catalog."},
			func() float64 { return float64(x.Len()) })
		if err := reg.Register(x.items); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (x *Index) install(it Item) {
	x.cat.mu.Lock()
	doc, _ := x.cat.putLocked(it)
	x.cat.mu.Unlock()
	x.text.put(doc.Ord, docText(&doc.Item))
}

// Upsert validates items and stores them, replacing items with the same id. It
// returns after a synced commit; a batch with an invalid item changes nothing
// and returns an *ItemError.
func (x *Index) Upsert(items []Item) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	// Work on a copy: defaults are filled in without touching the caller's items.
	items = append([]Item(nil), items...)
	b := x.db.NewBatch()
	defer b.Close()
	for i := range items {
		if err := items[i].Validate(); err != nil {
			return &ItemError{Index: i, Err: err}
		}
		if items[i].Available == nil {
			yes := true
			items[i].Available = &yes
		}
		v, err := json.Marshal(&items[i])
		if err != nil {
			return &ItemError{Index: i, Err: err}
		}
		if err := b.Set(kv.Key(kv.PrefixItem, items[i].ID), v, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("index: cannot store items: %w", err)
	}
	for i := range items {
		x.install(items[i])
	}
	return nil
}

// ItemError is an invalid item of a batch.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("item %d: %v", e.Index, e.Err) }
func (e *ItemError) Unwrap() error { return e.Err }

// Delete removes an item from the catalog; it returns ErrNotFound when absent.
// What was learned about the item stays, so that a re-added item keeps it.
func (x *Index) Delete(id string) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if _, ok := x.Get(id); !ok {
		return ErrNotFound
	}
	if err := x.db.Delete(kv.Key(kv.PrefixItem, id), pebble.Sync); err != nil {
		return fmt.Errorf("index: cannot delete item: %w", err)
	}
	x.cat.mu.Lock()
	old := x.cat.deleteLocked(id)
	x.cat.mu.Unlock()
	if old != nil {
		x.text.remove(old.Ord)
	}
	return nil
}

// Get returns the catalog entry of id.
func (x *Index) Get(id string) (*Doc, bool) {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	o, ok := x.cat.byID[id]
	if !ok || x.cat.docs[o] == nil {
		return nil, false
	}
	return x.cat.docs[o], true
}

// Doc returns the catalog entry of an ordinal, nil when it has none.
func (x *Index) Doc(ord int32) *Doc {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	if ord < 0 || int(ord) >= len(x.cat.docs) {
		return nil
	}
	return x.cat.docs[ord]
}

// Ord returns the ordinal of an item id, if it has one.
func (x *Index) Ord(id string) (int32, bool) {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	o, ok := x.cat.byID[id]
	return o, ok
}

// Intern appends to dst the ordinal of every id in ids, giving one to each
// id the index has not seen yet: an ordinal is an id's for good, so a list
// resolved once holds for items the catalog gets later.
func (x *Index) Intern(ids []string, dst []int32) []int32 {
	x.cat.mu.RLock()
	at := len(dst)
	for _, id := range ids {
		o, ok := x.cat.byID[id]
		if !ok {
			break
		}
		dst = append(dst, o)
	}
	x.cat.mu.RUnlock()
	if len(dst)-at == len(ids) {
		return dst
	}
	x.cat.mu.Lock()
	defer x.cat.mu.Unlock()
	for _, id := range ids[len(dst)-at:] {
		dst = append(dst, x.cat.ordLocked(id))
	}
	return dst
}

// Len returns the number of items in the catalog.
func (x *Index) Len() int {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	return x.cat.live
}

// Ordinals returns one more than the largest ordinal given out: the size of a
// dense array indexed by ordinal.
func (x *Index) Ordinals() int {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	return len(x.cat.ids)
}

// CategoryID returns the id of a category key ("Sports/Running").
func (x *Index) CategoryID(key string) (int32, bool) {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	id, ok := x.cat.cats[key]
	return id, ok
}

// CategoryKey returns the key of a category id.
func (x *Index) CategoryKey(id int32) string {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	if id < 0 || int(id) >= len(x.cat.catKey) {
		return ""
	}
	return x.cat.catKey[id]
}

// Categories returns the number of category ids given out.
func (x *Index) Categories() int {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	return len(x.cat.catKey)
}

// MedianPrice returns the median price of the priced items in category cat or
// below, 0 when it has none.
func (x *Index) MedianPrice(cat int32) float64 {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	return x.cat.medianLocked(cat)
}

// CategoryItems appends to dst up to k available items of category cat (or
// below), in ordinal order: the catalog's own listing, for slots that must be
// filled beyond what popularity knows.
func (x *Index) CategoryItems(cat int32, k int, dst []int32) []int32 {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	if cat < 0 || int(cat) >= len(x.cat.items) {
		return dst
	}
	for _, o := range x.cat.items[cat] {
		if k == 0 {
			break
		}
		if d := x.cat.docs[o]; d != nil && d.Available {
			dst = append(dst, o)
			k--
		}
	}
	return dst
}

// BrandID returns the id of a brand name.
func (x *Index) BrandID(name string) (int32, bool) {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	id, ok := x.cat.brands[name]
	return id, ok
}

// Brands returns the number of brand ids given out.
func (x *Index) Brands() int {
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	return len(x.cat.brands)
}

// Observation is one item event for the learned indexes.
type Observation struct {
	User   string // whose event it is; empty: none of the session neighbours' business
	Item   string
	Weight float64  // how much the event says about the item: a purchase more than a view
	TS     int64    // Unix milliseconds
	Before []string // items the user saw shortly before, most recent first
}

// Observe learns from an item event: the item's popularity rises, it is
// counted as seen together with the items before it, nearer ones counting
// more, and it joins the user's current session.
func (x *Index) Observe(o Observation) {
	// Items seen before need only the catalog's read lock; one seen for the
	// first time gets its ordinal under the write lock.
	var before [16]int32
	nb := min(len(o.Before), len(before))
	var cats []int32
	x.cat.mu.RLock()
	ord, known := x.cat.byID[o.Item]
	for j := 0; known && j < nb; j++ {
		before[j], known = x.cat.byID[o.Before[j]]
	}
	if known && x.cat.docs[ord] != nil {
		cats = x.cat.docs[ord].Categories
	}
	x.cat.mu.RUnlock()
	if !known {
		x.cat.mu.Lock()
		ord = x.cat.ordLocked(o.Item)
		for j := 0; j < nb; j++ {
			before[j] = x.cat.ordLocked(o.Before[j])
		}
		if d := x.cat.docs[ord]; d != nil {
			cats = d.Categories
		}
		x.cat.mu.Unlock()
	}

	x.pop.add(ord, cats, o.Weight, o.TS)
	for j := 0; j < nb; j++ {
		w := float32(1 / float64(j+1))
		x.covis.add(ord, before[j], w)
		x.covis.add(before[j], ord, w)
	}
	if o.User != "" {
		x.sess.add(o.User, ord, o.TS)
	}
}

// Rebuild feeds the index a stored history: replay calls observe with
// every stored item event, user by user, each user's in time order. The
// sessions kept are then the latest by time, whatever the users' order.
// Rebuild first takes the session rings' full room, and room for every
// item of the catalog, so that serving after it does not grow them.
func (x *Index) Rebuild(replay func(observe func(Observation)) error) error {
	x.sess.reserve(x.Ordinals())
	x.sess.startLoad()
	defer x.sess.finishLoad()
	return replay(x.Observe)
}

// ForgetUser drops the sessions of user kept for session neighbours, for
// an erasure.
func (x *Index) ForgetUser(user string) { x.sess.forget(user) }

// SimilarSessions appends to dst the k items that the sessions most like
// q's context hold, with their votes, best first: each of the q.Neighbors
// kept sessions of other users most similar to the context votes its
// similarity for each of its items but the context's own.
func (x *Index) SimilarSessions(q *SessionQuery, k int, dst []Hit) []Hit {
	return x.sess.vote(q, k, dst)
}

// Neighbors appends the k items most often seen together with ord to dst.
func (x *Index) Neighbors(ord int32, k int, dst []Neighbor) []Neighbor {
	return x.covis.top(ord, k, dst)
}

// Popular appends to dst up to k of the most popular available items of
// category cat (of the whole catalog when cat is negative), with their
// popularity as of now (Unix milliseconds).
func (x *Index) Popular(cat int32, k int, now int64, dst []Hit) []Hit {
	// One read lock of the catalog for every item the list passes over;
	// reading the list takes none, and its writers never wait for the
	// catalog.
	x.cat.mu.RLock()
	defer x.cat.mu.RUnlock()
	return x.pop.top(cat, k, now, x.availableLocked, dst)
}

// Popularity returns the decayed popularity of ord as of now.
func (x *Index) Popularity(ord int32, now int64) float64 { return x.pop.get(ord, now) }

// availableLocked reports whether ord can be recommended and is still in
// category cat (any category when cat is negative): an item moved to another
// category keeps its old popularity entry, which must not surface. The caller
// holds the catalog's read lock.
func (x *Index) availableLocked(ord, cat int32) bool {
	if ord < 0 || int(ord) >= len(x.cat.facts) {
		return false
	}
	f := &x.cat.facts[ord]
	return f.Available && (cat < 0 || f.In(cat))
}

// Search appends to dst the k items that best match the query terms, by BM25,
// best first.
func (x *Index) Search(terms []string, k int, dst []Hit) []Hit {
	gen, key := x.text.gen.Load(), x.searches.key(terms, k)
	if out, ok := x.searches.get(key, terms, k, gen, dst); ok {
		return out
	}
	acc := x.accs.Get().(*accumulator)
	acc.reset(x.Ordinals())
	x.text.search(terms, acc)
	top := acc.top(k)
	x.searches.put(key, terms, k, gen, top)
	dst = append(dst, top...)
	x.accs.Put(acc)
	return dst
}
