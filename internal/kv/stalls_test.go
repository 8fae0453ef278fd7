package kv

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// tableGate holds back the creation of every table file until open is
// closed: flushes cannot finish, so the memtables fill up.
type tableGate struct {
	vfs.FS
	open chan struct{}
}

func (g *tableGate) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if strings.HasSuffix(name, ".sst") {
		<-g.open
	}
	return g.FS.Create(name, category)
}

// TestStallsCountWriteStalls: writes that fill every memtable while no
// flush can write its table stall until the flushes go on; the stall is
// counted, timed and exported.
func TestStallsCountWriteStalls(t *testing.T) {
	dir := t.TempDir()
	gate := &tableGate{FS: vfs.Default, open: make(chan struct{})}
	stalls := new(Stalls)
	disk := NewDisk(DiskOptions{Dir: dir, FS: gate, MinFree: -1})
	db, err := Open(dir, Options{MemTableBytes: 1 << 20, Disk: disk, Stalls: stalls})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	release := sync.OnceFunc(func() { close(gate.open) })
	done, finished := make(chan error, 1), make(chan struct{})
	defer func() { // before Close, whatever fails: no write left in flight
		release()
		<-finished
	}()
	go func() {
		defer close(finished)
		v := make([]byte, 4<<10)
		for i := range 4096 { // 16 MiB: more than the 4 memtables hold
			if err := db.Set(fmt.Appendf(nil, "k%06d", i), v, pebble.NoSync); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for deadline := time.Now().Add(30 * time.Second); stalls.Count() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no write stall with every flush held back")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the writes finished (%v) while the flushes were held back", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if stalls.Count() < 1 || stalls.Duration() <= 0 || stalls.began.Load() != 0 {
		t.Errorf("after the flushes went on: %d stalls, %v in all, one under way since %d", stalls.Count(), stalls.Duration(), stalls.began.Load())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(db, stalls))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if m := f.GetMetric(); len(m) == 1 && m[0].GetCounter() != nil {
			got[f.GetName()] = m[0].GetCounter().GetValue()
		}
	}
	if got["tailor_pebble_write_stalls_total"] < 1 || got["tailor_pebble_write_stall_seconds_total"] <= 0 {
		t.Errorf("exported %v stalls taking %v s", got["tailor_pebble_write_stalls_total"], got["tailor_pebble_write_stall_seconds_total"])
	}
}
