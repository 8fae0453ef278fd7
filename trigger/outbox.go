package trigger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/audience"
)

// Record is one outbox entry: a user entered an audience.
type Record struct {
	Seq      uint64 `json:"seq"`
	TS       int64  `json:"ts"` // Unix milliseconds of the evaluation that saw the entry
	User     string `json:"user"`
	Audience string `json:"audience"`
	Event    string `json:"event"` // "enter"
}

// Outbox evaluates transitions into a Store and delivers its records to
// the audiences' webhooks.
type Outbox struct {
	store Store
	opts  OutboxOptions

	qmu    sync.Mutex
	queues map[string]*worker // while Deliver runs; written by Deliver's goroutine only

	pausedUntil atomic.Int64 // Unix ns: Apply answers ErrPaused until then
}

// OutboxOptions configures an Outbox over a Store that several nodes share.
// A single node leaves them zero.
type OutboxOptions struct {
	// Node names this process among those that share the Store: the holder
	// of the queues' claims, so that each audience's records are POSTed by
	// one node at a time. Empty on a single node, which claims nothing.
	Node string
	// ClaimTTL is how long a claim lasts unless renewed; a node renews its
	// claims every third of it, and the queues of a node that stops are
	// taken over by another once its claims lapse. Default 10 s.
	ClaimTTL time.Duration
	// ApplyTimeout bounds one Apply against a shared store, and Pause is
	// how long Apply then answers ErrPaused at once after one failed: while
	// the shared store cannot be reached, the events a node applies must
	// not wait on it. Transitions missed meanwhile are seen at the user's
	// next event or the next sweep. Defaults 2 s and 5 s.
	ApplyTimeout, Pause time.Duration
}

// ErrPaused is returned by Apply, without trying, for a while after Apply
// failed against a shared store.
var ErrPaused = errors.New("trigger: the shared store failed a moment ago; evaluations are passed over for a while")

// OpenOutbox returns the outbox over store.
func OpenOutbox(store Store, opts OutboxOptions) *Outbox {
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = 10 * time.Second
	}
	if opts.ApplyTimeout <= 0 {
		opts.ApplyTimeout = 2 * time.Second
	}
	if opts.Pause <= 0 {
		opts.Pause = 5 * time.Second
	}
	return &Outbox{store: store, opts: opts}
}

// Evaluation is one user evaluated against the triggered audiences.
type Evaluation struct {
	User string
	// Version is the version of the user's profile evaluated
	// (features.Profile.Version): an evaluation of an older one than the
	// Store has seen is passed over.
	Version uint64
	Member  func(*audience.Audience) bool
}

// Apply records, for each evaluation, the triggered audiences the user
// entered (appending records) and left, all or none. It returns the records
// appended.
//
// Where nodes share the store, one Apply waits at most ApplyTimeout, and
// after one fails, Apply answers ErrPaused at once for Pause.
func (o *Outbox) Apply(triggered []*audience.Audience, evals []Evaluation, now int64) ([]Record, error) {
	if o.opts.Node == "" {
		return o.store.Apply(context.Background(), triggered, evals, now)
	}
	if time.Now().UnixNano() < o.pausedUntil.Load() {
		return nil, ErrPaused
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.opts.ApplyTimeout)
	defer cancel()
	recs, err := o.store.Apply(ctx, triggered, evals, now)
	if err != nil {
		o.pausedUntil.Store(time.Now().Add(o.opts.Pause).UnixNano())
	}
	return recs, err
}

// sweepClaim names the claim of the periodic sweep; audience names hold no
// '/', so no queue has it.
const sweepClaim = "/sweep"

// ClaimSweep reports whether this node should run the periodic sweep of
// every user against the triggered audiences: always on a single node;
// where nodes share the store, on the node that holds the sweep's claim for
// the next ttl (the sweep's period), so that one node, not every node,
// evaluates every user, and another takes over once it stops renewing it.
func (o *Outbox) ClaimSweep(ttl time.Duration) bool {
	if o.opts.Node == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.opts.ApplyTimeout)
	defer cancel()
	ok, err := o.store.Claim(ctx, sweepClaim, o.opts.Node, ttl)
	return ok && err == nil
}

// Read returns up to limit records with a sequence number above after.
func (o *Outbox) Read(after uint64, limit int) ([]Record, error) {
	return o.store.Read(context.Background(), after, limit)
}

// Last returns the sequence number of the newest record, 0 when none.
func (o *Outbox) Last() (uint64, error) { return o.store.Last(context.Background()) }

// ForgetUser removes the user's memberships, for erasure. Records already in
// the outbox stay until consumed.
func (o *Outbox) ForgetUser(triggered []*audience.Audience, user string) error {
	return o.store.ForgetUser(context.Background(), triggered, user)
}
