package trigger

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/audience"
)

// worker is one audience's queue.
type worker struct {
	name        string
	webhook     string
	secret      string
	incarnation uint64
	updated     int64 // the audience's Updated time when the worker started
	client      *http.Client

	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	cursor   atomic.Uint64 // for Queues
	failures atomic.Int64
	claimed  atomic.Bool // for Queues: this node delivers the queue now
}

// serves reports whether w delivers a as it is now.
func (w *worker) serves(a *audience.Audience) bool {
	return w.webhook == a.Trigger.Webhook && w.secret == a.Trigger.Secret && w.incarnation == a.Incarnation()
}

// run delivers w's records until ctx ends: on a single node at once; where
// nodes share the store, while this node holds the queue's claim, trying to
// take it every Poll while another node holds it.
func (o *Outbox) run(ctx context.Context, w *worker, opts DeliveryOptions) {
	if w.secret == "" {
		o.keepRecords(ctx, w)
		opts.Logger.Printf("trigger: audience %s has a webhook but no secret: its records are kept, not POSTed, until trigger.secret is set (PUT the audience again with it)", w.name)
		return
	}
	if o.opts.Node == "" {
		w.claimed.Store(true)
		for ctx.Err() == nil {
			o.deliver(ctx, w, opts)
		}
		return
	}
	for ctx.Err() == nil {
		ok, err := o.store.Claim(ctx, w.name, o.opts.Node, o.opts.ClaimTTL)
		if err != nil && ctx.Err() == nil {
			opts.Logger.Printf("trigger: cannot claim the queue of audience %s: %v", w.name, err)
		}
		if ok {
			o.deliverClaimed(ctx, w, opts)
			continue
		}
		sleep(ctx, opts.Poll, nil)
	}
}

// keepRecords makes sure w's audience has a cursor, which keeps its records
// from now on for the queue that will deliver them once it has a secret.
func (o *Outbox) keepRecords(ctx context.Context, w *worker) {
	if o.opts.Node != "" {
		if ok, _ := o.store.Claim(ctx, w.name, o.opts.Node, o.opts.ClaimTTL); !ok {
			return // the node that holds the claim makes it
		}
		defer o.store.Unclaim(ctx, w.name, o.opts.Node)
	}
	o.loadCursor(ctx, w)
}

// deliverClaimed delivers w's records while this node keeps the claim it
// has just taken, renewing it every third of its lifetime, and gives it up
// when ctx ends.
func (o *Outbox) deliverClaimed(ctx context.Context, w *worker, opts DeliveryOptions) {
	w.claimed.Store(true)
	defer w.claimed.Store(false)
	held, lost := context.WithCancel(ctx)
	defer lost()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for sleep(held, o.opts.ClaimTTL/3, nil) {
			ok, err := o.store.Claim(held, w.name, o.opts.Node, o.opts.ClaimTTL)
			if err != nil && held.Err() == nil {
				opts.Logger.Printf("trigger: cannot renew the claim on the queue of audience %s: %v", w.name, err)
			}
			if !ok {
				lost()
				return
			}
		}
	}()
	o.deliver(held, w, opts)
	lost()
	<-renewed
	if ctx.Err() != nil {
		// Stopping (shut down, or the audience changed): let another node
		// take over at once rather than when the claim lapses.
		uctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		defer cancel()
		if err := o.store.Unclaim(uctx, w.name, o.opts.Node); err != nil {
			opts.Logger.Printf("trigger: cannot give up the claim on the queue of audience %s: %v", w.name, err)
		}
	}
}

// deliver POSTs w's records in order until ctx ends or the claim it was
// called under is lost.
func (o *Outbox) deliver(ctx context.Context, w *worker, opts DeliveryOptions) {
	c, err := o.loadCursor(ctx, w)
	if err != nil {
		opts.Logger.Printf("trigger: audience %s: %v", w.name, err)
		sleep(ctx, opts.Poll, nil)
		return
	}
	w.cursor.Store(c.Seq)
	save := func() bool {
		ok, err := o.store.SaveCursor(ctx, w.name, c, o.opts.Node)
		if err != nil {
			opts.Logger.Printf("trigger: cannot store the cursor of audience %s: %v", w.name, err)
		}
		w.cursor.Store(c.Seq)
		return ok || err != nil // a claim lost stops delivery; an error is retried with the next record
	}
	for ctx.Err() == nil {
		wake := o.store.Appended() // before reading, so no append goes unseen
		recs, err := o.store.Read(ctx, c.Seq, 100)
		if err != nil && ctx.Err() == nil {
			opts.Logger.Printf("trigger: audience %s: %v", w.name, err)
		}
		passed := false // over records not stored in the cursor yet
		for _, r := range recs {
			if r.Audience != w.name || r.TS < c.Since {
				c.Seq, passed = r.Seq, true
				continue
			}
			if passed {
				if !save() {
					return
				}
				passed = false
			}
			if !w.post(ctx, r, opts) {
				return
			}
			c.Seq = r.Seq
			if !save() {
				return
			}
		}
		if passed && !save() {
			return
		}
		if len(recs) > 0 {
			continue
		}
		sleep(ctx, opts.Poll, wake)
	}
}

// loadCursor returns w's stored cursor or, when there is none for its
// incarnation, stores and returns a new one that starts where the store
// starts new queues and passes over the records from before w's audience
// was updated.
func (o *Outbox) loadCursor(ctx context.Context, w *worker) (Cursor, error) {
	c, ok, err := o.store.Cursor(ctx, w.name)
	if err != nil {
		return c, err
	}
	if ok && c.Incarnation == w.incarnation {
		return c, nil
	}
	if ok {
		c.Seq = 0 // a re-created audience: Since passes over the old records
	}
	c.Since, c.Incarnation = w.updated, w.incarnation
	_, err = o.store.SaveCursor(ctx, w.name, c, o.opts.Node)
	return c, err
}

// sleep waits for d, ctx's end or wake (which may be nil), and reports
// whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
	return ctx.Err() == nil
}
