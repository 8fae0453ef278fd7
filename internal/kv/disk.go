package kv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Disk guards the data directory's disk, so that running short of space or
// a failing disk never takes Pebble into the states it cannot leave (a
// panic rotating the write-ahead log, commits that hang, a memtable holding
// writes that were never made durable):
//
//   - A free-space floor: Check (run every Interval by Start) reads the free
//     space of the file system, and Writable refuses writes once it is below
//     the floor, so that callers stop writing while Pebble still has room to
//     finish what it started. Writes resume by themselves when space
//     returns.
//   - A ballast file: a few MiB held in reserve in the directory. Should the
//     disk fill anyway (another process, a burst between checks), the first
//     write that meets ENOSPC deletes the ballast and is retried once, so
//     Pebble itself never sees the error. The ballast is made again once
//     there is room for it above the floor.
//   - Failure: any other write or sync error on the write-ahead log, or a
//     fatal error Pebble reports through its logger, leaves the store
//     Failed for good: Pebble cannot continue past it in this process. The
//     tail of the log written since its last successful sync is cut off
//     first, so that a restart (which replays the log) never brings back a
//     write whose commit reported an error, and OnFatal is called.
//
// A Disk is safe for concurrent use.
type Disk struct {
	opts  DiskOptions
	inner vfs.FS // the file system under the guard

	state  atomic.Int32 // diskOK, diskLow or diskFailed
	free   atomic.Int64 // bytes free at the last check
	reason atomic.Pointer[string]
	once   sync.Once // OnFatal runs once

	mu      sync.Mutex // ballast changes
	ballast bool       // the ballast file exists

	flushFailures atomic.Int32 // flushes failed in a row

	stop chan struct{}
	done chan struct{}
}

// maxFlushFailures is how many flushes in a row may fail before the store
// is failed: Pebble retries a failed flush at once and for ever, and writes
// stall once the memtables it cannot flush fill up.
const maxFlushFailures = 3

// DiskOptions configures a Disk.
type DiskOptions struct {
	// Dir is the data directory.
	Dir string
	// FS is the file system the directory is on. Default vfs.Default, its
	// syncs detached from Go's scheduler where the build can (DetachedSyncs);
	// tests give a file system that injects faults.
	FS vfs.FS
	// MinFree is the free-space floor in bytes: below it writes are refused.
	// Default 256 MiB; negative turns the floor and the ballast off.
	MinFree int64
	// Ballast is the size of the ballast file in bytes. Default a quarter of
	// MinFree, at most 64 MiB.
	Ballast int64
	// Interval is how often Start checks the free space. Default 200 ms.
	Interval time.Duration
	// OnFatal is called once, from the goroutine that met it, when the store
	// fails. Pebble must not be used for writes afterwards; the process
	// should exit so that a restart replays the log. Default: nothing.
	OnFatal func(error)
	// Logf receives operational messages. Default: none.
	Logf func(format string, args ...any)
}

// Disk states.
const (
	diskOK int32 = iota
	diskLow
	diskFailed
)

// ErrLowSpace is returned by Writable while free space is below the floor.
var ErrLowSpace = errors.New("kv: disk space below the floor")

// ErrFailed is returned by Writable once the store has failed.
var ErrFailed = errors.New("kv: the store failed")

const ballastName = "tailor.ballast"

// NewDisk returns a Disk for opts.Dir. Give it to Open through
// Options.Disk, then Start it.
func NewDisk(opts DiskOptions) *Disk {
	if opts.FS == nil {
		opts.FS = detachSyncs(vfs.Default)
	}
	if opts.MinFree == 0 {
		opts.MinFree = 256 << 20
	}
	if opts.Ballast <= 0 {
		opts.Ballast = min(opts.MinFree/4, 64<<20)
	}
	if opts.MinFree < 0 {
		opts.Ballast = 0
	}
	if opts.Interval <= 0 {
		opts.Interval = 200 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	d := &Disk{opts: opts, inner: opts.FS}
	return d
}

// fs returns the file system Pebble is to use: the guard over the ballast's
// disk-full handler over the file system given.
func (d *Disk) fs() vfs.FS {
	return &walGuard{FS: vfs.OnDiskFull(d.inner, d.diskFull), disk: d}
}

// listener returns the Pebble event listener that watches flushes and
// reports background errors.
func (d *Disk) listener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) { d.opts.Logf("kv: background error: %v", err) },
		FlushEnd: func(info pebble.FlushInfo) {
			if info.Err == nil {
				d.flushFailures.Store(0)
				return
			}
			if d.flushFailures.Add(1) >= maxFlushFailures {
				d.fatal(fmt.Errorf("flushes keep failing: %w", info.Err))
			}
		},
	}
}

// Writable returns nil when writes may go ahead, ErrLowSpace or ErrFailed
// when not. It is one atomic load.
func (d *Disk) Writable() error {
	if d == nil {
		return nil
	}
	switch d.state.Load() {
	case diskLow:
		return ErrLowSpace
	case diskFailed:
		return ErrFailed
	}
	return nil
}

// Status returns "ok", "degraded" (below the floor: writes refused) or
// "failed", with the reason when not ok.
func (d *Disk) Status() (state, reason string) {
	if d == nil {
		return "ok", ""
	}
	switch d.state.Load() {
	case diskLow:
		state = "degraded"
	case diskFailed:
		state = "failed"
	default:
		return "ok", ""
	}
	if r := d.reason.Load(); r != nil {
		reason = *r
	}
	return state, reason
}

// Free returns the free bytes seen at the last check.
func (d *Disk) Free() int64 { return d.free.Load() }

// Floor returns the free-space floor in bytes (negative when off).
func (d *Disk) Floor() int64 { return d.opts.MinFree }

// Check reads the free space now and moves between ok and low accordingly,
// making the ballast when there is room for it.
func (d *Disk) Check() {
	if d.opts.MinFree < 0 || d.state.Load() == diskFailed {
		return
	}
	u, err := d.inner.GetDiskUsage(d.opts.Dir)
	if err != nil {
		d.opts.Logf("kv: cannot read the free space of %s: %v", d.opts.Dir, err)
		return
	}
	free := int64(min(u.AvailBytes, 1<<62))
	d.free.Store(free)
	if free < d.opts.MinFree {
		reason := fmt.Sprintf("%s free on the data directory's disk, below the floor of %s: writes are refused until space is freed",
			mib(free), mib(d.opts.MinFree))
		d.reason.Store(&reason)
		if d.state.CompareAndSwap(diskOK, diskLow) {
			d.opts.Logf("kv: %s", reason)
		}
		return
	}
	if !d.hasBallast() && free >= d.opts.MinFree+2*d.opts.Ballast {
		d.makeBallast()
	}
	if d.state.CompareAndSwap(diskLow, diskOK) {
		d.opts.Logf("kv: %s free on the data directory's disk: writes resume", mib(free))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Start checks the free space now and then every Interval until Stop.
func (d *Disk) Start() {
	d.Check()
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(d.done)
		t := time.NewTicker(d.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-t.C:
				d.Check()
			}
		}
	}()
}

// Stop ends the checks Start began and waits for them.
func (d *Disk) Stop() {
	if d == nil || d.stop == nil {
		return
	}
	close(d.stop)
	<-d.done
	d.stop = nil
}

func (d *Disk) hasBallast() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ballast
}

// makeBallast writes the ballast file, if it is wanted and missing.
func (d *Disk) makeBallast() {
	if d.opts.Ballast <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	path := filepath.Join(d.opts.Dir, ballastName)
	if fi, err := d.inner.Stat(path); err == nil && fi.Size() >= d.opts.Ballast {
		d.ballast = true
		return
	}
	f, err := d.inner.Create(path, vfs.WriteCategoryUnspecified)
	if err == nil {
		zeros := make([]byte, 1<<20)
		for n := int64(0); n < d.opts.Ballast && err == nil; n += int64(len(zeros)) {
			_, err = f.Write(zeros[:min(int64(len(zeros)), d.opts.Ballast-n)])
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		d.inner.Remove(path)
		d.opts.Logf("kv: cannot make the ballast file: %v", err)
		return
	}
	d.ballast = true
}

// diskFull runs when a write meets ENOSPC: it frees the ballast so that the
// write's retry succeeds, and refuses further writes until the next check
// finds room.
func (d *Disk) diskFull() {
	reason := "the data directory's disk is full: writes are refused until space is freed"
	d.reason.Store(&reason)
	d.state.CompareAndSwap(diskOK, diskLow)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.inner.Remove(filepath.Join(d.opts.Dir, ballastName)); err == nil {
		d.opts.Logf("kv: the disk is full: ballast of %s freed, writes refused", mib(d.opts.Ballast))
	}
	d.ballast = false
}

// fatal leaves the store failed and tells OnFatal, once.
func (d *Disk) fatal(err error) {
	reason := "the data directory's store failed: " + err.Error() + "; restart to recover from the write-ahead log"
	d.reason.Store(&reason)
	d.state.Store(diskFailed)
	d.once.Do(func() {
		d.opts.Logf("kv: %s", reason)
		if d.opts.OnFatal != nil {
			d.opts.OnFatal(err)
		}
	})
}

// walGuard watches writes and syncs of the write-ahead log: a failure that
// survived the disk-full retry cuts the log back to its last synced length
// and fails the store.
type walGuard struct {
	vfs.FS
	disk *Disk
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (g *walGuard) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.Create(name, cat)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return &walFile{File: f, name: name, disk: g.disk}, nil
}

func (g *walGuard) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil || !isWAL(newname) {
		return f, err
	}
	return &walFile{File: f, name: newname, disk: g.disk}, nil
}

func (g *walGuard) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := g.FS.OpenReadWrite(name, cat, opts...)
	if err != nil || !isWAL(name) {
		return f, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &walFile{File: f, name: name, disk: g.disk}
	w.written.Store(fi.Size())
	w.synced.Store(fi.Size())
	return w, nil
}

// Unwrap returns the file system under the guard.
func (g *walGuard) Unwrap() vfs.FS { return g.FS }

// walFile is a log file that knows how much of itself is durable.
type walFile struct {
	vfs.File
	name    string
	disk    *Disk
	written atomic.Int64 // bytes written by Write
	synced  atomic.Int64 // bytes made durable by the last successful sync
	failed  atomic.Bool
}

func (w *walFile) Write(p []byte) (int, error) {
	n, err := w.File.Write(p)
	w.written.Add(int64(n))
	if err != nil {
		w.fail(err)
	}
	return n, err
}

func (w *walFile) Sync() error {
	at := w.written.Load()
	if err := w.File.Sync(); err != nil {
		w.fail(err)
		return err
	}
	w.synced.Store(at)
	return nil
}

func (w *walFile) SyncData() error {
	at := w.written.Load()
	if err := w.File.SyncData(); err != nil {
		w.fail(err)
		return err
	}
	w.synced.Store(at)
	return nil
}

func (w *walFile) SyncTo(length int64) (bool, error) {
	full, err := w.File.SyncTo(length)
	if err != nil {
		w.fail(err)
		return full, err
	}
	w.synced.Store(length)
	return full, nil
}

// fail cuts the file back to what was durable and fails the store: the
// bytes after it belong to commits that were, or will be, told of an error.
func (w *walFile) fail(err error) {
	if !w.failed.CompareAndSwap(false, true) {
		return
	}
	if terr := os.Truncate(w.name, w.synced.Load()); terr != nil && !errors.Is(terr, os.ErrNotExist) {
		w.disk.opts.Logf("kv: cannot cut the write-ahead log %s back to its synced length: %v", w.name, terr)
	}
	w.disk.fatal(fmt.Errorf("write-ahead log %s: %w", filepath.Base(w.name), err))
}

// fatalLogger is Pebble's logger: informational messages are dropped,
// errors are logged, and a fatal error fails the store instead of exiting
// the process from inside Pebble. The goroutine that met it never returns:
// Pebble's code after a fatal error assumes it does not.
type fatalLogger struct{ disk *Disk }

func (fatalLogger) Infof(string, ...interface{}) {}

func (l fatalLogger) Errorf(format string, args ...interface{}) {
	pebble.DefaultLogger.Errorf(format, args...)
}

func (l fatalLogger) Fatalf(format string, args ...interface{}) {
	err := fmt.Errorf(format, args...)
	if l.disk == nil {
		pebble.DefaultLogger.Fatalf("%v", err)
		return
	}
	l.disk.fatal(err)
	select {} // see the type's comment
}
