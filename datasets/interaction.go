package datasets

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Interaction is one behavioural event of a public log, in the terms of POST
// /v1/events.
type Interaction struct {
	User    string
	Item    string
	TS      int64  // Unix milliseconds
	Type    string // view, click, cart or purchase
	Amount  float64
	Session string // "" when the log has none
}

// CatalogItem is an item as POST /v1/items takes it.
type CatalogItem struct {
	ID       string
	Title    string
	Category []string
	Tags     []string
	Price    float64
}

// Log is a data set read whole: its catalog and its interactions, sorted by
// time (ties keep the file's order).
type Log struct {
	Name   string
	Items  []CatalogItem
	Events []Interaction
}

// sortByTime orders the events by time, keeping the order of ties.
func (l *Log) sortByTime() {
	slices.SortStableFunc(l.Events, func(a, b Interaction) int {
		switch {
		case a.TS < b.TS:
			return -1
		case a.TS > b.TS:
			return 1
		}
		return 0
	})
}

// addMissingItems gives every item the events name a bare catalog entry.
func (l *Log) addMissingItems() {
	have := make(map[string]bool, len(l.Items))
	for _, it := range l.Items {
		have[it.ID] = true
	}
	for _, e := range l.Events {
		if !have[e.Item] {
			have[e.Item] = true
			l.Items = append(l.Items, CatalogItem{ID: e.Item})
		}
	}
}

// Stats counts a log's users, items with events, and events.
func (l *Log) Stats() (users, items, events int) {
	u := map[string]bool{}
	it := map[string]bool{}
	for _, e := range l.Events {
		u[e.User] = true
		it[e.Item] = true
	}
	return len(u), len(it), len(l.Events)
}

// eventType maps the event names of common logs onto the API's types.
func eventType(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "view", "views", "pageview", "page_view", "detail", "impression_click":
		return "view", true
	case "click", "clicks":
		return "click", true
	case "cart", "carts", "addtocart", "add_to_cart", "basket":
		return "cart", true
	case "purchase", "purchases", "order", "orders", "buy", "transaction", "sale":
		return "purchase", true
	}
	return "", false
}

// parseTime reads epoch seconds or milliseconds (told apart by magnitude:
// numbers below 1e11 are seconds, that is before the year 5138), fractional
// epoch seconds, RFC 3339, or "2006-01-02 15:04:05" (UTC), into Unix
// milliseconds.
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > -1e11 && n < 1e11 {
			return n * 1000, nil
		}
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f * 1000), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("cannot read %q as a time (epoch seconds or milliseconds, RFC 3339, or 2006-01-02 15:04:05)", s)
}

var errEmpty = errors.New("no events")
