package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/bank"
)

// Bank is where the nodes of a cluster keep the budgets they share (package
// bank: Redis for a cluster, Pebble for tests).
type Bank interface {
	Lease(ctx context.Context, node string, b bank.Budget, want int64) (int64, error)
	Return(ctx context.Context, node string, b bank.Budget, amount int64) error
	Book(ctx context.Context, node string, b bank.Budget, notice string, amount int64) (bool, error)
	Reclaim(ctx context.Context, node string, b bank.Budget) (int64, error)
	State(ctx context.Context, b bank.Budget) (bank.State, error)
	Beat(ctx context.Context, node string, ttl time.Duration) error
	Alive(ctx context.Context, node string) (bool, error)
}

// SharedOptions makes a ledger one of several that bid for the same
// campaigns: each holds leases, slices of the campaigns' budgets taken from
// a Bank, reserves its bids against its leases alone, and books the spend of
// billing notices to the bank. Zero fields take their defaults; a nil Bank
// means the ledger's budgets are its own.
type SharedOptions struct {
	// Bank holds the shared budgets. Default nil: not shared.
	Bank Bank
	// Node names this ledger's node in the bank; required with Bank.
	Node string
	// LeaseShare is the share of a budget one lease asks for: smaller shares
	// leave more to the other nodes and cost more round trips. Default 1/16.
	LeaseShare float64
	// RefillEvery is how often leases running low are topped up, besides
	// when a bid finds its lease short. Default 1 s; negative: only when
	// Refill is called, never in the background (tests that must know when
	// the bank is called).
	RefillEvery time.Duration
	// CallTimeout bounds one call to the bank. Default 2 s.
	CallTimeout time.Duration
	// Liveness is how long this node's mark of life in the bank lasts; it
	// is renewed at each refill after a third of it has passed, so it must
	// be at least three times RefillEvery. Every Liveness, a refill also
	// takes back the leases of the nodes whose mark has lapsed, on the
	// budgets this node bids for. Default 10 s.
	Liveness time.Duration
}

// Lease slots of an account.
const (
	dailySlot = iota
	totalSlot
	numSlots
)

// lease is what a node holds of one budget of a campaign: the bank's lease
// for this node, which the spend it books draws down.
type lease struct {
	period int64 // the campaign's local day (yyyymmdd) for the daily budget, 1 for the total; 0: none
	held   int64 // micros
	fresh  bool  // what the bank held for this node from before was taken back (see refill)
}

// shared is the state of a ledger whose budgets are shared.
type shared struct {
	opts    SharedOptions
	refills sync.Mutex // one refill at a time, so that leases granted are counted once

	// unsure holds the auctions whose booking failed: the bank may have
	// booked them, drawing on this node's lease, before the error. When the
	// notice comes again and the bank says it was booked before, the lease
	// is drawn down here too, on the safe side.
	unsureMu sync.Mutex
	unsure   map[uint64]struct{}

	calls, failures [numOps]atomic.Uint64

	beatAt, sweptAt int64 // Unix ms of the last beat and dead-lease sweep, under refills
	wake            chan struct{}
	stop            chan struct{}
	stopped         chan struct{}
}

func (o *SharedOptions) setDefaults() error {
	if o.Bank == nil {
		return nil
	}
	if o.Node == "" {
		return errors.New("ledger: a shared ledger needs its node's name")
	}
	if o.LeaseShare <= 0 || o.LeaseShare > 1 {
		o.LeaseShare = 1.0 / 16
	}
	if o.RefillEvery == 0 {
		o.RefillEvery = time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Second
	}
	if o.Liveness <= 0 {
		o.Liveness = 10 * time.Second
	}
	if o.RefillEvery > 0 && o.Liveness < 3*o.RefillEvery {
		return errors.New("ledger: SharedOptions.Liveness must be at least three times RefillEvery")
	}
	return nil
}

// startShared starts the refiller of a shared ledger.
func (l *Ledger) startShared() {
	sh := &shared{opts: l.opts.Shared, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		unsure: map[uint64]struct{}{}}
	l.shared = sh
	if sh.opts.RefillEvery < 0 {
		// Refills only when Refill is called: no refiller to wake.
		close(sh.stopped)
		return
	}
	go func() {
		defer close(sh.stopped)
		t := time.NewTicker(sh.opts.RefillEvery)
		defer t.Stop()
		for {
			select {
			case <-sh.stop:
				return
			case <-sh.wake:
			case <-t.C:
			}
			_ = l.Refill(context.Background())
		}
	}()
}

// totalPeriod is the period of a total budget.
const totalPeriod = 1

// periods returns the periods of an account's budgets as of its current
// day.
func (a *Account) periods() [numSlots]int64 {
	return [numSlots]int64{dailySlot: a.day, totalSlot: totalPeriod}
}

// periodName names a period in the bank: "total", or the day as "d20261205".
func periodName(p int64) string {
	if p == totalPeriod {
		return "total"
	}
	return "d" + strconv.FormatInt(p, 10)
}

// limitOf returns the limit of a slot, 0 when unlimited.
func limitOf(lim *Limits, slot int) int64 {
	if slot == dailySlot {
		return lim.Daily
	}
	return lim.Total
}

// leaseRoom returns how much more a's bids may reserve against its leases,
// math.MaxInt64 when no budget is limited, and asks for a refill when it is
// short of want. It runs under a.mu, after roll.
func (l *Ledger) leaseRoom(a *Account, lim *Limits, want int64) int64 {
	a.lim, a.limSeen = *lim, true
	room := int64(1<<63 - 1)
	p := a.periods()
	for slot := range numSlots {
		if limitOf(lim, slot) <= 0 {
			continue
		}
		held := int64(0)
		if a.lease[slot].period == p[slot] {
			held = a.lease[slot].held
		}
		room = min(room, held-a.reserved)
	}
	if room < want || room < l.refillBelow(lim) {
		l.wakeRefill()
	}
	return room
}

// refillBelow is the room under which a lease is topped up: half a lease.
func (l *Ledger) refillBelow(lim *Limits) int64 {
	share := l.opts.Shared.LeaseShare
	below := int64(0)
	for slot := range numSlots {
		if lt := limitOf(lim, slot); lt > 0 {
			below = max(below, int64(float64(lt)*share/2))
		}
	}
	return below
}

func (l *Ledger) wakeRefill() {
	select {
	case l.shared.wake <- struct{}{}:
	default:
	}
}

// Refill tops up, for every campaign bid for since the ledger opened, the
// leases that run low (under half a lease of room), taking back first what
// the bank holds for this node from before (see refill). It also renews this
// node's mark of life and, every Liveness, takes back the leases of nodes
// whose mark has lapsed. It returns the first error
// of the bank, and goes on with the other campaigns after one.
func (l *Ledger) Refill(ctx context.Context) error {
	if l.shared == nil {
		return nil
	}
	sh := l.shared
	sh.refills.Lock()
	defer sh.refills.Unlock()
	now := l.now()
	live := sh.opts.Liveness.Milliseconds()
	var first error
	if sh.beatAt == 0 || now-sh.beatAt >= live/3 {
		err := l.call(ctx, opBeat, func(ctx context.Context) error { return sh.opts.Bank.Beat(ctx, sh.opts.Node, sh.opts.Liveness) })
		if err == nil {
			sh.beatAt = now
		}
		first = err
	}
	sweep := sh.sweptAt == 0 || now-sh.sweptAt >= live
	if sweep {
		sh.sweptAt = now
	}
	accounts := l.allAccounts()
	for _, a := range accounts {
		if sweep {
			first = firstErr(first, l.reclaimDead(ctx, a))
		}
		first = firstErr(first, l.refill(ctx, a))
	}
	return first
}

// allAccounts returns the accounts the ledger has now.
func (l *Ledger) allAccounts() []*Account {
	l.amu.RLock()
	defer l.amu.RUnlock()
	return slices.Collect(maps.Values(l.accounts))
}

// reclaimDead takes back, on a's current budgets, the leases of the other
// nodes whose mark of life has lapsed.
func (l *Ledger) reclaimDead(ctx context.Context, a *Account) error {
	sh := &l.opts.Shared
	a.mu.Lock()
	lim, p, seen := a.lim, a.periods(), a.limSeen
	a.mu.Unlock()
	if !seen {
		return nil
	}
	var first error
	for slot := range numSlots {
		limit := limitOf(&lim, slot)
		if limit <= 0 {
			continue
		}
		b := bank.Budget{Campaign: a.id, Period: periodName(p[slot]), Limit: limit}
		var st bank.State
		if err := l.call(ctx, opState, func(ctx context.Context) (err error) { st, err = sh.Bank.State(ctx, b); return }); err != nil {
			first = firstErr(first, err)
			continue
		}
		for node, held := range st.Nodes {
			if node == sh.Node || held <= 0 {
				continue
			}
			var alive bool
			if err := l.call(ctx, opAlive, func(ctx context.Context) (err error) { alive, err = sh.Bank.Alive(ctx, node); return }); err != nil {
				first = firstErr(first, err)
				continue
			}
			if !alive {
				first = firstErr(first, l.call(ctx, opReclaim, func(ctx context.Context) error { _, err := sh.Bank.Reclaim(ctx, node, b); return err }))
			}
		}
	}
	return first
}

// refill tops up the leases of one account.
func (l *Ledger) refill(ctx context.Context, a *Account) error {
	sh := &l.opts.Shared
	now := l.now()
	a.mu.Lock()
	if !a.limSeen {
		a.mu.Unlock()
		return nil
	}
	a.expire(now)
	a.roll(now, a.lim.Loc)
	lim, p, reserved := a.lim, a.periods(), a.reserved
	var stale [numSlots]lease // leases of a period that has ended, to give back
	var cur [numSlots]lease
	for slot := range numSlots {
		if a.lease[slot].period != p[slot] {
			stale[slot] = a.lease[slot]
			a.lease[slot] = lease{period: p[slot]}
		}
		cur[slot] = a.lease[slot]
	}
	a.mu.Unlock()

	var first error
	for slot := range numSlots {
		if stale[slot].held > 0 {
			b := bank.Budget{Campaign: a.id, Period: periodName(stale[slot].period), Limit: 0}
			if err := l.call(ctx, opReturn, func(ctx context.Context) error { return sh.Bank.Return(ctx, sh.Node, b, stale[slot].held) }); err != nil && first == nil {
				first = err
			}
		}
		limit := limitOf(&lim, slot)
		if limit <= 0 {
			continue
		}
		b := bank.Budget{Campaign: a.id, Period: periodName(p[slot]), Limit: limit}
		held := cur[slot].held
		if !cur[slot].fresh {
			// A lease this node holds from before it opened (a restart) is
			// taken back, not trusted: the node counts from nothing, and
			// spend booked meanwhile cannot be counted twice.
			a.mu.Lock()
			if a.lease[slot].period == p[slot] {
				a.lease[slot].held, a.lease[slot].fresh = 0, true
			}
			a.mu.Unlock()
			if err := l.call(ctx, opReclaim, func(ctx context.Context) error { _, err := sh.Bank.Reclaim(ctx, sh.Node, b); return err }); err != nil {
				a.mu.Lock()
				a.lease[slot].fresh = false
				a.mu.Unlock()
				first = firstErr(first, err)
				continue
			}
			held = 0
		}
		want := max(int64(float64(limit)*sh.LeaseShare), 1)
		if held-reserved >= want/2 {
			continue
		}
		var got int64
		if err := l.call(ctx, opLease, func(ctx context.Context) (err error) { got, err = sh.Bank.Lease(ctx, sh.Node, b, want); return }); err != nil {
			// The bank may have granted it (a reply lost, a write its
			// replicas did not acknowledge): the next refill takes back
			// what this node holds there and leases anew, rather than
			// leave it with the node uncounted.
			a.mu.Lock()
			if a.lease[slot].period == p[slot] {
				a.lease[slot].fresh = false
			}
			a.mu.Unlock()
			first = firstErr(first, err)
			continue
		}
		a.mu.Lock()
		if a.lease[slot].period == p[slot] {
			a.lease[slot].held += got
		} else if got > 0 {
			// The day ended while the lease was asked for: give it back next time.
			a.lease[slot] = lease{period: p[slot], held: got, fresh: true}
		}
		a.mu.Unlock()
	}
	return first
}

// firstErr returns first, or err when first is nil.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Operations on the bank, as SharedStats counts them.
const (
	opLease = iota
	opReturn
	opBook
	opReclaim
	opState
	opBeat
	opAlive
	numOps
)

// BankOps names the bank's operations, in the order of SharedStats' arrays.
var BankOps = [numOps]string{"lease", "return", "book", "reclaim", "state", "beat", "alive"}

// SharedStats are a shared ledger's dealings with its bank.
type SharedStats struct {
	// Calls and Failures count the bank's round trips by operation (see
	// BankOps).
	Calls, Failures [numOps]uint64
	// Held is what this node's leases hold, in micros of the campaigns'
	// currencies, summed over campaigns and budgets; Reserved, what its
	// outstanding bids hold of them.
	Held, Reserved int64
}

// Shared returns the ledger's dealings with its bank, and false when its
// budgets are not shared.
func (l *Ledger) Shared() (SharedStats, bool) {
	sh := l.shared
	if sh == nil {
		return SharedStats{}, false
	}
	var st SharedStats
	for op := range numOps {
		st.Calls[op], st.Failures[op] = sh.calls[op].Load(), sh.failures[op].Load()
	}
	l.amu.RLock()
	defer l.amu.RUnlock()
	for _, a := range l.accounts {
		a.mu.Lock()
		for _, ls := range a.lease {
			st.Held += ls.held
		}
		st.Reserved += a.reserved
		a.mu.Unlock()
	}
	return st, true
}

// call runs one bank call, operation op, under CallTimeout.
func (l *Ledger) call(ctx context.Context, op int, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Shared.CallTimeout)
	defer cancel()
	l.shared.calls[op].Add(1)
	if err := fn(ctx); err != nil {
		l.shared.failures[op].Add(1)
		return fmt.Errorf("ledger: bank: %w", err)
	}
	return nil
}

// bookShared books a billing notice's spend to the bank, for every limited
// budget of its campaign, before the ledger applies it: a notice the bank
// did not take is not applied, and is booked again (once) when the exchange
// sends it again. It draws this node's leases down as the bank does.
func (l *Ledger) bookShared(a *Account, n *Notice) error {
	sh := &l.opts.Shared
	now := l.now()
	a.mu.Lock()
	a.roll(now, n.Limits.Loc)
	p := a.periods()
	a.mu.Unlock()
	id := strconv.FormatUint(n.Auction, 16)
	for slot := range numSlots {
		limit := limitOf(&n.Limits, slot)
		if limit <= 0 {
			continue
		}
		b := bank.Budget{Campaign: a.id, Period: periodName(p[slot]), Limit: limit}
		var booked bool
		err := l.call(context.Background(), opBook, func(ctx context.Context) (err error) {
			booked, err = sh.Bank.Book(ctx, sh.Node, b, id, n.Price)
			return
		})
		if err != nil {
			l.shared.unsureMu.Lock()
			l.shared.unsure[n.Auction] = struct{}{}
			l.shared.unsureMu.Unlock()
			return err
		}
		if !booked {
			l.shared.unsureMu.Lock()
			_, booked = l.shared.unsure[n.Auction]
			l.shared.unsureMu.Unlock()
		}
		if booked {
			a.mu.Lock()
			if a.lease[slot].period == p[slot] {
				a.lease[slot].held = max(0, a.lease[slot].held-n.Price)
			}
			a.mu.Unlock()
		}
	}
	l.shared.unsureMu.Lock()
	delete(l.shared.unsure, n.Auction)
	l.shared.unsureMu.Unlock()
	return nil
}

// closeShared stops the refiller and gives back what this node's leases hold
// beyond its outstanding reservations (which Close keeps for the next Open).
func (l *Ledger) closeShared() error {
	sh := l.shared
	if sh == nil {
		return nil
	}
	close(sh.stop)
	<-sh.stopped
	accounts := l.allAccounts()
	var first error
	for _, a := range accounts {
		a.mu.Lock()
		leases, reserved, lim := a.lease, a.reserved, a.lim
		a.mu.Unlock()
		for slot, ls := range leases {
			if spare := ls.held - reserved; spare > 0 && ls.period != 0 {
				b := bank.Budget{Campaign: a.id, Period: periodName(ls.period), Limit: limitOf(&lim, slot)}
				first = firstErr(first, l.call(context.Background(), opReturn, func(ctx context.Context) error {
					return sh.opts.Bank.Return(ctx, sh.opts.Node, b, spare)
				}))
			}
		}
	}
	return first
}
