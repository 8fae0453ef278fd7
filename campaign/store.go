package campaign

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/internal/kv"
)

// ErrNotFound is returned for a campaign id that is not stored.
var ErrNotFound = errors.New("campaign: not found")

// Options configures a Store.
type Options struct {
	// Value ranks campaigns for the auction: a campaign's largest possible bid
	// in one common currency. Campaigns get their ordinals in decreasing
	// Value, so that an auction walking matches in ordinal order can stop
	// once no later campaign could beat the best it has. Default nil: ordinals
	// by id, and Set.Ordered reports false.
	Value func(*Live) float64
}

// Store is the stored set of campaigns and the targeting index over the
// active ones. Writes are persisted in Pebble with a synced commit, then a new
// Set is built and swapped in whole: readers never wait and never see
// half an update. It is safe for concurrent use.
type Store struct {
	db   *pebble.DB
	opts Options
	wmu  sync.Mutex // serializes writers, so that commit order is install order
	set  atomic.Pointer[Set]
}

// Set is an immutable snapshot of the campaigns with their targeting
// index. Ordinals index it: 0 to Len()-1.
type Set struct {
	live      []*Live
	byID      map[string]int32
	ordered   bool
	active    int
	targeting *targeting
}

// Open loads the campaigns stored in db and indexes them.
// A gauge of active campaigns is registered on reg when it is not nil.
func Open(db *pebble.DB, opts Options, reg prometheus.Registerer) (*Store, error) {
	cs := &Store{db: db, opts: opts}
	prefix := []byte{kv.PrefixCampaign}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	var live []*Live
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, err
		}
		var c Campaign
		if err := json.Unmarshal(v, &c); err != nil {
			it.Close()
			return nil, fmt.Errorf("campaign: corrupt campaign %q: %w", it.Key()[1:], err)
		}
		lc, err := compile(&c)
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("campaign: stored campaign %q no longer valid: %w", c.ID, err)
		}
		live = append(live, lc)
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	cs.set.Store(cs.build(live))
	if reg != nil {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tailor_campaigns_active", Help: "Campaigns with status active."},
			func() float64 { return float64(cs.Snapshot().active) })
		if err := reg.Register(g); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

func (cs *Store) build(live []*Live) *Set {
	s := &Set{live: live, byID: make(map[string]int32, len(live)), ordered: cs.opts.Value != nil}
	if s.ordered {
		value := make(map[*Live]float64, len(live))
		for _, c := range live {
			value[c] = cs.opts.Value(c)
		}
		slices.SortFunc(live, func(a, b *Live) int {
			va, vb := value[a], value[b]
			switch {
			case va > vb:
				return -1
			case va < vb:
				return 1
			}
			return strings.Compare(a.ID, b.ID)
		})
	} else {
		slices.SortFunc(live, func(a, b *Live) int { return strings.Compare(a.ID, b.ID) })
	}
	for i, c := range live {
		s.byID[c.ID] = int32(i)
		if c.Active {
			s.active++
		}
	}
	s.targeting = buildTargeting(live)
	return s
}

// BatchError is an invalid campaign of a batch.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("campaign %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// Upsert validates campaigns and stores them, replacing campaigns with the
// same id. It returns after a synced commit, with the new set installed; a
// batch with an invalid campaign changes nothing and returns a
// *BatchError wrapping a *FieldError.
func (cs *Store) Upsert(list []Campaign) error {
	compiled := make([]*Live, len(list))
	seen := make(map[string]int, len(list))
	for i := range list {
		lc, err := compile(&list[i])
		if err != nil {
			return &BatchError{Index: i, Err: err}
		}
		if j, dup := seen[lc.ID]; dup {
			return &BatchError{Index: i, Err: &FieldError{Field: "id", Message: fmt.Sprintf("repeats campaign %d of the batch", j)}}
		}
		seen[lc.ID] = i
		compiled[i] = lc
	}
	cs.wmu.Lock()
	defer cs.wmu.Unlock()
	b := cs.db.NewBatch()
	defer b.Close()
	for _, lc := range compiled {
		v, err := json.Marshal(&lc.Campaign)
		if err != nil {
			return err
		}
		if err := b.Set(kv.Key(kv.PrefixCampaign, lc.ID), v, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("campaign: cannot store campaigns: %w", err)
	}
	old := cs.Snapshot()
	live := make([]*Live, 0, len(old.live)+len(compiled))
	for _, c := range old.live {
		if _, replaced := seen[c.ID]; !replaced {
			live = append(live, c)
		}
	}
	live = append(live, compiled...)
	cs.set.Store(cs.build(live))
	return nil
}

// Delete removes a campaign; it returns ErrNotFound when absent.
func (cs *Store) Delete(id string) error {
	cs.wmu.Lock()
	defer cs.wmu.Unlock()
	old := cs.Snapshot()
	if _, ok := old.byID[id]; !ok {
		return ErrNotFound
	}
	if err := cs.db.Delete(kv.Key(kv.PrefixCampaign, id), pebble.Sync); err != nil {
		return fmt.Errorf("campaign: cannot delete campaign: %w", err)
	}
	live := make([]*Live, 0, len(old.live))
	for _, c := range old.live {
		if c.ID != id {
			live = append(live, c)
		}
	}
	cs.set.Store(cs.build(live))
	return nil
}

// Get returns the campaign with id.
func (cs *Store) Get(id string) (*Live, bool) { return cs.Snapshot().Get(id) }

// Snapshot returns the current set. It stays valid and unchanged however the
// campaigns change afterwards.
func (cs *Store) Snapshot() *Set { return cs.set.Load() }

// Len returns the number of campaigns, active or not.
func (s *Set) Len() int { return len(s.live) }

// Active returns the number of active campaigns.
func (s *Set) Active() int { return s.active }

// At returns the campaign of an ordinal.
func (s *Set) At(ord int) *Live { return s.live[ord] }

// Get returns the campaign with id.
func (s *Set) Get(id string) (*Live, bool) {
	o, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return s.live[o], true
}

// Ordered reports whether ordinals follow decreasing Options.Value.
func (s *Set) Ordered() bool { return s.ordered }

// List returns up to limit campaigns in id order, starting after the id
// cursor ("" for the first page), and whether more follow.
func (cs *Store) List(cursor string, limit int) ([]*Live, bool) {
	all := slices.Clone(cs.Snapshot().live)
	slices.SortFunc(all, func(a, b *Live) int { return strings.Compare(a.ID, b.ID) })
	i, _ := slices.BinarySearchFunc(all, cursor, func(c *Live, id string) int { return strings.Compare(c.ID, id) })
	if i < len(all) && all[i].ID == cursor {
		i++
	}
	all = all[i:]
	if len(all) > limit {
		return all[:limit], true
	}
	return all, false
}
