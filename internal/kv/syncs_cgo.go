//go:build cgo && linux

package kv

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

// Syncs wait in a ring for a few threads of their own, outside Go's
// scheduler; each answer, the errno and whether the whole file was synced,
// is written to the asker's pipe.
enum { TAILOR_FSYNC, TAILOR_FDATASYNC, TAILOR_SYNC_RANGE };
struct tailor_sync { int fd, op, notify; int64_t offset; };
enum { TAILOR_SYNC_QUEUE = 1024, TAILOR_SYNC_THREADS = 4 };
static struct tailor_sync tailor_sync_q[TAILOR_SYNC_QUEUE];
static int tailor_sync_head, tailor_sync_len, tailor_sync_threads;
static pthread_mutex_t tailor_sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tailor_sync_cv = PTHREAD_COND_INITIALIZER;

static void tailor_sync_run(struct tailor_sync r) {
	int32_t answer[2] = {0, 0}; // errno, whole file synced
	int rc;
	switch (r.op) {
	case TAILOR_FSYNC:
		rc = fsync(r.fd);
		break;
	case TAILOR_FDATASYNC:
		rc = fdatasync(r.fd);
		break;
	default:
		// As Pebble's own SyncTo: wait for the writes under way, start
		// the rest up to offset; where the call is missing, sync it all.
		rc = sync_file_range(r.fd, 0, r.offset, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE);
		if (rc != 0 && errno == ENOSYS) {
			rc = fdatasync(r.fd);
			answer[1] = 1;
		}
	}
	if (rc != 0)
		answer[0] = errno;
	ssize_t n;
	do {
		n = write(r.notify, answer, sizeof answer);
	} while (n < 0 && errno == EINTR);
}

static void *tailor_sync_loop(void *arg) {
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&tailor_sync_mu);
		while (tailor_sync_len == 0)
			pthread_cond_wait(&tailor_sync_cv, &tailor_sync_mu);
		struct tailor_sync r = tailor_sync_q[tailor_sync_head];
		tailor_sync_head = (tailor_sync_head + 1) % TAILOR_SYNC_QUEUE;
		tailor_sync_len--;
		pthread_mutex_unlock(&tailor_sync_mu);
		tailor_sync_run(r);
	}
	return NULL;
}

// tailor_sync_submit queues op on fd, its answer to be written to notify.
// It returns 0 when the sync is queued, or an errno when it is not (no
// thread could be started, or the queue is full).
static int tailor_sync_submit(int fd, int op, int64_t offset, int notify) {
	pthread_mutex_lock(&tailor_sync_mu);
	while (tailor_sync_threads < TAILOR_SYNC_THREADS) {
		pthread_t t;
		int e = pthread_create(&t, NULL, tailor_sync_loop, NULL);
		if (e != 0) {
			if (tailor_sync_threads > 0)
				break;
			pthread_mutex_unlock(&tailor_sync_mu);
			return e;
		}
		pthread_detach(t);
		tailor_sync_threads++;
	}
	if (tailor_sync_len == TAILOR_SYNC_QUEUE) {
		pthread_mutex_unlock(&tailor_sync_mu);
		return EAGAIN;
	}
	tailor_sync_q[(tailor_sync_head + tailor_sync_len) % TAILOR_SYNC_QUEUE] =
		(struct tailor_sync){fd, op, notify, offset};
	tailor_sync_len++;
	pthread_cond_signal(&tailor_sync_cv);
	pthread_mutex_unlock(&tailor_sync_mu);
	return 0;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// DetachedSyncs reports whether this build syncs files on threads outside
// Go's scheduler (see detachSyncs): Linux builds with cgo do.
const DetachedSyncs = true

// detachSyncs returns fs with files whose Sync, SyncData and SyncTo run on a
// few threads outside Go's scheduler while the goroutine that asked waits
// parked on a pipe. A sync waits on the disk, often a millisecond or more;
// made by a goroutine, it holds a P that long, and on one core Go's monitor
// thread must notice and hand the P to another thread for the requests to
// go on, which keeps the monitor waking every 20 µs and costs two thread
// switches a sync. Detached, a sync holds no P.
func detachSyncs(fs vfs.FS) vfs.FS { return detachedFS{fs} }

// detachedFS gives files written through it detached syncs.
type detachedFS struct{ vfs.FS }

func (fs detachedFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return detach(fs.FS.Create(name, cat))
}

func (fs detachedFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return detach(fs.FS.ReuseForWrite(oldname, newname, cat))
}

func (fs detachedFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return detach(fs.FS.OpenReadWrite(name, cat, opts...))
}

func (fs detachedFS) OpenDir(name string) (vfs.File, error) { return detach(fs.FS.OpenDir(name)) }

// Unwrap returns the file system under the wrapper.
func (fs detachedFS) Unwrap() vfs.FS { return fs.FS }

func detach(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &detachedFile{File: f}, nil
}

// detachedFile is a file whose syncs run outside Go's scheduler. Its syncs
// run one at a time.
type detachedFile struct {
	vfs.File
	mu     sync.Mutex
	r, w   *os.File // the pipe a sync's answer comes back on, made at the first sync
	notify int      // w's descriptor
}

func (f *detachedFile) Sync() error {
	_, err := f.sync(C.TAILOR_FSYNC, 0)
	return err
}

func (f *detachedFile) SyncData() error {
	_, err := f.sync(C.TAILOR_FDATASYNC, 0)
	return err
}

// SyncTo is Pebble's: it waits for the writes under way and starts those
// up to length (sync_file_range), which a flush or a compaction does every
// 512 KiB and which waits on the disk as a sync does.
func (f *detachedFile) SyncTo(length int64) (fullSync bool, err error) {
	return f.sync(C.TAILOR_SYNC_RANGE, length)
}

var syncOps = map[C.int]string{C.TAILOR_FSYNC: "fsync", C.TAILOR_FDATASYNC: "fdatasync", C.TAILOR_SYNC_RANGE: "sync_file_range"}

func (f *detachedFile) sync(op C.int, offset int64) (fullSync bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		if err := f.openPipe(); err != nil {
			return false, err
		}
	}
	if C.tailor_sync_submit(C.int(f.File.Fd()), op, C.int64_t(offset), C.int(f.notify)) != 0 {
		// No thread, or a thousand syncs waiting: sync here.
		switch op {
		case C.TAILOR_FSYNC:
			return true, f.File.Sync()
		case C.TAILOR_FDATASYNC:
			return true, f.File.SyncData()
		}
		return f.File.SyncTo(offset)
	}
	var b [8]byte
	if _, err := io.ReadFull(f.r, b[:]); err != nil {
		return false, fmt.Errorf("kv: waiting for a sync: %w", err)
	}
	if e := syscall.Errno(binary.NativeEndian.Uint32(b[:4])); e != 0 {
		return false, os.NewSyscallError(syncOps[op], e)
	}
	return op != C.TAILOR_SYNC_RANGE || binary.NativeEndian.Uint32(b[4:]) != 0, nil
}

// openPipe makes the pipe a sync's answer comes back on. Its read end is
// in Go's network poller, so a reader waits parked.
func (f *detachedFile) openPipe() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("kv: cannot make a pipe for syncs: %w", err)
	}
	raw, err := w.SyscallConn()
	if err == nil {
		err = raw.Control(func(fd uintptr) { f.notify = int(fd) })
	}
	if err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("kv: cannot make a pipe for syncs: %w", err)
	}
	f.r, f.w = r, w
	return nil
}

func (f *detachedFile) Close() error {
	f.mu.Lock()
	if f.r != nil {
		f.r.Close()
		f.w.Close()
		f.r, f.w = nil, nil
	}
	f.mu.Unlock()
	return f.File.Close()
}
