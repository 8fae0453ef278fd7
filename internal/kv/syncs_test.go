package kv

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestDetachedSyncs(t *testing.T) {
	if !DetachedSyncs {
		t.Skip("this build syncs on the goroutine that asks (Linux with cgo detaches them)")
	}
	fs := detachSyncs(vfs.Default)
	dir := t.TempDir()

	// More files syncing at once than there are sync threads, each many times.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			f, err := fs.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)), vfs.WriteCategoryUnspecified)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for j := range 20 {
				if _, err := f.Write([]byte("some bytes\n")); err != nil {
					errs <- err
					return
				}
				var err error
				switch j % 3 {
				case 0:
					err = f.SyncData()
				case 1:
					err = f.Sync()
				default:
					_, err = f.SyncTo(int64(11 * (j + 1)))
				}
				if err != nil {
					errs <- fmt.Errorf("file %d, sync %d: %w", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Errorf("sync of the directory: %v", err)
	}
	d.Close()

	// A sync that fails comes back as the error of the call that asked: a
	// FIFO cannot be synced.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := fs.OpenReadWrite(fifo, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.SyncData(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SyncData of a FIFO = %v, want EINVAL", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Sync of a FIFO = %v, want EINVAL", err)
	}
	if _, err := f.SyncTo(1); !errors.Is(err, syscall.ESPIPE) {
		t.Errorf("SyncTo of a FIFO = %v, want ESPIPE", err)
	}
}
