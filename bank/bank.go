package bank

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Budget names one budget of a campaign and carries its current limit.
type Budget struct {
	// Campaign is the campaign's id: non-empty, without '/', '{' or '}'.
	Campaign string
	// Period names the budget's period, chosen by the caller: "total" for a
	// lifetime budget, or a day such as "2026-12-05" in the campaign's time
	// zone. Non-empty, without '/', '{' or '}'.
	Period string
	// Limit is the budget in micros, from 0 to MaxAmount, as the caller knows
	// it now. The bank does not store it.
	Limit int64
}

// State is what a budget's bank holds.
type State struct {
	// Spent is the amount booked, in micros.
	Spent int64
	// Leased is the sum of the outstanding leases, in micros.
	Leased int64
	// Nodes holds the lease of each node that has one (never zero).
	Nodes map[string]int64
}

// Bank keeps the budgets that nodes lease from and book to. See the package
// documentation for the invariant every implementation keeps and for what a
// caller assumes when a call fails.
type Bank interface {
	// Lease grants node up to want micros of b, never more than
	// b.Limit - spent - leased, and returns the amount granted: 0 when
	// nothing is left. After an error the node assumes it was granted
	// nothing.
	Lease(ctx context.Context, node string, b Budget, want int64) (int64, error)
	// Return gives back amount of node's lease on b, or all of it if it
	// holds less. After an error the node assumes the amount was returned.
	Return(ctx context.Context, node string, b Budget, amount int64) error
	// Book books amount as spent on b for the billing notice with the given
	// id, drawing first on node's lease, and reports whether it did: false
	// when the notice was booked before, from any node. The amount is booked
	// in full even if node's lease is smaller (see the package invariant).
	// After an error the node books the notice again until it is answered.
	Book(ctx context.Context, node string, b Budget, notice string, amount int64) (bool, error)
	// Reclaim takes back all of node's lease on b, for a node that is gone,
	// and returns the amount: it can be leased again at once. A node may
	// reclaim its own lease, after dropping its local slice, to free money
	// that failed calls may have left with it.
	Reclaim(ctx context.Context, node string, b Budget) (int64, error)
	// State returns what the bank holds for b; b.Limit is not used.
	State(ctx context.Context, b Budget) (State, error)
	// Beat marks node alive for ttl (at least a millisecond). A node beats
	// well within its ttl while it runs; the others reclaim the leases of a
	// node whose mark has lapsed.
	Beat(ctx context.Context, node string, ttl time.Duration) error
	// Alive reports whether node's last Beat has not lapsed.
	Alive(ctx context.Context, node string) (bool, error)
}

// MaxAmount is the largest limit and amount, in micros, the bank accepts:
// 2^53, the largest integer that Lua's numbers in Redis hold exactly
// (about nine billion units of a currency).
const MaxAmount = 1 << 53

// Options configures a bank; nil or zero fields mean the defaults.
type Options struct {
	// KeyPrefix starts every key of the bank. Default "tailor:bank:". For
	// Pebble, give the bank a database of its own, or a prefix that no other
	// user of the database has.
	KeyPrefix string
	// NoticeWindow is how long Redis remembers a booked notice id: a notice
	// repeated later is booked again. Each budget's notice ids cost about
	// 60 bytes each for this long. Pebble remembers them for ever. Default
	// 48h.
	NoticeWindow time.Duration
	// WaitReplicas, for Redis, is how many replicas must have every write
	// before the call returns: each write is followed, in the same round
	// trip, by WAIT WaitReplicas WaitTimeout, so that an acknowledged
	// booking survives the failover of its master. Replication is otherwise
	// asynchronous, and a failover may lose the last writes acknowledged by
	// the old master: bookings, which then count again, and leases, whose
	// money may be leased twice. A write that fewer replicas than this
	// acknowledge in time fails with ErrNotReplicated (and may have taken
	// effect). Default 0: no WAIT.
	WaitReplicas int
	// WaitTimeout is how long WAIT waits for the replicas. Default 1s.
	WaitTimeout time.Duration
	// Now is the clock Pebble's liveness marks lapse by. Default time.Now.
	// Redis lapses them by its own clock.
	Now func() time.Time
}

// withDefaults returns a copy of *o with its zero fields set to the
// defaults.
func (o *Options) withDefaults() Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "tailor:bank:"
	}
	if opts.NoticeWindow == 0 {
		opts.NoticeWindow = 48 * time.Hour
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return opts
}

// validate reports what is wrong with the options, if anything.
func (o *Options) validate() error {
	if o.NoticeWindow < time.Millisecond || o.WaitReplicas < 0 || o.WaitTimeout < time.Millisecond {
		return errors.New("bank: NoticeWindow and WaitTimeout must be at least 1ms and WaitReplicas not negative")
	}
	return nil
}

// ErrInvalid is the error of a call with an invalid argument, which changes
// nothing.
var ErrInvalid = errors.New("bank: invalid argument: empty node or notice id, campaign or period empty " +
	"or holding '/', '{' or '}', or an amount or limit outside [0, MaxAmount]")

// ErrNotReplicated is the error of a write that fewer replicas than
// Options.WaitReplicas acknowledged in time. The write took effect on the
// master.
var ErrNotReplicated = errors.New("bank: write not acknowledged by enough replicas")

// check returns ErrInvalid unless node, b and amount are valid arguments.
func check(node string, b Budget, amount int64) error {
	if node == "" || b.Limit < 0 || b.Limit > MaxAmount || amount < 0 || amount > MaxAmount {
		return ErrInvalid
	}
	return checkBudget(b)
}

// checkBudget returns ErrInvalid unless b's campaign and period are
// non-empty and free of the separator '/' and of the braces of Redis hash
// tags.
func checkBudget(b Budget) error {
	if b.Campaign == "" || b.Period == "" || strings.ContainsAny(b.Campaign, "/{}") || strings.ContainsAny(b.Period, "/{}") {
		return ErrInvalid
	}
	return nil
}
