package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tailor-dev/tailor/service"
)

// faultFS is the operating system's file system with a disk of a set size
// (writes past the free space fail with ENOSPC, as a full disk's do) and,
// on demand, I/O errors on the write-ahead log's writes or syncs, or slow
// syncs of it.
type faultFS struct {
	vfs.FS
	free      atomic.Int64 // bytes left on the pretend disk
	walFault  atomic.Int32 // walFaultNone, walFaultWrite or walFaultSync
	syncDelay atomic.Int64 // how long each sync of the write-ahead log takes at least, ns
}

const (
	walFaultNone int32 = iota
	walFaultWrite
	walFaultSync
)

var errInjected = errors.New("injected I/O error")

func newFaultFS(free int64) *faultFS {
	fs := &faultFS{FS: vfs.Default}
	fs.free.Store(free)
	return fs
}

func (fs *faultFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs, name: name}, nil
}

func (fs *faultFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, cat)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	return fs.wrap(f, newname, err)
}

func (fs *faultFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	return fs.wrap(f, name, err)
}

func (fs *faultFS) Remove(name string) error {
	fi, serr := fs.FS.Stat(name)
	err := fs.FS.Remove(name)
	if err == nil && serr == nil {
		fs.free.Add(fi.Size())
	}
	return err
}

func (fs *faultFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	free := uint64(max(fs.free.Load(), 0))
	return vfs.DiskUsage{AvailBytes: free, TotalBytes: 1 << 40, UsedBytes: 1<<40 - free}, nil
}

type faultFile struct {
	vfs.File
	fs   *faultFS
	name string
}

func (f *faultFile) wal() bool { return strings.HasSuffix(f.name, ".log") }

func (f *faultFile) Write(p []byte) (int, error) {
	if f.wal() && f.fs.walFault.Load() == walFaultWrite {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: errInjected}
	}
	if f.fs.free.Add(-int64(len(p))) < 0 {
		f.fs.free.Add(int64(len(p)))
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *faultFile) syncFault() error {
	if !f.wal() {
		return nil
	}
	if f.fs.walFault.Load() == walFaultSync {
		return &os.PathError{Op: "sync", Path: f.name, Err: errInjected}
	}
	if d := f.fs.syncDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d)) // a disk busy with other writes
	}
	return nil
}

func (f *faultFile) Sync() error {
	if err := f.syncFault(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error {
	if err := f.syncFault(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *faultFile) SyncTo(n int64) (bool, error) {
	if err := f.syncFault(); err != nil {
		return false, err
	}
	return f.File.SyncTo(n)
}

const (
	testFloor   = 64 << 20
	testBallast = 4 << 20
)

func diskOptions(fs *faultFS, onFailure func(error)) Options {
	return Options{Service: service.Options{Storage: service.StorageOptions{FS: fs, MinFreeBytes: testFloor, BallastBytes: testBallast,
		CheckEvery: time.Hour, OnFailure: onFailure}}}
}

// userEvents returns the number of events in the profile of user, or -1
// when it cannot be read.
func (ts *testServer) userEvents(user string) int {
	ts.t.Helper()
	var p struct{ Events int }
	if code := ts.getJSON("/v1/users/"+user, &p); code != 200 {
		return -1
	}
	return p.Events
}

func eventsBatch(user, idPrefix string, n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%s%d","user":%q,"type":"view","item":"i%d"}`, idPrefix, i, user, i%7)
	}
	return b.String() + "]"
}

// TestEventsWaitOutASlowSync: events requests past their concurrency bound
// wait while the ones in progress wait for a sync of the write-ahead log
// that the disk holds far longer than --queue-wait (a flush or a compaction
// can hold one for a few hundred milliseconds), and are all acknowledged
// rather than shed.
func TestEventsWaitOutASlowSync(t *testing.T) {
	fs := newFaultFS(1 << 40)
	opts := diskOptions(fs, nil)
	opts.Admission = AdmissionOptions{Events: 1}
	ts := startServer(t, t.TempDir(), nil, opts)
	fs.syncDelay.Store(int64(200 * time.Millisecond)) // 20 times the default --queue-wait

	const users = 3
	codes := make(chan string, users)
	for i := range users {
		user := fmt.Sprintf("slow%d", i)
		go func() {
			code, out := ts.post("/v1/events", eventsBatch(user, user, 2))
			codes <- fmt.Sprintf("%s: %d %s", user, code, out)
		}()
		// Each request comes while the ones before it hold the only place
		// or wait for it.
		waitFor(t, "the request in progress or waiting", func() bool {
			n, w := ts.srv.gates[classEvents].load()
			return n+w == i+1
		})
	}
	for range users {
		if got := <-codes; !strings.Contains(got, ": 200 ") {
			t.Errorf("events during a slow sync: %s, want 200", got)
		}
	}
	fs.syncDelay.Store(0)
	for i := range users {
		if n := ts.userEvents(fmt.Sprintf("slow%d", i)); n != 2 {
			t.Errorf("slow%d holds %d events, want 2", i, n)
		}
	}
	if got := ts.counter("tailor_http_shed_total", "class", "events"); got != 0 {
		t.Errorf("events shed during a slow sync: %v, want 0", got)
	}
}

// TestFullDiskRefusesWritesAndResumes: below the free-space floor, writes
// get 507 while reads, recommend and bids go on and /readyz says degraded;
// when space returns, writes resume without a restart.
func TestFullDiskRefusesWritesAndResumes(t *testing.T) {
	fs := newFaultFS(1 << 30)
	ts := startServer(t, t.TempDir(), nil, diskOptions(fs, nil))
	ballast := filepath.Join(ts.dir, "tailor.ballast")
	if fi, err := os.Stat(ballast); err != nil || fi.Size() != testBallast {
		t.Fatalf("ballast: %v %v, want a %d-byte file", fi, err, testBallast)
	}
	ts.mustPost("/v1/events", eventsBatch("u1", "a", 20))

	fs.free.Store(testFloor / 2)
	ts.srv.svc.Disk().Check()
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/events", eventsBatch("u1", "b", 2)},
		{"POST", "/v1/items", `{"id":"x","title":"x"}`},
		{"POST", "/v1/users", `{"id":"u1","region":"north"}`},
		{"DELETE", "/v1/users/u1", ""},
		{"POST", "/v1/segments/refresh", ""},
		{"POST", "/v1/audiences/a", `{"expression":"purchases > 0"}`},
	} {
		code, out := ts.do(c.method, c.path, "application/json", c.body)
		wantError(t, c.method+" "+c.path+" on a full disk", code, out, 507, "insufficient_storage", "")
		if !strings.Contains(out, "floor") {
			t.Errorf("%s %s: %s, want the reason to name the floor", c.method, c.path, out)
		}
	}
	if n := ts.userEvents("u1"); n != 20 {
		t.Errorf("profile on a full disk holds %d events, want the 20 acknowledged", n)
	}
	if code, out := ts.post("/v1/recommend", `{"user":"u1"}`); code != 200 {
		t.Errorf("recommend on a full disk = %d %s", code, out)
	}
	if code, _ := ts.rawBid([]byte(`{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`)); code != 204 && code != 200 {
		t.Errorf("bid on a full disk = %d", code)
	}
	if code, out := ts.do("GET", "/readyz", "", ""); code != 200 || !strings.Contains(out, `"degraded"`) || !strings.Contains(out, "free") {
		t.Errorf("/readyz on a full disk = %d %s, want degraded with the reason", code, out)
	}
	if code, out := ts.do("GET", "/healthz", "", ""); code != 200 || !strings.Contains(out, `"ok"`) {
		t.Errorf("/healthz on a full disk = %d %s, want ok", code, out)
	}

	fs.free.Store(1 << 30)
	ts.srv.svc.Disk().Check()
	ts.mustPost("/v1/events", eventsBatch("u1", "b", 2))
	if n := ts.userEvents("u1"); n != 22 {
		t.Errorf("after space returned: %d events, want 22", n)
	}
	if code, out := ts.do("GET", "/readyz", "", ""); code != 200 || !strings.Contains(out, `"ok"`) {
		t.Errorf("/readyz after space returned = %d %s", code, out)
	}
	if _, err := os.Stat(ballast); err != nil {
		t.Errorf("ballast not made again: %v", err)
	}
}

// TestDiskFillsBetweenChecks: when the disk fills before a check has seen
// it, the write that meets ENOSPC frees the ballast and succeeds; Pebble
// never sees the error, the process goes on, and the next write is refused.
func TestDiskFillsBetweenChecks(t *testing.T) {
	fs := newFaultFS(1 << 30)
	dir := t.TempDir()
	ts := startServer(t, dir, nil, diskOptions(fs, func(err error) { t.Errorf("store failed: %v", err) }))
	ts.mustPost("/v1/events", eventsBatch("u1", "a", 20))
	fs.free.Store(100) // filled behind tailor's back
	ts.mustPost("/v1/events", eventsBatch("u1", "b", 20))
	code, out := ts.post("/v1/events", eventsBatch("u1", "c", 1))
	wantError(t, "a write after the disk filled", code, out, 507, "insufficient_storage", "")
	if _, err := os.Stat(filepath.Join(dir, "tailor.ballast")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ballast still there: %v", err)
	}
	fs.free.Store(1 << 30)
	ts.stop()
	ts = startServer(t, dir, nil, diskOptions(fs, nil))
	if n := ts.userEvents("u1"); n != 40 {
		t.Errorf("after a restart: %d events, want the 40 acknowledged", n)
	}
}

// TestStoreFaults injects write and sync errors into the write-ahead log:
// the batch that meets one is answered 503; nothing panics; every later
// request is answered at once (503 for all but the health checks) rather
// than hanging; and the data directory as the crash leaves it holds every
// acknowledged event and none of the failed batch.
func TestStoreFaults(t *testing.T) {
	for _, fault := range []struct {
		name string
		mode int32
	}{{"write", walFaultWrite}, {"sync", walFaultSync}} {
		t.Run(fault.name, func(t *testing.T) {
			fs := newFaultFS(1 << 30)
			dir := t.TempDir()
			failed := make(chan error, 1)
			ts := startServer(t, dir, nil, diskOptions(fs, func(err error) { failed <- err }))
			ts.mustPost("/v1/events", eventsBatch("u1", "a", 20))

			fs.walFault.Store(fault.mode)
			code, out := ts.post("/v1/events", eventsBatch("u1", "b", 5))
			wantError(t, "the batch that met the fault", code, out, 503, "", "")
			select {
			case err := <-failed:
				if !errors.Is(err, errInjected) {
					t.Errorf("OnFailure(%v), want the injected error", err)
				}
			default:
				t.Fatal("OnFailure was not called")
			}
			for _, c := range []struct{ method, path, body string }{
				{"POST", "/v1/events", eventsBatch("u1", "c", 1)},
				{"GET", "/v1/users/u1", ""},
				{"POST", "/v1/recommend", `{"user":"u1"}`},
			} {
				code, out := ts.do(c.method, c.path, "application/json", c.body)
				wantError(t, c.method+" "+c.path+" after the failure", code, out, 503, "storage_failed", "")
			}
			if code, out := ts.do("GET", "/readyz", "", ""); code != 503 || !strings.Contains(out, `"failed"`) {
				t.Errorf("/readyz after the failure = %d %s, want 503 failed", code, out)
			}
			if code, _ := ts.do("GET", "/healthz", "", ""); code != 200 {
				t.Errorf("/healthz after the failure = %d, want 200", code)
			}

			// The process would exit here. Take the directory as it is, as a
			// crash leaves it, and leave this server be: closing it would
			// write to a store that has failed.
			ts.ln.Close()
			<-ts.done
			ts.srv = nil
			image := t.TempDir()
			copyDir(t, dir, image)
			fs.walFault.Store(walFaultNone)
			after := startServer(t, image, nil, Options{})
			if n := after.userEvents("u1"); n != 20 {
				t.Errorf("after the crash: %d events, want exactly the 20 acknowledged", n)
			}
			// The failed batch was never applied: sent again, it is new.
			if out := after.mustPost("/v1/events", eventsBatch("u1", "b", 5)); !strings.Contains(out, `"accepted":5,"duplicates":0`) {
				t.Errorf("the failed batch sent again: %s, want 5 accepted", out)
			}
		})
	}
}

// copyDir copies the files of src into dst, as they are now.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}
