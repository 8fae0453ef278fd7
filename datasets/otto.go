package datasets

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// DefaultOTTOPath is the OTTO sample beside the project.
const DefaultOTTOPath = "../shared/datasets/otto-sample/train.jsonl"

// ReadOTTO reads an OTTO sessions file (JSON Lines: {"session", "events":
// [{"aid", "ts" (milliseconds), "type": clicks|carts|orders}]}). OTTO sessions
// are anonymous, so each session is its own user. clicks are views (a click
// on a product list opens its page), carts are carts, orders purchases.
func ReadOTTO(path string) (*Log, error) {
	f, err := open(path, sourceOTTO)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := ParseOTTO(f)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	return l, nil
}

// ParseOTTO reads OTTO sessions from r.
func ParseOTTO(r io.Reader) (*Log, error) {
	l := &Log{Name: "otto"}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	type event struct {
		AID  *json.Number `json:"aid"`
		TS   *int64       `json:"ts"`
		Type string       `json:"type"`
	}
	var s struct {
		Session *json.Number `json:"session"`
		Events  []event      `json:"events"`
	}
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		s.Session, s.Events = nil, s.Events[:0]
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if s.Session == nil {
			return nil, fmt.Errorf("line %d: no session", line)
		}
		user := "s" + s.Session.String()
		for i, e := range s.Events {
			if e.AID == nil || e.TS == nil {
				return nil, fmt.Errorf("line %d event %d: aid and ts are required", line, i)
			}
			if _, err := strconv.ParseInt(e.AID.String(), 10, 64); err != nil {
				return nil, fmt.Errorf("line %d event %d: aid %q is not an integer", line, i, e.AID.String())
			}
			var typ string
			switch e.Type {
			case "clicks":
				typ = "view"
			case "carts":
				typ = "cart"
			case "orders":
				typ = "purchase"
			default:
				return nil, fmt.Errorf("line %d event %d: type %q is not clicks, carts or orders", line, i, e.Type)
			}
			l.Events = append(l.Events, Interaction{User: user, Item: e.AID.String(), TS: *e.TS, Type: typ, Session: user})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(l.Events) == 0 {
		return nil, errEmpty
	}
	l.sortByTime()
	l.addMissingItems()
	return l, nil
}
