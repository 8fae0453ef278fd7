package features

// EventType is the kind of a behavioural event, in increasing order of intent.
type EventType uint8

// The event types tailor learns from.
const (
	Search EventType = iota + 1
	View
	Click
	Cart
	Purchase
	numEventTypes = int(Purchase) + 1
)

// Impression reports which items of a recommendation a page showed
// (Event.RecID and Event.Items). It feeds the decision log and click model,
// never a profile: profiles and history hold only the types above.
const Impression EventType = Purchase + 1

var eventTypeNames = [...]string{"", "search", "view", "click", "cart", "purchase", "impression"}

// String returns the type's wire name.
func (t EventType) String() string {
	if int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return "unknown"
}

// ParseEventType returns the type named s, or false if s names none.
func ParseEventType(s string) (EventType, bool) {
	for i := 1; i < len(eventTypeNames); i++ {
		if eventTypeNames[i] == s {
			return EventType(i), true
		}
	}
	return 0, false
}

// IntentWeight is how much an event of this type adds to an interest: a search
// says less about what a user wants than a purchase does.
func (t EventType) IntentWeight() float32 {
	switch t {
	case Search:
		return 1
	case View:
		return 1
	case Click:
		return 2
	case Cart:
		return 4
	case Purchase:
		return 6
	}
	return 0
}

// Event is one validated behavioural event, enriched by the caller with what the
// catalog and text index know about its item or query.
type Event struct {
	ID      string // optional; a replayed id is a no-op
	User    string
	Type    EventType
	Item    string // every type but Search
	Query   string // Search
	Amount  float64
	TS      int64 // Unix milliseconds
	Session string
	Channel string // optional: where the event happened (web, app, email, ...)
	// RecID is the rec_id of the recommendation the event follows: an item
	// event with one is a click on that recommendation. Optional.
	RecID string
	// Items are the items an Impression reports shown.
	Items []string

	// Enrichment, filled from the catalog (item events) and the text index
	// (searches). All optional.
	Category []string // the item's category path
	Brand    string   // the item's brand
	Price    float64  // the item's price, used as the amount of a purchase without one
	// PriceRatio is the item's price over the median price of its category,
	// 0 when unknown.
	PriceRatio float64
	Terms      []string   // the query's normalized terms
	Matches    [][]string // category paths of the query's best-matching items
}

// Target returns the item of an item event or the query of a search.
func (e *Event) Target() string {
	if e.Type == Search {
		return e.Query
	}
	return e.Item
}
