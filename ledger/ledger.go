package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// Options configures a Ledger. Zero fields take their defaults.
type Options struct {
	// ReserveFor is how long a bid holds its price against its campaign's
	// budget while no notice about it has come. Default 2 minutes.
	ReserveFor time.Duration
	// WonReserveFor is how long a won bid holds its clearing price while its
	// billing notice is awaited. Default 1 hour.
	WonReserveFor time.Duration
	// PaceInterval is how often a campaign's even-pacing throttle adjusts.
	// Default 1 minute.
	PaceInterval time.Duration
	// PaceSlack is how far an even-paced campaign's spend plus reservations
	// may run ahead of the pacing line (nothing at the start of its day, the
	// daily budget at the end), as a share of the daily budget. Default 1/48,
	// half an hour's worth.
	PaceSlack float64
	// NoticeWindow is how long applied notices are remembered, so that a
	// repeated one is recognised; a notice about a bid older than this is
	// refused. Default 48 hours.
	NoticeWindow time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Shared, with a Bank, makes the campaigns' budgets shared with other
	// nodes' ledgers (see SharedOptions). Default: the budgets are this
	// ledger's alone.
	Shared SharedOptions
}

func (o *Options) setDefaults() {
	if o.ReserveFor <= 0 {
		o.ReserveFor = 2 * time.Minute
	}
	if o.WonReserveFor <= 0 {
		o.WonReserveFor = time.Hour
	}
	if o.PaceInterval <= 0 {
		o.PaceInterval = time.Minute
	}
	if o.PaceSlack <= 0 || o.PaceSlack >= 1 {
		o.PaceSlack = 1.0 / 48
	}
	if o.NoticeWindow <= 0 {
		o.NoticeWindow = 48 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Limits are a campaign's budgets, pacing and frequency cap, as the ledger
// needs them. Callers pass the campaign's current limits with every call, so
// that a campaign edited mid-day is held to its new limits at once.
type Limits struct {
	Daily    int64          // micros per day; 0 = no daily limit
	Total    int64          // micros over the campaign's life; 0 = no limit
	Even     bool           // pace the daily budget evenly over the day
	Loc      *time.Location // where the day begins and ends; nil = UTC
	FreqImps int            // billed impressions per user in FreqPer; 0 = no cap
	FreqPer  time.Duration
}

// Key layout under kv.PrefixLedger:
//
//	'a' campaign                                -> account record
//	'f' uvarint(len) campaign user(8)           -> frequency record
//	'n' utcDay(4) kind(1) auction(8)            -> Unix ms the notice was applied
//	'r' uvarint(len) campaign bid(8)            -> reservation: version(1) varint(amount) varint(until)
//
// Reservation records exist only from Close to the next Open, which deletes
// them all.
const (
	subAccount     = 'a'
	subFrequency   = 'f'
	subNotice      = 'n'
	subReservation = 'r'
)

const noticeStripes = 256

// Ledger is the money of all campaigns. It is safe for concurrent use.
type Ledger struct {
	db   *pebble.DB
	opts Options

	amu      sync.RWMutex
	accounts map[string]*Account

	freq freqTable

	notices   [noticeStripes]sync.Mutex
	prunedDay atomic.Int64 // last UTC day old notices were pruned for
	sweptAt   atomic.Int64 // Unix ms of the last frequency sweep

	shared *shared // nil unless Options.Shared.Bank is set
}

// Open loads the ledger kept in db. It takes back the reservations the last
// Close wrote that have not expired, and deletes every stored reservation
// with a synced commit before it returns, so that a crash from then on
// releases them all.
func Open(db *pebble.DB, opts Options) (*Ledger, error) {
	opts.setDefaults()
	if err := opts.Shared.setDefaults(); err != nil {
		return nil, err
	}
	l := &Ledger{db: db, opts: opts, accounts: map[string]*Account{}}
	l.freq.init()
	now := l.now()
	err := scan(db, []byte{kv.PrefixLedger, subAccount}, func(k, v []byte) error {
		a := &Account{id: string(k[2:])}
		if err := a.decode(v); err != nil {
			return fmt.Errorf("ledger: corrupt account %q: %w", k[2:], err)
		}
		l.accounts[a.id] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := l.restoreReservations(now); err != nil {
		return nil, err
	}
	b := db.NewBatch()
	defer b.Close()
	err = scan(db, []byte{kv.PrefixLedger, subFrequency}, func(k, v []byte) error {
		campaign, user, ok := parseOwnerKey(k)
		if !ok {
			return fmt.Errorf("ledger: corrupt frequency key %x", k)
		}
		e, err := decodeFreq(v)
		if err != nil {
			return fmt.Errorf("ledger: corrupt frequency record: %w", err)
		}
		if e.expired(now) {
			return b.Delete(k, nil)
		}
		l.freq.put(freqKey{user: user, campaign: campaign}, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return nil, fmt.Errorf("ledger: cannot prune frequency records: %w", err)
	}
	l.sweptAt.Store(now)
	if err := l.pruneNotices(now); err != nil {
		return nil, err
	}
	if opts.Shared.Bank != nil {
		l.startShared()
	}
	return l, nil
}

func scan(db *pebble.DB, prefix []byte, fn func(k, v []byte) error) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func (l *Ledger) now() int64 { return l.opts.Now().UnixMilli() }

// Close writes every account's counters and its outstanding reservations
// with a synced commit, for the next Open to take back. It does not close the
// database. Nothing may be applied or reserved after Close: the next Open
// would hold again a reservation settled since.
func (l *Ledger) Close() error {
	serr := l.closeShared()
	now := l.now()
	b := l.db.NewBatch()
	defer b.Close()
	l.amu.RLock()
	for _, a := range l.accounts {
		a.mu.Lock()
		err := b.Set(accountKey(a.id), a.encode(nil, &a.state), nil)
		if err == nil {
			err = a.writeReservations(b, now)
		}
		a.mu.Unlock()
		if err != nil {
			l.amu.RUnlock()
			return err
		}
	}
	l.amu.RUnlock()
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("ledger: cannot write counters and reservations: %w", err)
	}
	return serr
}

// Account returns the account of a campaign, creating an empty one for a
// campaign the ledger has not seen. Callers on a hot path keep the pointer:
// an account lives as long as the ledger.
func (l *Ledger) Account(campaign string) *Account {
	l.amu.RLock()
	a, ok := l.accounts[campaign]
	l.amu.RUnlock()
	if ok {
		return a
	}
	l.amu.Lock()
	defer l.amu.Unlock()
	if a, ok := l.accounts[campaign]; ok {
		return a
	}
	a = &Account{id: campaign}
	l.accounts[campaign] = a
	return a
}

func accountKey(campaign string) []byte {
	k := make([]byte, 0, 2+len(campaign))
	k = append(k, kv.PrefixLedger, subAccount)
	return append(k, campaign...)
}

// Kind is the kind of a notice.
type Kind uint8

// Notice kinds.
const (
	Win Kind = iota + 1
	Billing
	Loss
)

// String names the kind: win, billing or loss.
func (k Kind) String() string {
	switch k {
	case Win:
		return "win"
	case Billing:
		return "billing"
	case Loss:
		return "loss"
	}
	return "unknown"
}

// Notice is an exchange's word about one of our bids.
type Notice struct {
	Kind     Kind
	Campaign string
	// Bid is the id the bid's reservation was made under.
	Bid uint64
	// Auction identifies the auction and imp (a hash of both ids); each kind
	// of notice is applied once per Auction.
	Auction uint64
	// BidAt is when the bid was made, Unix ms.
	BidAt int64
	// User identifies the user for frequency capping (a hash of the id); 0
	// when the bid was made without one.
	User uint64
	// Price is what the impression costs, in micros of the campaign's
	// currency: the clearing price for a win or billing notice.
	Price int64
	// Limits are the campaign's current limits.
	Limits Limits
	// Booked says a billing notice's spend is in the bank already: the
	// notice was taken by another node of a cluster, which booked it, and
	// reaches this one through the cluster's log. Only shared ledgers look
	// at it.
	Booked bool
}

// Outcome is what Apply did with a notice.
type Outcome uint8

// Outcomes of Apply.
const (
	Applied   Outcome = iota + 1 // first time: applied
	Duplicate                    // applied before: nothing changed
	Expired                      // about a bid older than the notice window: refused
	Conflict                     // a loss after the auction's win or billing: nothing changed
)

// String names the outcome as notices answer it.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Expired:
		return "expired"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// ErrBadNotice is returned for a notice with a missing kind or campaign.
var ErrBadNotice = errors.New("ledger: malformed notice")

// Apply applies a notice once: a win counts the win and holds the clearing
// price until the billing notice; a billing notice books the spend and the
// impression (and the win, when its win notice has not come) and releases the
// reservation; a loss counts the loss and releases the reservation. A billing
// notice returns once durable.
//
// The notices of one auction resolve to one outcome, whatever order they come
// in (see the package doc, Outcomes). The first win or billing notice after a
// loss turns the loss into a win (one loss fewer, one win more), and such a
// win holds its clearing price again. A loss after a win or billing notice is
// a Conflict: it changes nothing, and the won hold stays. Billing always
// books its spend.
func (l *Ledger) Apply(n *Notice) (Outcome, error) {
	if n.Kind < Win || n.Kind > Loss || n.Campaign == "" || n.Price < 0 {
		return 0, ErrBadNotice
	}
	now := l.now()
	if n.BidAt < now-l.opts.NoticeWindow.Milliseconds() {
		return Expired, nil
	}
	if err := l.pruneNotices(now); err != nil {
		return 0, err
	}
	stripe := &l.notices[n.Auction%noticeStripes]
	stripe.Lock()
	locked := true
	defer func() {
		if locked {
			stripe.Unlock()
		}
	}()
	key := noticeKey(n.Kind, n.BidAt, n.Auction)
	seen, err := l.has(key[:])
	if err != nil {
		return 0, err
	}
	if seen {
		return Duplicate, nil
	}
	// What the auction's other notices did. A billing notice writes the win
	// key too, so winSeen means a win or a billing notice was applied; a
	// conflicting loss writes nothing, so lossSeen means the loss was counted,
	// and turned into a win already if winSeen.
	winKey := noticeKey(Win, n.BidAt, n.Auction)
	lossKey := noticeKey(Loss, n.BidAt, n.Auction)
	var winSeen, lossSeen bool
	if n.Kind != Win {
		winSeen, err = l.has(winKey[:])
	}
	if err == nil && n.Kind != Loss {
		lossSeen, err = l.has(lossKey[:])
	}
	if err != nil {
		return 0, err
	}
	if n.Kind == Loss && winSeen {
		return Conflict, nil
	}
	turned := lossSeen && !winSeen // this win or billing turns a counted loss into a win

	a := l.Account(n.Campaign)
	if n.Kind == Billing && l.shared != nil && !n.Booked {
		if err := l.bookShared(a, n); err != nil {
			return 0, err
		}
	}
	a.mu.Lock()
	a.expire(now)
	a.roll(now, n.Limits.Loc)
	st := a.state
	switch n.Kind {
	case Win:
		st.wins++
	case Billing:
		if !winSeen {
			st.wins++
		}
		st.imps++
		st.spentToday += n.Price
		st.spentTotal += n.Price
	case Loss:
		st.losses++
	}
	if turned && st.losses > 0 {
		st.losses--
	}
	b := l.db.NewBatch()
	defer b.Close()
	var stamp [binary.MaxVarintLen64]byte
	sv := stamp[:binary.PutVarint(stamp[:], now)]
	err = b.Set(key[:], sv, nil)
	if err == nil && n.Kind == Billing && !winSeen {
		err = b.Set(winKey[:], sv, nil)
	}
	if err == nil {
		err = b.Set(accountKey(a.id), a.encode(nil, &st), nil)
	}
	var fk freqKey
	var fe *freqEntry
	if err == nil && n.Kind == Billing && n.User != 0 && n.Limits.FreqImps > 0 {
		fk = freqKey{user: n.User, campaign: a.id}
		fe = l.freq.get(fk).with(now, n.Limits)
		err = b.Set(freqRecordKey(a.id, n.User), fe.encode(nil), nil)
	}
	if err != nil {
		a.mu.Unlock()
		return 0, err
	}
	// Billing moves money: it is applied to the memtable in order under the
	// locks and waited on (the WAL sync) after them. Wins and losses are not
	// waited on at all.
	if n.Kind == Billing {
		err = l.db.ApplyNoSyncWait(b, pebble.Sync)
	} else {
		err = b.Commit(pebble.NoSync)
	}
	if err != nil {
		a.mu.Unlock()
		return 0, fmt.Errorf("ledger: cannot commit %s notice: %w", n.Kind, err)
	}
	// Committed to the memtable in this order; now make memory agree.
	a.state = st
	switch {
	case n.Kind == Win && lossSeen:
		// The loss released the reservation; the billing notice to come
		// will charge the clearing price all the same.
		a.put(n.Bid, n.Price, now+l.opts.WonReserveFor.Milliseconds())
	case n.Kind == Win:
		a.hold(n.Bid, n.Price, now+l.opts.WonReserveFor.Milliseconds())
	default:
		a.release(n.Bid)
	}
	if fe != nil {
		l.freq.put(fk, fe)
	}
	a.mu.Unlock()
	stripe.Unlock()
	locked = false
	if n.Kind == Billing {
		if err := b.SyncWait(); err != nil {
			return 0, fmt.Errorf("ledger: cannot sync billing notice: %w", err)
		}
	}
	l.maybeSweep(now)
	return Applied, nil
}

func (l *Ledger) has(key []byte) (bool, error) {
	_, closer, err := l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: cannot read notice: %w", err)
	}
	closer.Close()
	return true, nil
}

func utcDay(ms int64) int64 { return ms / (24 * 3600 * 1000) }

func noticeKey(k Kind, bidAt int64, auction uint64) [15]byte {
	var key [15]byte
	key[0], key[1] = kv.PrefixLedger, subNotice
	binary.BigEndian.PutUint32(key[2:], uint32(utcDay(bidAt)))
	key[6] = byte(k)
	binary.BigEndian.PutUint64(key[7:], auction)
	return key
}

// pruneNotices drops the notices of days wholly outside the notice window,
// once a day: the first caller of a new day does it.
func (l *Ledger) pruneNotices(now int64) error {
	day := utcDay(now)
	old := l.prunedDay.Load()
	if day <= old || !l.prunedDay.CompareAndSwap(old, day) {
		return nil
	}
	keep := utcDay(now - l.opts.NoticeWindow.Milliseconds()) // first day still needed
	lo := []byte{kv.PrefixLedger, subNotice}
	hi := []byte{kv.PrefixLedger, subNotice, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hi[2:], uint32(keep))
	if err := l.db.DeleteRange(lo, hi, pebble.NoSync); err != nil {
		return fmt.Errorf("ledger: cannot prune notices: %w", err)
	}
	return nil
}
