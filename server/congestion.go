package server

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
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
// requests the server has time for.
type congestion struct {
	limit    uint64 // runnable goroutines past which requests are shed
	grace    int64  // ns the queue may stay past limit before requests are shed
	runnable func() uint64
	now      func() int64 // monotonic ns
	since    atomic.Int64 // when the queue was first seen past the bound; 0 while it is not
}

func newCongestion(perCore int, grace time.Duration, runnable func() uint64, now func() int64) *congestion {
	if runnable == nil {
		runnable = runnableGoroutines()
	}
	if now == nil {
		start := time.Now()
		now = func() int64 { return int64(time.Since(start)) + 1 }
	}
	return &congestion{limit: uint64(perCore * runtime.GOMAXPROCS(0)), grace: int64(grace), runnable: runnable, now: now}
}

// allow reports whether a request may go on now.
func (c *congestion) allow() bool {
	if c == nil || c.runnable() <= c.limit {
		if c != nil && c.since.Load() != 0 {
			c.since.Store(0)
		}
		return true
	}
	now := c.now()
	since := c.since.Load()
	if since == 0 {
		c.since.CompareAndSwap(0, now)
		return true
	}
	return now-since < c.grace
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
