package ledger

// expiry says when the reservation of a bid lapses, as it was when the entry
// was pushed: a reservation released or held again since leaves its old
// entries behind, and expire skips them.
type expiry struct {
	bid   uint64
	until int64 // Unix ms
}

// expiries is a binary min-heap of reservation expiries by until, over a
// slice that is reused, so that pushing and popping allocate nothing once it
// has grown to the number of reservations outstanding. (container/heap would
// box every entry into an interface.)
type expiries []expiry

func (h *expiries) push(e expiry) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

// pop removes and returns the earliest expiry; h must not be empty.
func (h *expiries) pop() expiry {
	s := *h
	e := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	h.down(0)
	return e
}

func (h expiries) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].until <= h[i].until {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (h expiries) down(i int) {
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h[r].until < h[c].until {
			c = r
		}
		if h[i].until <= h[c].until {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// heapify restores the heap order of h, in place.
func (h expiries) heapify() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// minCompact is the least size of the expiry heap that is compacted.
const minCompact = 64

// put reserves amount for bid until until, replacing any reservation bid had.
func (a *Account) put(bid uint64, amount, until int64) {
	if a.resv == nil {
		a.resv = map[uint64]reservation{}
	}
	if r, ok := a.resv[bid]; ok {
		a.reserved -= r.amount
	}
	a.resv[bid] = reservation{amount: amount, until: until}
	a.reserved += amount
	if len(a.expiries) >= a.compactAt {
		a.compact()
	}
	a.expiries.push(expiry{bid: bid, until: until})
}

// compact drops the heap entries of reservations released or held again
// since they were pushed, so that the heap stays within twice what is
// outstanding however long the holds that were settled early would have
// lasted. It runs when the heap has doubled since the last compaction, so its
// cost spreads over the pushes in between; it allocates nothing.
func (a *Account) compact() {
	h := a.expiries[:0]
	for _, e := range a.expiries {
		if r, ok := a.resv[e.bid]; ok && r.until == e.until {
			h = append(h, e)
		}
	}
	clear(a.expiries[len(h):])
	h.heapify()
	a.expiries = h
	a.compactAt = max(2*len(h), minCompact)
}

// expire drops the reservations whose time is up, whatever order they were
// made in.
func (a *Account) expire(now int64) {
	for len(a.expiries) > 0 && a.expiries[0].until <= now {
		e := a.expiries.pop()
		if r, ok := a.resv[e.bid]; ok && r.until <= now {
			delete(a.resv, e.bid)
			a.reserved -= r.amount
		}
	}
}

// hold sets the reservation of bid to amount until until, when it is still
// outstanding.
func (a *Account) hold(bid uint64, amount, until int64) {
	if _, ok := a.resv[bid]; ok {
		a.put(bid, amount, until)
	}
}

// release drops the reservation of bid, if it is still outstanding.
func (a *Account) release(bid uint64) bool {
	r, ok := a.resv[bid]
	if !ok {
		return false
	}
	delete(a.resv, bid)
	a.reserved -= r.amount
	return true
}
