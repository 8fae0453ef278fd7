package ledger

import (
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"time"
)

// Account is the money of one campaign.
type Account struct {
	id string
	mu sync.Mutex
	state

	// Derived from state.day and the campaign's time zone; recomputed when
	// either changes.
	loc              *time.Location
	dayStart, dayEnd int64 // Unix ms

	reserved int64 // outstanding reservations, micros
	resv     map[uint64]reservation

	// Shared budgets only: the leases held, and the limits last bid under
	// (for the refiller).
	lease     [numSlots]lease
	lim       Limits
	limSeen   bool
	expiries  expiries // when each reservation lapses, earliest first
	compactAt int      // heap size at which expiries is next compacted
}

// state is what an account persists.
type state struct {
	day        int64 // the local date spentToday belongs to, as yyyymmdd
	spentToday int64
	spentTotal int64
	bids       uint64
	wins       uint64
	losses     uint64
	imps       uint64
	rate       float64 // even-pacing pass rate, 0 to 1
	rateAt     int64   // Unix ms rate was last adjusted
}

type reservation struct {
	amount int64
	until  int64 // Unix ms
}

const stateVersion = 1

func (a *Account) encode(dst []byte, st *state) []byte {
	dst = append(dst, stateVersion)
	dst = binary.AppendVarint(dst, st.day)
	dst = binary.AppendVarint(dst, st.spentToday)
	dst = binary.AppendVarint(dst, st.spentTotal)
	dst = binary.AppendUvarint(dst, st.bids)
	dst = binary.AppendUvarint(dst, st.wins)
	dst = binary.AppendUvarint(dst, st.losses)
	dst = binary.AppendUvarint(dst, st.imps)
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(st.rate))
	return binary.AppendVarint(dst, st.rateAt)
}

var errCorrupt = errors.New("ledger: corrupt record")

func (a *Account) decode(v []byte) error {
	if len(v) == 0 || v[0] != stateVersion {
		return errCorrupt
	}
	v = v[1:]
	var ok = true
	varint := func() int64 {
		x, n := binary.Varint(v)
		if n <= 0 {
			ok = false
			return 0
		}
		v = v[n:]
		return x
	}
	uvarint := func() uint64 {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			ok = false
			return 0
		}
		v = v[n:]
		return x
	}
	st := &a.state
	st.day, st.spentToday, st.spentTotal = varint(), varint(), varint()
	st.bids, st.wins, st.losses, st.imps = uvarint(), uvarint(), uvarint(), uvarint()
	if !ok || len(v) < 8 {
		return errCorrupt
	}
	st.rate = math.Float64frombits(binary.BigEndian.Uint64(v))
	v = v[8:]
	st.rateAt = varint()
	if !ok || len(v) != 0 || math.IsNaN(st.rate) {
		return errCorrupt
	}
	return nil
}

// roll moves the account to the local day of now: a new day starts with
// nothing spent and the throttle open.
func (a *Account) roll(now int64, loc *time.Location) {
	if loc == nil {
		loc = time.UTC
	}
	if a.loc == loc && now >= a.dayStart && now < a.dayEnd {
		return
	}
	t := time.UnixMilli(now).In(loc)
	y, m, d := t.Date()
	a.loc = loc
	a.dayStart = time.Date(y, m, d, 0, 0, 0, 0, loc).UnixMilli()
	a.dayEnd = time.Date(y, m, d+1, 0, 0, 0, 0, loc).UnixMilli()
	day := int64(y)*10000 + int64(m)*100 + int64(d)
	if day != a.day {
		a.day = day
		a.spentToday = 0
		a.rate = 1
		a.rateAt = 0
	}
}

// Verdict is whether a campaign may bid now, and if not, why.
type Verdict uint8

// Verdicts of Admit.
const (
	Admitted   Verdict = iota
	OverBudget         // the daily or total budget is spent or reserved
	Paced              // even pacing holds it back for now
	Capped             // the user has seen it as often as its frequency cap allows
	NoUser             // it has a frequency cap and the request has no usable user
)

// String names the verdict as metrics label it.
func (v Verdict) String() string {
	switch v {
	case Admitted:
		return "admitted"
	case OverBudget:
		return "budget"
	case Paced:
		return "pacing"
	case Capped:
		return "frequency"
	case NoUser:
		return "no_user"
	}
	return "unknown"
}

// Admit says whether a campaign may bid now: budget left after spend and
// reservations, the frequency cap for user (0 = no usable user; pending counts
// impressions already bid for in this request), and, for even pacing, the
// throttle. draw is a uniform 64-bit number that decides whether this bid
// passes the throttle when it is partly closed; deriving it from the auction
// keeps the decision reproducible.
func (l *Ledger) Admit(a *Account, lim *Limits, user uint64, pending int, draw uint64) Verdict {
	now := l.now()
	if lim.FreqImps > 0 {
		if user == 0 {
			return NoUser
		}
		if l.freq.count(freqKey{user: user, campaign: a.id}, now-lim.FreqPer.Milliseconds())+pending >= lim.FreqImps {
			return Capped
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	a.roll(now, lim.Loc)
	if lim.Daily > 0 && a.spentToday+a.reserved >= lim.Daily || lim.Total > 0 && a.spentTotal+a.reserved >= lim.Total {
		return OverBudget
	}
	if l.shared != nil && l.leaseRoom(a, lim, 1) <= 0 {
		return OverBudget
	}
	if lim.Even && lim.Daily > 0 && !l.pace(a, lim, now, draw) {
		return Paced
	}
	return Admitted
}

// pace runs the even-pacing throttle: a hard stop when spend plus
// reservations run more than PaceSlack ahead of the straight line from
// nothing at the start of the day to the daily budget at its end, and a pass
// rate that follows the actual spend, adjusted every PaceInterval: it opens
// while spend lags the line and closes while it leads, so that spend tracks
// the line without bursts at each step.
func (l *Ledger) pace(a *Account, lim *Limits, now int64, draw uint64) bool {
	daily := float64(lim.Daily)
	target := daily * float64(now-a.dayStart) / float64(a.dayEnd-a.dayStart)
	spent := float64(a.spentToday + a.reserved)
	slack := daily * l.opts.PaceSlack
	if spent > target+slack {
		return false
	}
	if a.rateAt == 0 || now-a.rateAt >= l.opts.PaceInterval.Milliseconds() {
		// The error in units of the slack: +1 is half an hour's budget behind.
		e := (target - spent) / slack
		f := math.Min(math.Max(1+0.5*e, 0.5), 2)
		a.rate = math.Min(math.Max(a.rate*f, minRate), 1)
		a.rateAt = now
	}
	return a.rate >= 1 || float64(draw) < a.rate*(1<<64)
}

// minRate is the least pass rate of the throttle, so that a campaign held back
// still bids now and then and its spend keeps telling the throttle something.
const minRate = 0.001

// Reserve holds amount (micros) of a's budgets for bid until until (Unix ms),
// unless that would take spend plus reservations past the daily or total
// budget. It counts the bid.
func (l *Ledger) Reserve(a *Account, lim *Limits, bid uint64, amount, until int64) bool {
	now := l.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	a.roll(now, lim.Loc)
	if lim.Daily > 0 && a.spentToday+a.reserved+amount > lim.Daily || lim.Total > 0 && a.spentTotal+a.reserved+amount > lim.Total {
		return false
	}
	if l.shared != nil && l.leaseRoom(a, lim, amount) < amount {
		return false
	}
	a.put(bid, amount, until)
	a.bids++
	return true
}

// Release gives back the reservation of a bid that was never sent (it missed
// its deadline) and uncounts it.
func (l *Ledger) Release(a *Account, bid uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.release(bid) && a.bids > 0 {
		a.bids--
	}
}

// ReserveUntil returns when a reservation made now for a bid whose imp may
// show up to exp seconds after the auction should lapse.
func (l *Ledger) ReserveUntil(exp int64) int64 {
	d := l.opts.ReserveFor
	if e := time.Duration(exp) * time.Second; e > d {
		d = min(e, l.opts.WonReserveFor)
	}
	return l.now() + d.Milliseconds()
}

// Stats are an account's counters and pacing state.
type Stats struct {
	Bids, Wins, Losses, Impressions uint64
	Spent                           int64 // micros, all time
	SpentToday                      int64 // micros, the campaign's current day
	Reserved                        int64 // micros held by outstanding bids
	// PaceRate is the even-pacing pass rate (1 = fully open).
	PaceRate float64
	// PaceTarget is what the pacing line allows spent by now, in micros;
	// the daily budget without even pacing.
	PaceTarget int64
	// PaceState is "exhausted" (no budget left today or in total), "ahead"
	// (even pacing holds it back: past the line by more than the slack, or
	// the pass rate below 1), "behind" (more than the slack below the line)
	// or "on_track".
	PaceState string
	DayStart  time.Time // start of the campaign's current day
}

// Stats returns a campaign's counters and pacing state as of now.
func (l *Ledger) Stats(campaign string, lim *Limits) Stats {
	now := l.now()
	a := l.Account(campaign)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	a.roll(now, lim.Loc)
	st := Stats{Bids: a.bids, Wins: a.wins, Losses: a.losses, Impressions: a.imps,
		Spent: a.spentTotal, SpentToday: a.spentToday, Reserved: a.reserved, PaceRate: 1,
		PaceTarget: lim.Daily, DayStart: time.UnixMilli(a.dayStart).In(a.loc)}
	if lim.Even && lim.Daily > 0 {
		st.PaceRate = a.rate
		st.PaceTarget = int64(float64(lim.Daily) * float64(now-a.dayStart) / float64(a.dayEnd-a.dayStart))
	}
	used := a.spentToday + a.reserved
	even := lim.Even && lim.Daily > 0
	slack := float64(lim.Daily) * l.opts.PaceSlack
	switch {
	case lim.Daily > 0 && used >= lim.Daily, lim.Total > 0 && a.spentTotal+a.reserved >= lim.Total:
		st.PaceState = "exhausted"
	case even && (float64(used) > float64(st.PaceTarget)+slack || a.rate < 1):
		st.PaceState = "ahead"
	case even && float64(used) < float64(st.PaceTarget)-slack:
		st.PaceState = "behind"
	default:
		st.PaceState = "on_track"
	}
	return st
}
