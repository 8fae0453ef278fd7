package features

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Weighted is one interest: a key (a category path joined by "/", a brand, a
// query term) and its decayed weight.
type Weighted struct {
	Key    string
	Weight float32
}

// Action is one event in a profile's recent history.
type Action struct {
	Type    EventType
	Target  string // item id, or the query of a search
	TS      int64  // Unix milliseconds
	Session string
}

// Profile is everything tailor knows about one user. Interest weights are all
// expressed as of DecayedAt; Decay gives their value at another time.
type Profile struct {
	User      string
	Version   uint64 // incremented by every update
	FirstSeen int64  // Unix milliseconds
	LastSeen  int64  // Unix milliseconds
	Events    uint64 // events applied
	Counts    [numEventTypes]uint32

	DecayedAt  int64 // Unix milliseconds at which the weights below hold
	Categories []Weighted
	Brands     []Weighted
	Terms      []Weighted

	Recent    []Action // oldest first
	Purchased []string // distinct purchased items, oldest first

	Purchases     uint32
	Monetary      float64
	FirstPurchase int64 // Unix milliseconds, 0 if none
	LastPurchase  int64 // Unix milliseconds, 0 if none

	// Attrs are the user's static attributes, set through the API.
	Attrs Attributes
	// Orders are the latest purchase occasions, oldest first: purchase events
	// sharing a session are one order.
	Orders []Order
	// Repurchases track, per leaf category (or item when it has none), how
	// often the user buys it again.
	Repurchases []Repurchase
	// PriceLog and PriceWeight accumulate the log of the price of items the
	// user engages with relative to their category's median, weighted by
	// intent: their ratio is the user's typical relative price.
	PriceLog, PriceWeight float32
	// Hours counts events by hour of the day (UTC).
	Hours [24]uint32
	// Channels counts events by the channel they came from (web, app, ...).
	Channels []Weighted
}

// Order is one purchase occasion.
type Order struct {
	TS      int64   // Unix milliseconds of its first purchase event
	Amount  float64 // total of its purchase events
	Session uint32  // hash of the session that groups its events; 0 for none
}

// Repurchase summarizes the repeat purchases of one category or item.
type Repurchase struct {
	Key         string // leaf category key, or the item id
	Item        string // the item bought most recently under Key
	First, Last int64  // Unix milliseconds of the first and last occasions
	Count       uint32 // purchase occasions (at least 12 hours apart)
}

// Limits bounds what a profile keeps and how fast interests fade.
type Limits struct {
	// HalfLife is the time over which an interest loses half its weight.
	// Default 7 days.
	HalfLife time.Duration
	// Recent is how many recent events are kept. Default 50.
	Recent int
	// Purchased is how many distinct purchased items are remembered (to filter
	// them out of recommendations). Default 200.
	Purchased int
	// Categories, Brands and Terms cap each interest list; the weakest entries
	// go first. Defaults 64, 32 and 64.
	Categories, Brands, Terms int
	// Orders is how many purchase occasions are kept for frequency and
	// monetary indicators. Default 256.
	Orders int
	// Repurchases is how many categories' repeat purchases are tracked.
	// Default 32.
	Repurchases int
}

func (l *Limits) setDefaults() {
	if l.HalfLife <= 0 {
		l.HalfLife = 7 * 24 * time.Hour
	}
	if l.Recent <= 0 {
		l.Recent = 50
	}
	if l.Purchased <= 0 {
		l.Purchased = 200
	}
	if l.Categories <= 0 {
		l.Categories = 64
	}
	if l.Brands <= 0 {
		l.Brands = 32
	}
	if l.Terms <= 0 {
		l.Terms = 64
	}
	if l.Orders <= 0 {
		l.Orders = 256
	}
	if l.Repurchases <= 0 {
		l.Repurchases = 32
	}
}

// CategoryKey joins a category path into the key interests use ("Sports/Running").
func CategoryKey(path []string) string { return strings.Join(path, "/") }

// DecayFactor returns how much a weight fades between from and to (Unix
// milliseconds) with the given half-life; 1 when to is not after from.
func DecayFactor(from, to int64, halfLife time.Duration) float64 {
	if to <= from {
		return 1
	}
	return math.Exp2(-float64(to-from) / float64(halfLife.Milliseconds()))
}

// Interest returns the weight of key in list as of p.DecayedAt, 0 if absent.
func Interest(list []Weighted, key string) float32 {
	for i := range list {
		if list[i].Key == key {
			return list[i].Weight
		}
	}
	return 0
}

// reset makes p the empty profile of user, keeping its slices' arrays.
func (p *Profile) reset(user string) {
	*p = Profile{User: user, Categories: p.Categories[:0], Brands: p.Brands[:0], Terms: p.Terms[:0],
		Recent: p.Recent[:0], Purchased: p.Purchased[:0], Orders: p.Orders[:0], Repurchases: p.Repurchases[:0],
		Channels: p.Channels[:0], Attrs: Attributes{Channels: p.Attrs.Channels[:0], Labels: p.Attrs.Labels[:0]}}
}

// apply folds one event into p.
func (p *Profile) apply(e *Event, lim *Limits) {
	// The first event sets the times; zero is a valid time, not "unset".
	first := p.Events == 0
	if first || e.TS < p.FirstSeen {
		p.FirstSeen = e.TS
	}
	if first || e.TS > p.LastSeen {
		p.LastSeen = e.TS
	}
	p.Events++
	p.Version++
	if int(e.Type) < len(p.Counts) {
		p.Counts[e.Type]++
	}

	// Bring every weight to the later of the two times, then add this event's
	// weight decayed to that time.
	w := float64(e.Type.IntentWeight())
	switch {
	case first:
		p.DecayedAt = e.TS
	case e.TS > p.DecayedAt:
		f := float32(DecayFactor(p.DecayedAt, e.TS, lim.HalfLife))
		scale(p.Categories, f)
		scale(p.Brands, f)
		scale(p.Terms, f)
		p.DecayedAt = e.TS
	default:
		w *= DecayFactor(e.TS, p.DecayedAt, lim.HalfLife)
	}
	if len(e.Category) > 0 {
		p.Categories = addCategoryPath(p.Categories, e.Category, float32(w))
	}
	if len(e.Matches) > 0 {
		// A search suggests the categories of what it finds, at half the weight
		// of the search, shared among its matches.
		share := float32(w) / 2 / float32(len(e.Matches))
		for _, path := range e.Matches {
			p.Categories = addCategoryPath(p.Categories, path, share)
		}
	}
	if e.Brand != "" {
		p.Brands = add(p.Brands, e.Brand, float32(w))
	}
	for _, t := range e.Terms {
		p.Terms = add(p.Terms, t, float32(w))
	}
	p.Categories = prune(p.Categories, lim.Categories)
	p.Brands = prune(p.Brands, lim.Brands)
	p.Terms = prune(p.Terms, lim.Terms)

	p.Recent = insertAction(p.Recent, Action{Type: e.Type, Target: e.Target(), TS: e.TS, Session: e.Session}, lim.Recent)

	if e.Type == Purchase {
		amount := e.Amount
		if amount == 0 {
			amount = e.Price
		}
		if p.Purchases == 0 || e.TS < p.FirstPurchase {
			p.FirstPurchase = e.TS
		}
		if p.Purchases == 0 || e.TS > p.LastPurchase {
			p.LastPurchase = e.TS
		}
		p.Purchases++
		p.Monetary += amount
		p.Purchased = rememberPurchase(p.Purchased, e.Item, lim.Purchased)
		p.Orders = addOrder(p.Orders, e, amount, lim.Orders)
		key := e.Item
		if len(e.Category) > 0 {
			key = CategoryKey(e.Category)
		}
		p.Repurchases = addRepurchase(p.Repurchases, key, e.Item, e.TS, lim.Repurchases)
	}
	if e.PriceRatio > 0 && e.Type != Search {
		// Purchases say most about what a user pays; views least.
		w := float32(1)
		switch e.Type {
		case Cart:
			w = 2
		case Purchase:
			w = 4
		}
		p.PriceLog += w * float32(math.Log(e.PriceRatio))
		p.PriceWeight += w
	}
	p.Hours[hourOf(e.TS)]++
	if e.Channel != "" {
		p.Channels = add(p.Channels, e.Channel, 1)
		p.Channels = prune(p.Channels, 8)
	}
}

// hourOf returns the UTC hour of the day of a Unix millisecond time.
func hourOf(ms int64) int {
	h := (ms / 3_600_000) % 24
	if h < 0 {
		h += 24
	}
	return int(h)
}

// addOrder folds a purchase into the order of its session, or starts a new
// order, keeping at most max orders.
func addOrder(orders []Order, e *Event, amount float64, max int) []Order {
	var sess uint32
	if e.Session != "" {
		sess = sessionHash(e.Session)
		// Lines of one order arrive together: look at the latest few orders.
		for i := len(orders) - 1; i >= 0 && i >= len(orders)-4; i-- {
			if orders[i].Session == sess {
				orders[i].Amount += amount
				if e.TS < orders[i].TS {
					orders[i].TS = e.TS
				}
				return orders
			}
		}
	}
	o := Order{TS: e.TS, Amount: amount, Session: sess}
	i := len(orders)
	for i > 0 && orders[i-1].TS > o.TS {
		i--
	}
	orders = slices.Insert(orders, i, o)
	if len(orders) > max {
		orders = orders[len(orders)-max:]
	}
	return orders
}

// sessionHash is FNV-1a, never 0 (0 means "no session").
func sessionHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	if h == 0 {
		h = 1
	}
	return h
}

// repurchaseGap is the least time between two purchases of one category that
// count as two occasions.
const repurchaseGap = 12 * 3_600_000

func addRepurchase(list []Repurchase, key, item string, ts int64, max int) []Repurchase {
	for i := range list {
		r := &list[i]
		if r.Key != key {
			continue
		}
		switch {
		case ts >= r.Last+repurchaseGap:
			r.Count++
			r.Last, r.Item = ts, item
		case ts <= r.First-repurchaseGap:
			r.Count++
			r.First = ts
		case ts > r.Last:
			r.Last, r.Item = ts, item
		}
		return list
	}
	list = append(list, Repurchase{Key: key, Item: item, First: ts, Last: ts, Count: 1})
	if len(list) > max {
		// Forget the category bought longest ago.
		oldest := 0
		for i := range list {
			if list[i].Last < list[oldest].Last {
				oldest = i
			}
		}
		list = slices.Delete(list, oldest, oldest+1)
	}
	return list
}

// HasPurchased reports whether item is among the purchases p remembers.
func (p *Profile) HasPurchased(item string) bool {
	for _, id := range p.Purchased {
		if id == item {
			return true
		}
	}
	return false
}

func scale(list []Weighted, f float32) {
	for i := range list {
		list[i].Weight *= f
	}
}

func add(list []Weighted, key string, w float32) []Weighted {
	for i := range list {
		if list[i].Key == key {
			list[i].Weight += w
			return list
		}
	}
	return append(list, Weighted{Key: key, Weight: w})
}

// addCategoryPath adds w to the key of every level of category path (its
// root, the root and the next level, ..., the whole path), in one pass over
// list: the levels' keys, joined in one buffer, differ in length, so an
// entry's length says which level it can be. Only a level new to the list
// takes a string of its own.
func addCategoryPath(list []Weighted, path []string, w float32) []Weighted {
	var buf [256]byte
	var endsBuf [16]int
	var foundBuf [16]bool
	key, ends, found := buf[:0], endsBuf[:0], foundBuf[:0]
	for i, part := range path {
		if i > 0 {
			key = append(key, '/')
		}
		key = append(key, part...)
		ends, found = append(ends, len(key)), append(found, false)
	}
	for j := range list {
		n := len(list[j].Key)
		for i, end := range ends {
			if end == n && !found[i] && list[j].Key == string(key[:n]) {
				list[j].Weight += w
				found[i] = true
				break
			}
		}
	}
	for i, end := range ends {
		if !found[i] {
			list = append(list, Weighted{Key: string(key[:end]), Weight: w})
		}
	}
	return list
}

// prune sorts list by weight, heaviest first (ties by key, so the order is a
// function of the contents alone), drops entries that have faded to nothing and
// keeps at most max.
func prune(list []Weighted, max int) []Weighted {
	// The list comes sorted from the last prune but for the few entries an
	// event added or made heavier: an insertion sort moves just those.
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && heavier(&list[j], &list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	if len(list) > max {
		list = list[:max]
	}
	if len(list) > 0 {
		floor := list[0].Weight * 1e-4
		for len(list) > 0 && list[len(list)-1].Weight <= floor {
			list = list[:len(list)-1]
		}
	}
	return list
}

// heavier reports whether a comes before b in a pruned list: the heavier
// first, ties by key.
func heavier(a, b *Weighted) bool {
	if a.Weight != b.Weight {
		return a.Weight > b.Weight
	}
	return a.Key < b.Key
}

// insertAction keeps recent ordered by time, oldest first, and at most max long.
func insertAction(recent []Action, a Action, max int) []Action {
	i := len(recent)
	for i > 0 && recent[i-1].TS > a.TS {
		i--
	}
	recent = append(recent, Action{})
	copy(recent[i+1:], recent[i:])
	recent[i] = a
	if len(recent) > max {
		recent = recent[len(recent)-max:]
	}
	return recent
}

func rememberPurchase(list []string, item string, max int) []string {
	for i, id := range list {
		if id == item {
			// Move to the end: the most recent purchase is remembered longest.
			copy(list[i:], list[i+1:])
			list[len(list)-1] = item
			return list
		}
	}
	list = append(list, item)
	if len(list) > max {
		list = list[len(list)-max:]
	}
	return list
}
