package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Event types, the values of Event.Type.
const (
	Search   = "search"   // Search is a query; its event has Query and no Item.
	View     = "view"     // View is a look at an item's page.
	Click    = "click"    // Click is a click on an item in a list, before its view.
	Cart     = "cart"     // Cart puts an item in the shopping cart.
	Purchase = "purchase" // Purchase buys an item; its event has Amount.
)

const (
	searchShare    = 0.60    // sessions starting with a search
	preferredShare = 0.80    // views in a preferred leaf
	clickShare     = 0.10    // views preceded by a click on the same item
	cartShare      = 0.15    // sessions carting a viewed item
	buyShare       = 1.0 / 3 // carts that end in a purchase: 5% of sessions
	cjkQueryShare  = 0.10    // searches for the CJK noun
	tagQueryShare  = 0.35    // searches for "tag noun"

	msPerDay     = 24 * 60 * 60 * 1000
	maxSessionMS = 60 * 60 * 1000 // room left for the last session
)

// UserID returns the stable id of user u: "u000042" for u = 42.
func (w *World) UserID(u int) string { return fmt.Sprintf("u%06d", u) }

// UserInterests returns the 1-3 distinct leaf categories (indexes into
// w.Categories) user u prefers, biased toward leaves with many items. The
// result depends only on the options and u.
func (w *World) UserInterests(u int) []int {
	r := newRand(w.Seed, streamInterests, uint64(u))
	want := 1 + r.IntN(3)
	var out []int
	// A random item's leaf is a leaf drawn by size; retry duplicates a few
	// times, which matters only for catalogs with very few leaves.
	for try := 0; len(out) < want && try < 10*want; try++ {
		l := int(w.itemLeaf[r.IntN(len(w.itemLeaf))])
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// Events calls fn with every event of user u in time order (ties keep
// generation order), stopping at the first error fn returns. The events
// depend only on the options and u, never on other users or earlier calls.
func (w *World) Events(u int, fn func(Event) error) error {
	g := userGen{
		w:    w,
		r:    newRand(w.Seed, streamEvents, uint64(u)),
		user: w.UserID(u),
		fn:   fn,
	}
	interests := w.UserInterests(u)
	start := w.Start.UnixMilli()
	g.end = start + int64(w.Days)*msPerDay
	g.ts = start

	sessions := 1
	if m := w.SessionsPerUser; m > 1 {
		sessions += poisson(g.r, m-1)
	}
	starts := make([]int64, sessions)
	for i := range starts {
		starts[i] = start + g.r.Int64N(max(1, g.end-start-maxSessionMS))
	}
	slices.Sort(starts)

	viewed := make([]int, 0, 8)
	for s, at := range starts {
		g.session = g.user + "-s" + strconv.Itoa(s)
		g.ts = max(at, g.ts)
		viewed = g.runSession(interests, viewed[:0])
		if g.err != nil {
			return g.err
		}
	}
	return nil
}

// userGen holds the state of one user's event generation.
type userGen struct {
	w       *World
	r       *rand.Rand
	user    string
	session string
	seq     int
	ts, end int64 // next and latest event time, epoch ms
	fn      func(Event) error
	err     error // first error of fn; later events are dropped
}

// runSession emits one session's events, using viewed as scratch space.
func (g *userGen) runSession(interests []int, viewed []int) []int {
	w, r := g.w, g.r
	focus := interests[r.IntN(len(interests))]
	if r.Float64() < searchShare {
		g.emit(Event{Type: Search, Query: w.query(r, focus)})
	}
	for range 2 + r.IntN(7) {
		l := focus
		if r.Float64() >= preferredShare {
			l = int(w.itemLeaf[r.IntN(len(w.itemLeaf))])
		}
		item := w.PopularItem(r, l)
		if item < 0 {
			continue
		}
		if r.Float64() < clickShare {
			g.emit(Event{Type: Click, Item: w.Items[item].ID})
		}
		g.emit(Event{Type: View, Item: w.Items[item].ID})
		viewed = append(viewed, item)
	}
	if len(viewed) > 0 && r.Float64() < cartShare {
		it := &w.Items[viewed[r.IntN(len(viewed))]]
		if it.Available {
			g.emit(Event{Type: Cart, Item: it.ID})
			if r.Float64() < buyShare {
				g.emit(Event{Type: Purchase, Item: it.ID, Amount: it.Price})
			}
		}
	}
	return viewed
}

// emit stamps e with ids and the current time, passes it to fn, and moves
// the clock on by a gap, never past the end of the time span.
func (g *userGen) emit(e Event) {
	if g.err != nil {
		return
	}
	e.ID = "e" + g.user + "-" + strconv.Itoa(g.seq)
	e.User = g.user
	e.Session = g.session
	e.TS = g.ts
	g.seq++
	g.err = g.fn(e)
	g.ts = min(g.ts+g.gap(), g.end)
}

// gap draws the time between two events of a session: 2 s plus an
// exponential with mean 25 s, at most 3 min.
func (g *userGen) gap() int64 {
	return 2000 + int64(min(178000, 25000*g.r.ExpFloat64()))
}

// query builds a search query for leaf l: the English noun, a tag and the
// noun ("trail running shoes"), or the CJK noun.
func (w *World) query(r *rand.Rand, l int) string {
	lf := &w.leaves[l]
	switch x := r.Float64(); {
	case x < cjkQueryShare:
		return lf.cjk
	case x < cjkQueryShare+tagQueryShare:
		return lf.tags[r.IntN(len(lf.tags))] + " " + lf.lowerNoun
	default:
		return lf.lowerNoun
	}
}

// poisson draws a Poisson variate with mean m (Knuth's method; fine for the
// small means used here).
func poisson(r *rand.Rand, m float64) int {
	limit, k := math.Exp(-m), 0
	for p := r.Float64(); p > limit; p *= r.Float64() {
		k++
	}
	return k
}

// EachEvent calls fn with the events of users 0..Users-1 in turn, each
// user's in time order, stopping at the first error.
func (w *World) EachEvent(fn func(Event) error) error {
	for u := range w.Users {
		if err := w.Events(u, fn); err != nil {
			return err
		}
	}
	return nil
}

// WriteItemsNDJSON writes the catalog to out, one JSON Item per line.
func (w *World) WriteItemsNDJSON(out io.Writer) error {
	return writeNDJSON(out, func(enc *json.Encoder) error {
		for i := range w.Items {
			if err := enc.Encode(&w.Items[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteEventsNDJSON writes the events of all users to out, one JSON Event
// per line, in EachEvent order.
func (w *World) WriteEventsNDJSON(out io.Writer) error {
	return writeNDJSON(out, func(enc *json.Encoder) error {
		return w.EachEvent(func(e Event) error { return enc.Encode(&e) })
	})
}

func writeNDJSON(out io.Writer, write func(*json.Encoder) error) error {
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := write(enc); err != nil {
		return err
	}
	return bw.Flush()
}
