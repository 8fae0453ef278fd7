package trigger

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/audience"
)

// Store keeps what triggers are made of: each user's membership of the
// triggered audiences, the records of the users who entered them, and the
// delivery queues' cursors. Pebble keeps them for a single node; Redis for
// the nodes of a cluster, so that a transition yields one record however
// many nodes evaluate it, and each audience's records are POSTed by one
// node at a time. One contract test suite runs against both.
type Store interface {
	// Apply records, for each evaluation, the triggered audiences the user
	// entered (appending one record each, with the next sequence number) and
	// left, all or none. It returns the records appended. An evaluation
	// older than the last one stored for the same user and audience (a
	// lower Version, or the same Version evaluated at an earlier now) is
	// passed over, so a node that lags behind another cannot undo what the
	// other saw.
	Apply(ctx context.Context, triggered []*audience.Audience, evals []Evaluation, now int64) ([]Record, error)
	// Read returns up to limit records with a sequence number above after,
	// in sequence order.
	Read(ctx context.Context, after uint64, limit int) ([]Record, error)
	// Last returns the sequence number of the newest record, 0 when none.
	Last(ctx context.Context) (uint64, error)
	// ForgetUser removes the user's memberships, for erasure. Records
	// already made stay until consumed.
	ForgetUser(ctx context.Context, triggered []*audience.Audience, user string) error
	// Appended returns a channel closed when records are next appended
	// through this Store value; appends by other processes are seen by
	// polling.
	Appended() <-chan struct{}

	// Cursor returns the cursor stored for the named queue. Without one it
	// returns false and, in the cursor's Seq, where a new queue starts.
	Cursor(ctx context.Context, name string) (Cursor, bool, error)
	// SaveCursor stores the cursor of the named queue, as long as holder
	// (empty on a single node) still holds the queue's claim; it reports
	// whether it did.
	SaveCursor(ctx context.Context, name string, c Cursor, holder string) (bool, error)
	// DropCursors deletes the cursors of the queues keep refuses.
	DropCursors(ctx context.Context, keep func(name string) bool) error
	// Claim takes, or renews, the right of holder to deliver the named
	// queue's records for ttl, and reports whether holder has it.
	Claim(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Unclaim gives up holder's claim on the named queue, if it has it.
	Unclaim(ctx context.Context, name, holder string) error
}

// Cursor is where an audience's queue is in the records.
type Cursor struct {
	Seq         uint64 // last record delivered or passed over
	Since       int64  // records stamped before this (Unix ms) are passed over
	Incarnation uint64 // of the audience the cursor was made for
}

// appends tells the queues of this process that records were appended: a
// channel closed, and replaced, at each append. Stores embed it for their
// Appended method. The zero value is ready to use.
type appends struct{ ch atomic.Pointer[chan struct{}] }

// Appended returns a channel closed when records are next appended.
func (a *appends) Appended() <-chan struct{} {
	if c := a.ch.Load(); c != nil {
		return *c
	}
	a.ch.CompareAndSwap(nil, new(make(chan struct{})))
	return *a.ch.Load()
}

// signal closes the channel Appended returned, for the next to wait on a
// new one.
func (a *appends) signal() {
	if c := a.ch.Swap(new(make(chan struct{}))); c != nil {
		close(*c)
	}
}
