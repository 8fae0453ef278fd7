package server

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
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
type congestion struct {
	limit    uint64 // runnable goroutines past which requests are shed
	runnable func() uint64
}

func newCongestion(perCore int, runnable func() uint64) *congestion {
	if runnable == nil {
		runnable = runnableGoroutines()
	}
	return &congestion{limit: uint64(perCore * runtime.GOMAXPROCS(0)), runnable: runnable}
}

// allow reports whether a request may go on now.
func (c *congestion) allow() bool {
	return c == nil || c.runnable() <= c.limit
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
