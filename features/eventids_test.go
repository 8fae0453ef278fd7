package features

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// smallEventIDs returns a filter whose first layer holds first ids.
func smallEventIDs(first uint, maxBytes int64) *eventIDs {
	f := &eventIDs{first: first, seed: maphash.MakeSeed(), maxBytes: maxBytes}
	f.start(0)
	return f
}

// falsePositives returns how many of n ids never added f may hold.
func falsePositives(f *eventIDs, n int) int {
	held := 0
	for i := 0; i < n; i++ {
		if f.mayHold(fmt.Sprint("fresh-", i)) {
			held++
		}
	}
	return held
}

func TestEventIDsGrowAndNeverForget(t *testing.T) {
	f := smallEventIDs(1000, 1<<20)
	const added = 20000
	for i := 0; i < added; i += 100 {
		batch := make([]string, 100)
		for j := range batch {
			batch[j] = fmt.Sprint("e-", i+j)
		}
		f.add(batch)
	}
	for i := 0; i < added; i++ {
		if id := fmt.Sprint("e-", i); !f.mayHold(id) {
			t.Fatalf("mayHold(%q) = false after adding it, want true", id)
		}
	}
	// 1,000 + 2,000 + 4,000 + 8,000 hold 15,000: the fifth layer holds the rest.
	if len(f.layers) != 5 {
		t.Errorf("layers = %d after %d ids from a first layer of 1,000, want 5", len(f.layers), added)
	}
	const fresh = 100000
	if fp := falsePositives(f, fresh); fp > fresh*2*eventIDsRate {
		t.Errorf("%d of %d fresh ids may be held, want at most %v", fp, fresh, fresh*2*eventIDsRate)
	}
	if f.size() <= 0 || f.size() > 1<<20 {
		t.Errorf("size() = %d, want within (0, 1 MiB]", f.size())
	}
}

func TestEventIDsTurnOffPastTheirBound(t *testing.T) {
	f := smallEventIDs(1000, 6000) // the first two layers (4.6 KiB) hold 3,000 ids; a third (6.9 KiB) does not fit
	add := func(from, to int) {
		for i := from; i < to; i++ {
			f.add([]string{fmt.Sprint("e-", i)})
		}
	}
	add(0, 3000)
	if f.off || len(f.layers) != 2 || f.size() > 6000 {
		t.Fatalf("after 3,000 ids in 6,000 bytes: off %v, layers %d, size %d, want on with 2 layers within the bound",
			f.off, len(f.layers), f.size())
	}
	add(3000, 3500)
	if !f.off || f.size() != 0 || len(f.layers) != 0 {
		t.Fatalf("after 3,500 ids in 6,000 bytes: off %v, size %d, layers %d, want off with nothing kept",
			f.off, f.size(), len(f.layers))
	}
	if !f.mayHold("anything") {
		t.Error("mayHold() of an unseen id = false when off, want true (Pebble answers)")
	}
}

// TestStoreEventIDsAfterReopen checks that the filter a store builds from
// the ids Pebble holds lets new ids through without a read and still finds
// every duplicate, and that a store without the filter finds them alike.
func TestStoreEventIDsAfterReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := New(db, Options{}, nil)
	if err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
	var events []Event
	for i := 0; i < 500; i++ {
		events = append(events, Event{ID: fmt.Sprint("e", i), User: fmt.Sprint("u", i%7), Type: View,
			Item: fmt.Sprint("i", i%40), TS: t0 + int64(i)*1000})
	}
	mustApply(t, s, events[:250]...)
	s.Close()
	if err := db.Close(); err != nil {
		t.Fatalf("Close() error = %v, want nil", err)
	}

	db = openDB(t, dir)
	defer db.Close()
	for _, filterBytes := range []int64{0, -1} {
		s, err := New(db, Options{EventIDFilterBytes: filterBytes}, nil)
		if err != nil {
			t.Fatalf("New(EventIDFilterBytes %d) after reopening error = %v, want nil", filterBytes, err)
		}
		if filterBytes == 0 {
			for _, e := range events[:250] {
				if !s.ids.mayHold(e.ID) {
					t.Fatalf("the filter built at New does not hold the stored id %q", e.ID)
				}
			}
			if fp := falsePositives(s.ids, 1000); fp > 20 {
				t.Errorf("%d of 1,000 new ids would be read from Pebble, want at most 20", fp)
			}
		}
		// The first half again with a new event: duplicates found, the new one
		// applied; then the same batch again is all duplicates.
		again := append(append([]Event(nil), events[:250]...), events[250+int(-filterBytes)])
		if res := mustApply(t, s, again...); res.Accepted != 1 || res.Duplicates != 250 {
			t.Errorf("EventIDFilterBytes %d: Apply(250 stored ids and a new one) = %d accepted, %d duplicates, want 1 and 250",
				filterBytes, res.Accepted, res.Duplicates)
		}
		if res := mustApply(t, s, again...); res.Accepted != 0 || res.Duplicates != 251 {
			t.Errorf("EventIDFilterBytes %d: Apply(the same again) = %d accepted, %d duplicates, want 0 and 251",
				filterBytes, res.Accepted, res.Duplicates)
		}
		s.Close()
	}
}

// BenchmarkEventIDsMayHold checks new ids against a filter of two million
// applied ones (two layers), as a busy store's events are.
func BenchmarkEventIDsMayHold(b *testing.B) {
	f := smallEventIDs(eventIDsFirst, 64<<20)
	ids := make([]string, 2_000_000)
	for i := range ids {
		ids[i] = fmt.Sprint("applied-", i)
	}
	for i := 0; i < len(ids); i += 1000 {
		f.add(ids[i : i+1000])
	}
	fresh := make([]string, 1<<16)
	for i := range fresh {
		fresh[i] = fmt.Sprint("fresh-", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	held := 0
	for i := 0; i < b.N; i++ {
		if f.mayHold(fresh[i&(len(fresh)-1)]) {
			held++
		}
	}
	b.ReportMetric(float64(held)/float64(b.N), "held/op")
}
