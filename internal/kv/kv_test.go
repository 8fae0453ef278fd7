package kv

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// walSyncs is how many times db has synced its write-ahead log.
func walSyncs(t *testing.T, db *pebble.DB) uint64 {
	t.Helper()
	count, _, _, ok := fsyncBuckets(db.Metrics().LogWriter.FsyncLatency)
	if !ok {
		t.Fatal("Pebble reports no WAL sync latencies")
	}
	return count
}

// TestWALSyncIntervalGroupsCommits: with an interval between syncs, a synced
// commit that comes right after a sync waits for the interval, and the
// commits that arrive meanwhile share one sync; every commit is there after
// a reopen.
func TestWALSyncIntervalGroupsCommits(t *testing.T) {
	const interval = 300 * time.Millisecond
	dir := t.TempDir()
	db, err := Open(dir, Options{WALSyncInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("k0"), []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	before := walSyncs(t, db)

	const writers = 8
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 1; i <= writers; i++ {
		wg.Go(func() {
			if err := db.Set(fmt.Appendf(nil, "k%d", i), []byte("v"), pebble.Sync); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The writers start within microseconds of the first sync; a lower
	// bound well inside the interval leaves room for a slow start.
	if took < interval/2 {
		t.Errorf("synced commits right after a sync returned in %v, want them to wait for the %v interval", took, interval)
	}
	if n := walSyncs(t, db) - before; n == 0 || n > 2 {
		t.Errorf("%d concurrent synced commits took %d syncs, want them to share one (two at most)", writers, n)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i <= writers; i++ {
		if _, closer, err := db.Get(fmt.Appendf(nil, "k%d", i)); err != nil {
			t.Errorf("k%d after a reopen: %v", i, err)
		} else {
			closer.Close()
		}
	}
}
