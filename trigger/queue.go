package trigger

import (
	"context"
	"encoding/binary"
	"errors"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/kv"
)

// legacyKey holds the single cursor of the versions that delivered every
// audience in one loop. It is read, never written: a queue without a cursor
// of its own starts from it.
var legacyKey = kv.Key(kv.PrefixMeta, "trigger-delivered")

// cursorPrefix starts the meta key of each audience's cursor; the audience
// name follows (names hold no '/').
const cursorPrefix = "trigger-delivered/"

func cursorKey(name string) []byte { return kv.Key(kv.PrefixMeta, cursorPrefix+name) }

// cursor is where an audience's queue is in the outbox.
type cursor struct {
	seq         uint64 // last record delivered or passed over
	since       int64  // records stamped before this (Unix ms) are passed over
	incarnation uint64 // of the audience the cursor was made for
}

func (c cursor) encode() []byte {
	v := make([]byte, 0, 24)
	v = binary.BigEndian.AppendUint64(v, c.seq)
	v = binary.BigEndian.AppendUint64(v, uint64(c.since))
	return binary.BigEndian.AppendUint64(v, c.incarnation)
}

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
}

// serves reports whether w delivers a as it is now.
func (w *worker) serves(a *audience.Audience) bool {
	return w.webhook == a.Trigger.Webhook && w.secret == a.Trigger.Secret && w.incarnation == a.Incarnation()
}

// run delivers w's records until ctx ends.
func (o *Outbox) run(ctx context.Context, w *worker, opts DeliveryOptions) {
	c := o.loadCursor(w, opts.Logger)
	w.cursor.Store(c.seq)
	if w.secret == "" {
		opts.Logger.Printf("trigger: audience %s has a webhook but no secret: its records are kept, not POSTed, until trigger.secret is set (PUT the audience again with it)", w.name)
		return
	}
	save := func() {
		if err := o.db.Set(cursorKey(w.name), c.encode(), pebble.NoSync); err != nil {
			opts.Logger.Printf("trigger: cannot store the cursor of audience %s: %v", w.name, err)
		}
		w.cursor.Store(c.seq)
	}
	for ctx.Err() == nil {
		wake := o.wake() // before reading, so no append goes unseen
		recs, err := o.Read(c.seq, 100)
		if err != nil {
			opts.Logger.Printf("trigger: audience %s: %v", w.name, err)
		}
		passed := false // over records not stored in the cursor yet
		for _, r := range recs {
			if r.Audience != w.name || r.TS < c.since {
				c.seq, passed = r.Seq, true
				continue
			}
			if passed {
				save()
				passed = false
			}
			if !w.post(ctx, r, opts) {
				return
			}
			c.seq = r.Seq
			save()
		}
		if passed {
			save()
		}
		if len(recs) > 0 {
			continue
		}
		t := time.NewTimer(opts.Poll)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// loadCursor returns w's stored cursor or, when there is none for its
// incarnation, stores and returns a new one that starts at the legacy
// cursor and passes over the records from before w's audience was updated.
func (o *Outbox) loadCursor(w *worker, logger *log.Logger) cursor {
	if v, ok := o.getMeta(cursorKey(w.name), logger); ok && len(v) == 24 {
		c := cursor{
			seq:         binary.BigEndian.Uint64(v),
			since:       int64(binary.BigEndian.Uint64(v[8:])),
			incarnation: binary.BigEndian.Uint64(v[16:]),
		}
		if c.incarnation == w.incarnation {
			return c
		}
	}
	c := cursor{since: w.updated, incarnation: w.incarnation}
	if v, ok := o.getMeta(legacyKey, logger); ok && len(v) == 8 {
		c.seq = binary.BigEndian.Uint64(v)
	}
	if err := o.db.Set(cursorKey(w.name), c.encode(), pebble.NoSync); err != nil {
		logger.Printf("trigger: cannot store the cursor of audience %s: %v", w.name, err)
	}
	return c
}

// getMeta returns a copy of the value of key.
func (o *Outbox) getMeta(key []byte, logger *log.Logger) ([]byte, bool) {
	v, closer, err := o.db.Get(key)
	if err != nil {
		if !errors.Is(err, pebble.ErrNotFound) {
			logger.Printf("trigger: cannot read %q: %v", key, err)
		}
		return nil, false
	}
	defer closer.Close()
	return append([]byte(nil), v...), true
}

// dropCursors deletes the cursors of the audiences without a queue: deleted,
// or left without a webhook.
func (o *Outbox) dropCursors(queues map[string]*worker, logger *log.Logger) {
	prefix := kv.Key(kv.PrefixMeta, cursorPrefix)
	it, err := o.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		logger.Printf("trigger: cannot list cursors: %v", err)
		return
	}
	var drop [][]byte
	for it.First(); it.Valid(); it.Next() {
		if queues[string(it.Key()[len(prefix):])] == nil {
			drop = append(drop, append([]byte(nil), it.Key()...))
		}
	}
	if err := it.Close(); err != nil {
		logger.Printf("trigger: cannot list cursors: %v", err)
		return
	}
	for _, k := range drop {
		if err := o.db.Delete(k, pebble.NoSync); err != nil {
			logger.Printf("trigger: cannot delete the cursor %q: %v", k, err)
		}
	}
}
