package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/model"
)

// A record's value is a version byte, a kind byte and a JSON body. Events are
// written as the node that took them accepted and enriched them (validated,
// stamped with a time, with what its catalog knew of their items then), so
// that every node applies the same facts, whatever its catalog has applied
// by the time it reads them.
const (
	recordVersion byte = 1

	kindEvents         byte = 'e' // a JSON array of wireEvent, all of one user
	kindItems          byte = 'i' // a JSON array of index.Item to upsert
	kindItemDelete     byte = 'x' // a JSON string: the id of an item to delete
	kindCampaigns      byte = 'c' // a JSON array of campaign.Campaign to upsert
	kindCampaignDelete byte = 'k' // a JSON string: the id of a campaign to delete
	kindErase          byte = 'u' // a JSON string: the user to erase
	kindAttributes     byte = 'a' // a JSON array of features.AttributesUpdate, all of one user
	kindNotice         byte = 'n' // a JSON wireNotice: a win, billing or loss notice a node took
	kindAudience       byte = 'd' // an audience's whole definition (audience.Audience.MarshalDefinition)
	kindAudienceDelete byte = 'D' // a JSON string: the name of an audience to delete
	kindLabels         byte = 'l' // click-model labels a node made: for each, a uvarint length and model.AppendLabel's bytes
	kindExperiments    byte = 'X' // a JSON learn.ExperimentsConfig to set
	kindStats          byte = 's' // a JSON wireStats: a node's experiment counters
)

// wireStats are a node's own experiment counters, totals since each
// experiment began.
type wireStats struct {
	Node string           `json:"node"`
	Arms []learn.ArmStats `json:"arms"`
}

// wireNotice is a notice as the log carries it: the campaign's limits are
// read from each node's campaigns when it is applied.
type wireNotice struct {
	Kind     ledger.Kind `json:"kind"`
	Campaign string      `json:"campaign"`
	Bid      uint64      `json:"bid"`
	Auction  uint64      `json:"auction"`
	BidAt    int64       `json:"bid_at"`
	User     uint64      `json:"user,omitempty"`
	Price    int64       `json:"price"`
}

// wireEvent is an event as the log carries it.
type wireEvent struct {
	ID      string   `json:"id,omitempty"`
	User    string   `json:"user,omitempty"`
	Type    string   `json:"type"`
	Item    string   `json:"item,omitempty"`
	Query   string   `json:"query,omitempty"`
	Amount  float64  `json:"amount,omitempty"`
	TS      int64    `json:"ts"`
	Session string   `json:"session,omitempty"`
	Channel string   `json:"channel,omitempty"`
	RecID   string   `json:"rec_id,omitempty"`
	Items   []string `json:"items,omitempty"`

	Category   []string   `json:"category,omitempty"`
	Brand      string     `json:"brand,omitempty"`
	Price      float64    `json:"price,omitempty"`
	PriceRatio float64    `json:"price_ratio,omitempty"`
	Terms      []string   `json:"terms,omitempty"`
	Matches    [][]string `json:"matches,omitempty"`
}

// appendEvents encodes enriched events into dst.
func appendEvents(dst []byte, events []features.Event) ([]byte, error) {
	w := make([]wireEvent, len(events))
	for i := range events {
		e := &events[i]
		w[i] = wireEvent{ID: e.ID, User: e.User, Type: e.Type.String(), Item: e.Item, Query: e.Query,
			Amount: e.Amount, TS: e.TS, Session: e.Session, Channel: e.Channel, RecID: e.RecID, Items: e.Items,
			Category: e.Category, Brand: e.Brand, Price: e.Price, PriceRatio: e.PriceRatio, Terms: e.Terms, Matches: e.Matches}
	}
	return appendRecord(dst, kindEvents, w)
}

func appendRecord(dst []byte, kind byte, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return dst, fmt.Errorf("cluster: cannot encode record: %w", err)
	}
	dst = append(dst, recordVersion, kind)
	return append(dst, b...), nil
}

// appendLabels encodes labels into a record, binary as the model stores
// them (JSON would be several times larger).
func appendLabels(dst []byte, labels []model.Label) []byte {
	dst = append(dst, recordVersion, kindLabels)
	var buf []byte
	for i := range labels {
		buf = model.AppendLabel(buf[:0], &labels[i])
		dst = binary.AppendUvarint(dst, uint64(len(buf)))
		dst = append(dst, buf...)
	}
	return dst
}

func decodeLabels(b []byte) ([]model.Label, error) {
	var out []model.Label
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: labels cut short", errRecord)
		}
		l, err := model.DecodeLabel(b[k : k+int(n)])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errRecord, err)
		}
		out = append(out, l)
		b = b[k+int(n):]
	}
	return out, nil
}

// errRecord is wrapped by the errors of records that cannot be read.
var errRecord = errors.New("cluster: unreadable record")

// decoded is one record read back: its kind and, for the catalog's topic,
// what it changes (events are appended to the caller's slice).
type decoded struct {
	kind        byte
	items       []index.Item
	campaigns   []campaign.Campaign
	attributes  []features.AttributesUpdate
	notice      wireNotice
	audience    *audience.Audience
	labels      []model.Label
	experiments *learn.ExperimentsConfig
	stats       wireStats
	offset      int64  // of a catalog record in its topic
	id          string // of a deletion or an erasure
}

// decodeRecord reads a record's value, appending its events to events.
func decodeRecord(v []byte, events []features.Event) (decoded, []features.Event, error) {
	if len(v) < 2 || v[0] != recordVersion {
		return decoded{}, events, fmt.Errorf("%w: unknown version", errRecord)
	}
	d := decoded{kind: v[1]}
	switch d.kind {
	case kindEvents:
		var w []wireEvent
		if err := json.Unmarshal(v[2:], &w); err != nil {
			return decoded{}, events, fmt.Errorf("%w: %v", errRecord, err)
		}
		for i := range w {
			t, ok := features.ParseEventType(w[i].Type)
			if !ok {
				return decoded{}, events, fmt.Errorf("%w: event type %q", errRecord, w[i].Type)
			}
			events = append(events, features.Event{ID: w[i].ID, User: w[i].User, Type: t, Item: w[i].Item,
				Query: w[i].Query, Amount: w[i].Amount, TS: w[i].TS, Session: w[i].Session, Channel: w[i].Channel,
				RecID: w[i].RecID, Items: w[i].Items, Category: w[i].Category, Brand: w[i].Brand, Price: w[i].Price,
				PriceRatio: w[i].PriceRatio, Terms: w[i].Terms, Matches: w[i].Matches})
		}
	case kindLabels:
		labels, err := decodeLabels(v[2:])
		if err != nil {
			return decoded{}, events, err
		}
		d.labels = labels
	case kindAudience:
		a, err := audience.UnmarshalDefinition(v[2:])
		if err != nil {
			return decoded{}, events, fmt.Errorf("%w: %v", errRecord, err)
		}
		d.audience = a
	case kindItems, kindCampaigns, kindItemDelete, kindCampaignDelete, kindErase, kindAttributes, kindNotice, kindAudienceDelete,
		kindExperiments, kindStats:
		var body any
		switch d.kind {
		case kindExperiments:
			d.experiments = new(learn.ExperimentsConfig)
			body = d.experiments
		case kindStats:
			body = &d.stats
		case kindItems:
			body = &d.items
		case kindCampaigns:
			body = &d.campaigns
		case kindAttributes:
			body = &d.attributes
		case kindNotice:
			body = &d.notice
		default:
			body = &d.id
		}
		if err := json.Unmarshal(v[2:], body); err != nil {
			return decoded{}, events, fmt.Errorf("%w: %v", errRecord, err)
		}
	default:
		return decoded{}, events, fmt.Errorf("%w: unknown kind %q", errRecord, d.kind)
	}
	return d, events, nil
}
