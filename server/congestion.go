package server

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// congestion sheds work when the CPU is the bottleneck. The admission gates
// bound the requests inside handlers, which is what limits work that waits
// (a disk, a lock); but a handler that only computes runs to its end once
// it has a CPU, so a CPU-bound overload never fills a gate: the queue forms
// before the handlers, as goroutines that have a request to read and wait
// their turn on a CPU. congestion reads the length of that queue, the Go
// scheduler's count of runnable goroutines, as each request starts (about
// 80 ns), and sheds the request while it is past a bound: a request that
// comes out of a long queue has waited long already and would wait again
// behind the same queue for its answer. Shedding costs a fraction of
// serving, so the queue drains back to the bound and the requests served
// are served fast.
//
// A queue past the bound for less than grace is let be: a pause (a
// collection, a burst of arrivals, a compaction's turn on the CPU) lines
// goroutines up for a moment at any load, and shedding then would refuse
// requests the server has time for. So is a long queue while the process
// has used less than busyShare of its cores over the last busyWindow: a
// stall of a few milliseconds lines up every request that arrives meanwhile,
// but a server with time to spare serves them all once it ends, and an
// overload that shedding is for keeps the cores busy.
type congestion struct {
	limit uint64 // runnable goroutines past which requests are shed
	grace int64  // ns the queue may stay past limit before requests are shed
	procs int64  // the cores the process may use (GOMAXPROCS)
	probe congestionProbe
	since atomic.Int64 // when the queue was first seen past the bound; 0 while it is not

	mu      sync.Mutex
	samples [busySamples]cpuSample // the process's CPU time, taken while the queue is long
	next    int                    // where the next sample goes
}

// congestionProbe reads what congestion judges by; tests give their own.
type congestionProbe struct {
	runnable func() uint64 // goroutines waiting for a CPU
	now      func() int64  // monotonic ns
	cpu      func() int64  // CPU time the process has used, ns
}

// cpuSample is the process's CPU time at a moment.
type cpuSample struct{ at, cpu int64 }

const (
	// busyShare of the cores used over busyWindow is an overload's: below
	// it, a long queue is a stall, not more work than the cores can do.
	busyShare  = 0.85
	busyWindow = 100 * time.Millisecond
	// busyEvery spaces the samples of CPU time, taken only while the queue
	// is past its bound; busySamples of them cover more than busyWindow.
	busyEvery   = 10 * time.Millisecond
	busySamples = 16
)

func newCongestion(perCore int, grace time.Duration, probe congestionProbe) *congestion {
	if probe.runnable == nil {
		probe.runnable = runnableGoroutines()
	}
	if probe.now == nil {
		start := time.Now()
		probe.now = func() int64 { return int64(time.Since(start)) + 1 }
	}
	if probe.cpu == nil {
		probe.cpu = processCPU
	}
	procs := runtime.GOMAXPROCS(0)
	c := &congestion{limit: uint64(perCore * procs), grace: int64(grace), procs: int64(procs), probe: probe}
	// The first long queue is judged against the CPU used since the start.
	c.samples[0] = cpuSample{at: probe.now(), cpu: probe.cpu()}
	c.next = 1
	return c
}

// runnable returns the goroutines waiting for a CPU now.
func (c *congestion) runnable() uint64 { return c.probe.runnable() }

// allow reports whether a request may go on now.
func (c *congestion) allow() bool {
	if c == nil || c.probe.runnable() <= c.limit {
		if c != nil && c.since.Load() != 0 {
			c.since.Store(0)
		}
		return true
	}
	now := c.probe.now()
	since := c.since.Load()
	if since == 0 {
		c.since.CompareAndSwap(0, now)
		return true
	}
	return now-since < c.grace || !c.busy(now)
}

// busy reports whether the process used at least busyShare of its cores
// over the last busyWindow, by the CPU time sampled while the queue was
// long (and once at the start). Until samples span the window, it judges
// by the oldest: an overload is called busy within about busyWindow of its
// start, whatever came before.
func (c *congestion) busy(now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last := &c.samples[(c.next+busySamples-1)%busySamples]
	if last.at == 0 || now-last.at >= int64(busyEvery) {
		c.samples[c.next] = cpuSample{at: now, cpu: c.probe.cpu()}
		c.next = (c.next + 1) % busySamples
		last = &c.samples[(c.next+busySamples-1)%busySamples]
	}
	// The newest sample at least busyWindow old, else the oldest there is.
	var from *cpuSample
	for i := 1; i < busySamples; i++ {
		s := &c.samples[(c.next+busySamples-1-i)%busySamples]
		if s.at == 0 {
			break
		}
		from = s
		if last.at-s.at >= int64(busyWindow) {
			break
		}
	}
	if from == nil || last.at == from.at || from.cpu < 0 || last.cpu < 0 {
		return true // nothing to judge by: the queue alone decides
	}
	return float64(last.cpu-from.cpu) >= busyShare*float64(c.procs*(last.at-from.at))
}

// processCPU returns the CPU time, user and system, the process has used.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// runnableGoroutines returns a reader of the number of goroutines ready to
// run and waiting for a CPU.
func runnableGoroutines() func() uint64 {
	const name = "/sched/goroutines/runnable:goroutines"
	probe := []rtmetrics.Sample{{Name: name}}
	rtmetrics.Read(probe)
	if probe[0].Value.Kind() != rtmetrics.KindUint64 {
		return func() uint64 { return 0 } // not in this Go: never congested
	}
	// rtmetrics.Read keeps its argument, so each call takes a pooled sample
	// rather than allocate one.
	pool := sync.Pool{New: func() any { return &[1]rtmetrics.Sample{{Name: name}} }}
	return func() uint64 {
		s := pool.Get().(*[1]rtmetrics.Sample)
		rtmetrics.Read(s[:])
		n := s[0].Value.Uint64()
		pool.Put(s)
		return n
	}
}
