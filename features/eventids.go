package features

import (
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/greatroar/blobloom"

	"github.com/tailor-dev/tailor/internal/kv"
)

// Sizing of the event-id filter: its first layer holds at least
// eventIDsFirst ids at a false-positive rate of eventIDsRate; each later
// layer holds twice its predecessor at half its rate, so that however many
// layers it grows, fewer than 2*eventIDsRate of new ids are read from Pebble.
const (
	eventIDsFirst = 1 << 20
	eventIDsRate  = 0.01
)

// eventIDs answers, without reading Pebble, that most new events' ids were
// never applied. Every applied id is in Pebble, where a point read of an
// absent key still walks the memtables and every level's filter: a quarter
// of what ingesting an event costs. This is a scalable bloom filter over the
// same ids, in layers of growing capacity, so it needs no size up front; its
// layers are blocked (every probe of an id falls in one cache line), so that
// a check costs a cache miss a layer, not one a probe. It never answers
// "new" for an id it was given, and an id it may hold is read from Pebble
// as before, so duplicates are found exactly as without it.
//
// Past maxBytes it stops: it drops its layers and answers "may hold" for
// every id, which is what tailor did before it. It is safe for concurrent use.
type eventIDs struct {
	first    uint // the capacity of the first layer, at least
	seed     maphash.Seed
	mu       sync.RWMutex
	layers   []*blobloom.Filter
	rate     float64 // the last layer's false-positive rate
	capacity uint    // ids the last layer holds at its rate
	count    uint    // ids added to the last layer
	bytes    int64
	maxBytes int64
	off      bool
}

// newEventIDs returns the filter over every event id applied to db, read
// from its keys; with maxBytes < 0 it is off from the start.
func newEventIDs(db *pebble.DB, maxBytes int64) (*eventIDs, error) {
	f := &eventIDs{first: eventIDsFirst, seed: maphash.MakeSeed(), maxBytes: maxBytes, off: maxBytes < 0}
	if f.off {
		return f, nil
	}
	prefix := []byte{kv.PrefixEventID}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("features: cannot read event ids: %w", err)
	}
	defer it.Close()
	var ids uint
	for ok := it.First(); ok; ok = it.Next() {
		ids++
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("features: cannot read event ids: %w", err)
	}
	f.start(ids)
	for ok := it.First(); ok && !f.off; ok = it.Next() {
		f.addLocked(maphash.Bytes(f.seed, it.Key()[1:]))
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("features: cannot read event ids: %w", err)
	}
	return f, nil
}

// start makes the first layer, with room for as many ids again as the n
// stored before the second.
func (f *eventIDs) start(n uint) {
	f.grow(max(f.first, 2*n), eventIDsRate)
}

// mayHold reports whether id may have been added; false means it was not.
func (f *eventIDs) mayHold(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.off {
		return true
	}
	h := maphash.String(f.seed, id)
	for _, l := range f.layers {
		if l.Has(h) {
			return true
		}
	}
	return false
}

// add records ids. A writer adds an event's id before the batch that applies
// it reaches Pebble, so that a reader that finds the id absent here cannot
// have missed it there.
func (f *eventIDs) add(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.off {
			return
		}
		f.addLocked(maphash.String(f.seed, id))
	}
}

func (f *eventIDs) addLocked(h uint64) {
	if f.count >= f.capacity {
		f.grow(2*f.capacity, f.rate/2)
		if f.off {
			return
		}
	}
	f.layers[len(f.layers)-1].Add(h)
	f.count++
}

// grow adds a layer for capacity ids at rate, or turns the filter off when
// the layer would take it past maxBytes.
func (f *eventIDs) grow(capacity uint, rate float64) {
	bits, hashes := blobloom.Optimize(blobloom.Config{Capacity: uint64(capacity), FPRate: rate})
	if f.maxBytes > 0 && f.bytes+int64(bits/8) > f.maxBytes {
		f.layers, f.bytes, f.off = nil, 0, true
		return
	}
	f.layers = append(f.layers, blobloom.New(bits, hashes))
	f.capacity, f.count, f.rate = capacity, 0, rate
	f.bytes += int64(bits / 8)
}

// size returns the memory the filter's layers take, in bytes.
func (f *eventIDs) size() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.bytes
}
