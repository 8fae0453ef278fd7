package server

import (
	"runtime"
	"sync"
	"time"
)

// AdmissionOptions bound the work in progress per kind of request, so that
// past the server's capacity it answers at once (429, or a no-bid) instead
// of letting every request wait in an ever longer queue. Zero fields take
// their defaults.
type AdmissionOptions struct {
	// Recommend, Bid, Events and Other bound the requests of each kind
	// being handled at once: recommend, bid, events, and every other route
	// but the health checks, /metrics and the bid notices (which are never
	// shed: they carry money). They bound work that waits (for a disk, a
	// lock); an overload of work that computes is shed by Runnable. Defaults:
	// 32 per core (GOMAXPROCS) for recommend and bid, 64 and 16 in all for
	// events and the rest.
	Recommend, Bid, Events, Other int
	// Wait is how long a request may wait for a free place before it is
	// shed. Waiting requests are admitted newest first, so that under
	// overload the ones answered are answered fast and the ones that waited
	// longest are shed. Default 10 ms.
	Wait time.Duration
	// EventsWait is Wait for events requests. Those in progress wait for
	// the write-ahead log's sync, which a disk busy with a flush or a
	// compaction can hold for a few hundred milliseconds now and then; a
	// client would rather see its events acknowledged late than refused.
	// Default 1 s.
	EventsWait time.Duration
	// Queue bounds the requests waiting per kind; more are shed at once.
	// Default 1,024.
	Queue int
	// Runnable bounds, per core (GOMAXPROCS), the goroutines waiting for a
	// CPU: past it, for longer than RunnableGrace and while the process has
	// kept 85% of its cores busy, requests are shed at once (see
	// congestion), which is what sheds an overload of handlers that only
	// compute. Default 16; negative turns it off.
	Runnable int
	// RunnableGrace is how long the queue may stay past Runnable before
	// requests are shed. Default 2 ms.
	RunnableGrace time.Duration
}

func (o *AdmissionOptions) setDefaults() {
	procs := runtime.GOMAXPROCS(0)
	if o.Recommend <= 0 {
		o.Recommend = 32 * procs
	}
	if o.Bid <= 0 {
		o.Bid = 32 * procs
	}
	if o.Events <= 0 {
		o.Events = 64
	}
	if o.Other <= 0 {
		o.Other = 16
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Millisecond
	}
	if o.EventsWait <= 0 {
		o.EventsWait = time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Runnable == 0 {
		o.Runnable = 16
	}
	if o.RunnableGrace <= 0 {
		o.RunnableGrace = 2 * time.Millisecond
	}
}

// admitClass is a kind of request with a bound of its own.
type admitClass uint8

const (
	classNone admitClass = iota // never shed
	classRecommend
	classBid
	classEvents
	classOther
	numClasses
)

var classNames = [numClasses]string{"none", "recommend", "bid", "events", "other"}

// gate admits up to limit requests at once; others wait up to a deadline,
// newest first (adaptive LIFO), or are refused.
type gate struct {
	limit, queue int
	wait         time.Duration

	mu       sync.Mutex
	inflight int
	waiting  []*waiter // a stack: the newest waiter is last
}

type waiter struct {
	ready chan struct{} // receives once the place is handed over
	timer *time.Timer
}

var waiters = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{ready: make(chan struct{}, 1), timer: t}
}}

func newGate(limit, queue int, wait time.Duration) *gate {
	return &gate{limit: limit, queue: queue, wait: wait}
}

// enter takes a place, waiting for one up to the gate's wait; it reports
// false when the request is to be shed. Each true must be paired with leave.
func (g *gate) enter() bool {
	g.mu.Lock()
	if g.inflight < g.limit {
		g.inflight++
		g.mu.Unlock()
		return true
	}
	if len(g.waiting) >= g.queue {
		g.mu.Unlock()
		return false
	}
	w := waiters.Get().(*waiter)
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()

	w.timer.Reset(g.wait)
	select {
	case <-w.ready:
		w.timer.Stop()
		waiters.Put(w)
		return true
	case <-w.timer.C:
	}
	g.mu.Lock()
	if i := indexOf(g.waiting, w); i >= 0 {
		g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
		g.mu.Unlock()
		waiters.Put(w)
		return false
	}
	// leave handed the place over just as the wait ended: take it.
	g.mu.Unlock()
	<-w.ready
	waiters.Put(w)
	return true
}

// leave gives the place back, handing it to the newest waiter if any.
func (g *gate) leave() {
	g.mu.Lock()
	if n := len(g.waiting); n > 0 {
		w := g.waiting[n-1]
		g.waiting[n-1] = nil
		g.waiting = g.waiting[:n-1]
		g.mu.Unlock()
		w.ready <- struct{}{}
		return
	}
	g.inflight--
	g.mu.Unlock()
}

// load returns the requests in progress and waiting.
func (g *gate) load() (inflight, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, len(g.waiting)
}

func indexOf(ws []*waiter, w *waiter) int {
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i] == w {
			return i
		}
	}
	return -1
}
