package trigger

import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/redistest"
)

// TestSharedDeliveryPostsEachRecordOnce runs two nodes' outboxes over one
// Redis store: records entered through either are POSTed once each, in
// order, by whichever node holds the audience's claim; when that node
// stops, the other takes over; a claim left by a node that died lapses and
// is taken over too.
func TestSharedDeliveryPostsEachRecordOnce(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3})
	rdb := c.Client(t)
	e := newEnv(t) // the audiences, which both nodes follow
	h := newHook(t, secret, 200)
	e.put("x", h.URL, secret)

	opts := DeliveryOptions{AllowPrivate: true, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		Poll: 5 * time.Millisecond, Logger: log.New(&e.log, "", 0)}
	type node struct {
		out  *Outbox
		stop func()
	}
	start := func(name string) *node {
		n := &node{out: OpenOutbox(NewRedis(rdb, "t:"), OutboxOptions{Node: name, ClaimTTL: 300 * time.Millisecond})}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.out.Deliver(ctx, e.aud, opts)
		}()
		n.stop = func() { cancel(); <-done }
		t.Cleanup(n.stop)
		return n
	}
	nodes := []*node{start("n1"), start("n2")}
	enter := func(via *node, aud string, users ...string) {
		t.Helper()
		for _, u := range users {
			evals := []Evaluation{{User: u, Version: 1, Member: func(*audience.Audience) bool { return true }}}
			if _, err := via.out.Apply([]*audience.Audience{{Name: aud}}, evals, 2000); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("u%02d", i))
		}
		return out
	}
	// delivering returns the node that delivers audience x once its cursor
	// has reached seq, when exactly one does.
	delivering := func(seq uint64) *node {
		t.Helper()
		var who *node
		waitFor(t, fmt.Sprintf("one node to deliver x up to record %d", seq), func() bool {
			who = nil
			for _, n := range nodes {
				for _, q := range n.out.Queues() {
					if q.Audience == "x" && q.Delivering {
						if who != nil || q.Cursor != seq {
							return false
						}
						who = n
					}
				}
			}
			return who != nil
		})
		return who
	}

	for i, u := range names(0, 30) {
		enter(nodes[i%2], "x", u)
	}
	wantUsers(t, "hook", h.receive(t, 30), names(0, 30)...)
	first := delivering(30)
	if n := h.calls.Load(); n != 30 {
		t.Errorf("hook called %d times for 30 records, want 30", n)
	}

	// The node delivering stops (a restart, a deploy): the other takes over.
	first.stop()
	other := nodes[0]
	if other == first {
		other = nodes[1]
	}
	enter(first, "x", names(30, 40)...)
	wantUsers(t, "hook after a handover", h.receive(t, 10), names(30, 40)...)
	if delivering(40) != other {
		t.Error("the node left is not the one delivering")
	}
	if n := h.calls.Load(); n != 40 {
		t.Errorf("hook called %d times for 40 records, want 40", n)
	}

	// A node that died holding a claim: its claim lapses, then the node
	// left delivers.
	dead := NewRedis(rdb, "t:")
	if ok, err := dead.Claim(context.Background(), "y", "n9", 300*time.Millisecond); !ok || err != nil {
		t.Fatalf("Claim for the dead node = %v, %v", ok, err)
	}
	e.put("y", h.URL, secret)
	enter(other, "y", "v1", "v2")
	wantUsers(t, "hook once the dead node's claim lapsed", h.receive(t, 2), "v1", "v2")
	if n := h.calls.Load(); n != 42 {
		t.Errorf("hook called %d times for 42 records, want 42", n)
	}
}

// TestSharedApplyPausesWhenRedisIsDown: while the shared store cannot be
// reached, one Apply fails within ApplyTimeout and the next ones answer
// ErrPaused without trying, so the events a node applies do not wait on it.
func TestSharedApplyPausesWhenRedisIsDown(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3})
	out := OpenOutbox(NewRedis(c.Client(t), "p:"), OutboxOptions{Node: "n1", ApplyTimeout: 500 * time.Millisecond, Pause: time.Hour})
	aud := []*audience.Audience{{Name: "a"}}
	in := []Evaluation{{User: "u", Version: 1, Member: func(*audience.Audience) bool { return true }}}
	if recs, err := out.Apply(aud, in, 1000); err != nil || len(recs) != 1 {
		t.Fatalf("Apply = %v, %v; want one record", recs, err)
	}
	for _, addr := range c.Masters(t) {
		c.Kill(addr)
	}
	if _, err := out.Apply(aud, in, 2000); err == nil || errors.Is(err, ErrPaused) {
		t.Fatalf("Apply with every master down = %v; want the store's error", err)
	}
	if _, err := out.Apply(aud, in, 3000); !errors.Is(err, ErrPaused) {
		t.Errorf("Apply right after a failure = %v; want ErrPaused", err)
	}
}

// TestSharedSweepRunsOnOneNode: where nodes share the store, one node holds
// the periodic sweep and renews it at each of its sweeps; the others pass;
// a single node always sweeps.
func TestSharedSweepRunsOnOneNode(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3})
	rdb := c.Client(t)
	n1 := OpenOutbox(NewRedis(rdb, "s:"), OutboxOptions{Node: "n1"})
	n2 := OpenOutbox(NewRedis(rdb, "s:"), OutboxOptions{Node: "n2"})
	if !n1.ClaimSweep(time.Minute) || n2.ClaimSweep(time.Minute) || !n1.ClaimSweep(time.Minute) {
		t.Error("the first node should take and keep the sweep, the second pass")
	}
	if single := OpenOutbox(openPebbleStore(t), OutboxOptions{}); !single.ClaimSweep(time.Minute) {
		t.Error("a single node passed its sweep")
	}
}
