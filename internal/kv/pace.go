package kv

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The write categories Pebble gives the files of its background work.
const (
	categoryCompaction vfs.DiskWriteCategory = "pebble-compaction"
	categoryFlush      vfs.DiskWriteCategory = "pebble-memtable-flush"
)

// Pacer spreads Pebble's flushes and compactions out while requests are
// being served.
//
// A flush or a compaction is one goroutine that runs on the CPU for seconds,
// making no call that blocks. Go's scheduler lets it run for 10 ms at a
// time, and it looks at the network for requests only when it has nothing
// else to run: on a server with few cores, every request that arrives during
// a compaction waits up to 10 ms, more than the rest of its service. With a
// Pacer, a flush or a compaction sleeps for a moment after each Chunk bytes
// it writes, and a compaction after each Chunk bytes it reads, while
// requests are being served, so that the scheduler polls the network and
// runs the requests waiting there first. When no request has
// started within Window, background work runs at full speed.
//
// While requests are served, a Pacer also holds what flushes and
// compactions write to WriteRate bytes a second, unless Pebble has fallen
// behind (see behindNow). A sync of the write-ahead log makes the disk
// persist everything written before it: in a test program on the
// development machine's disk, syncs that take half a millisecond took 20-54
// ms beside a file of 32 MiB written at full speed, and none took over 11
// ms with the file written at 32 MiB a second.
type Pacer struct {
	chunk    int64
	pause    time.Duration
	yield    float64
	most     int64
	window   int64
	perChunk int64 // nanoseconds a chunk's writes take at WriteRate; 0: no cap
	now      func() int64
	sleep    func(time.Duration)

	last   atomic.Int64 // when the latest request started, per now
	pauses atomic.Int64
	asked  atomic.Int64 // nanoseconds of sleep the pauses asked for

	behind  atomic.Pointer[func() bool] // whether Pebble has fallen behind; nil: never
	checked atomic.Int64                // when behind was last asked, per now
	late    atomic.Bool                 // its answer then
}

// PacerOptions configures NewPacer. Zero fields take their defaults.
type PacerOptions struct {
	// Chunk is how many bytes a flush or a compaction writes, or a
	// compaction reads, between pauses.
	// Default 64 KiB, about half a millisecond of a compaction's CPU.
	Chunk int64
	// Pause is the shortest sleep. Default 20 µs.
	Pause time.Duration
	// Yield is how long a sleep lasts against the time the chunk before it
	// took, so that while requests are served, background work takes about
	// 1/(1+Yield) of the CPU. Default 1.
	Yield float64
	// MaxPause is the longest sleep. Default 2 ms.
	MaxPause time.Duration
	// Window is how recently a request must have started for the server to
	// count as serving. Default 10 ms.
	Window time.Duration
	// WriteRate is the most bytes a second flushes and compactions write
	// while requests are served and Pebble keeps up. Default 32 MiB;
	// negative: no cap.
	WriteRate int64
	// Now returns the time in nanoseconds; default the monotonic clock.
	Now func() int64
	// Sleep pauses; default time.Sleep.
	Sleep func(time.Duration)
}

// NewPacer returns a Pacer; give it to Open through Options.Pacer and call
// Serving as each request starts.
func NewPacer(o PacerOptions) *Pacer {
	if o.Chunk <= 0 {
		o.Chunk = 64 << 10
	}
	if o.Pause <= 0 {
		o.Pause = 20 * time.Microsecond
	}
	if o.Yield <= 0 {
		o.Yield = 1
	}
	if o.MaxPause <= 0 {
		o.MaxPause = 2 * time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Millisecond
	}
	if o.WriteRate == 0 {
		o.WriteRate = 32 << 20
	}
	if o.Now == nil {
		start := time.Now()
		o.Now = func() int64 { return int64(time.Since(start)) }
	}
	if o.Sleep == nil {
		o.Sleep = time.Sleep
	}
	p := &Pacer{chunk: o.Chunk, pause: o.Pause, yield: o.Yield, most: int64(max(o.MaxPause, o.Pause)),
		window: int64(o.Window), now: o.Now, sleep: o.Sleep}
	if o.WriteRate > 0 {
		p.perChunk = int64(float64(o.Chunk) / float64(o.WriteRate) * float64(time.Second))
	}
	p.last.Store(-int64(o.Window)) // not serving yet
	return p
}

// Serving records that a request is starting. Safe for concurrent use; it
// writes the shared clock at most a few times per window, so that cores
// serving at once do not contend for it.
func (p *Pacer) Serving() {
	now := p.now()
	if now-p.last.Load() > p.window/8 {
		p.last.Store(now)
	}
}

// Pauses returns how many pauses flushes and compactions took and how long
// they asked to sleep in all.
func (p *Pacer) Pauses() (n int64, asked time.Duration) {
	return p.pauses.Load(), time.Duration(p.asked.Load())
}

// progress is what a file's background work has done since its last pause.
type progress struct {
	bytes int64
	from  int64 // when the chunk began, per the pacer's clock; 0: not yet
}

// behindEvery is how often the pacer asks whether Pebble has fallen behind.
const behindEvery = int64(50 * time.Millisecond)

// watch has the pacer ask behind, at most every 50 ms, whether Pebble has
// fallen behind: while it has, writes run without the rate's cap.
func (p *Pacer) watch(behind func() bool) { p.behind.Store(&behind) }

// behindNow reports whether Pebble had fallen behind when last asked.
func (p *Pacer) behindNow(now int64) bool {
	f := p.behind.Load()
	if f == nil {
		return false
	}
	if at := p.checked.Load(); now-at >= behindEvery && p.checked.CompareAndSwap(at, now) {
		p.late.Store((*f)())
	}
	return p.late.Load()
}

// moved is called by background work that has written (write) or read n
// bytes since its last call.
func (p *Pacer) moved(pr *progress, n int, write bool) {
	if pr.from == 0 {
		pr.from = p.now()
	}
	pr.bytes += int64(n)
	if pr.bytes < p.chunk {
		return
	}
	now := p.now()
	took := now - pr.from
	pr.bytes, pr.from = 0, now
	if now-p.last.Load() >= p.window {
		return // nobody is waiting: full speed
	}
	pause := min(max(int64(float64(took)*p.yield), int64(p.pause)), p.most)
	if write && p.perChunk > 0 && !p.behindNow(now) {
		// The chunk's time at the rate, less what it took.
		pause = max(pause, p.perChunk-took)
	}
	p.pauses.Add(1)
	p.asked.Add(pause)
	p.sleep(time.Duration(pause))
	pr.from = p.now()
}

// pacedFS gives Pebble's flushes and compactions files whose writes the
// pacer spreads out; every other file is the inner file system's.
type pacedFS struct {
	vfs.FS
	pacer *Pacer
}

func (fs *pacedFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, cat)
	if err != nil || (cat != categoryCompaction && cat != categoryFlush) {
		return f, err
	}
	return &pacedFile{File: f, pacer: fs.pacer}, nil
}

// Open paces the reads of files opened for long sequential reads: the
// inputs of compactions (and of copies such as backups' checkpoints). A
// compaction that drops most of what it reads (values overwritten since)
// writes seldom, so its reads are paced too.
func (fs *pacedFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil || !slices.Contains(opts, vfs.SequentialReadsOption) {
		return f, err
	}
	return &pacedFile{File: f, pacer: fs.pacer}, nil
}

// Unwrap returns the file system under the pacer.
func (fs *pacedFS) Unwrap() vfs.FS { return fs.FS }

// pacedFile is a table being written by a flush or a compaction, or read
// by a compaction. One goroutine uses it at a time.
type pacedFile struct {
	vfs.File
	pacer *Pacer
	done  progress
}

func (f *pacedFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.pacer.moved(&f.done, n, true)
	return n, err
}

func (f *pacedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.pacer.moved(&f.done, n, false)
	return n, err
}
