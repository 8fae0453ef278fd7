package service

import (
	"slices"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/learn"
)

// IngestResult reports what Ingest did.
type IngestResult struct {
	Accepted, Duplicates int
}

// Ingest applies a batch of validated events: it enriches them from the
// catalog, commits them durably to the users' profiles and history, then
// teaches the indexes. Either every event is applied or, on error, none is.
// The users whose profiles changed are checked against the triggered
// audiences at once. Impressions, and the rec_id of the events applied, are
// then attributed to their recommendations, and the labels that are ready
// are learned.
func (s *Service) Ingest(events []features.Event) (IngestResult, error) {
	s.Enrich(events)
	return s.IngestEnriched(events, features.Mark{})
}

// IngestEnriched is Ingest for events that Enrich has already seen, such as
// events read back from a log they were written to enriched: it does not
// enrich them again. It commits mark in the same batch as the events (see
// features.Mark), even when none is accepted, so that a reader of a log
// records how far it has applied atomically with what it applied.
func (s *Service) IngestEnriched(events []features.Event, mark features.Mark) (IngestResult, error) {
	events, imps := learn.SplitImpressions(events)
	res, err := s.store.ApplyMarked(events, mark)
	if err != nil {
		return IngestResult{}, err
	}
	for _, a := range res.Applied {
		ev := &events[a.Index]
		s.m.events[ev.Type].Inc()
		if ev.Type == features.Search {
			continue
		}
		s.idx.Observe(index.Observation{User: ev.User, Item: ev.Item, Weight: popularityWeight(ev.Type), TS: ev.TS, Before: a.Before})
	}
	s.m.duplicates.Add(float64(res.Duplicates))
	s.tune(events, res.Applied)
	if len(s.seg.aud.Triggered()) > 0 && len(res.Applied) > 0 {
		users := make([]string, 0, len(res.Applied))
		for _, a := range res.Applied {
			if u := events[a.Index].User; len(users) == 0 || users[len(users)-1] != u {
				users = append(users, u)
			}
		}
		slices.Sort(users)
		if err := s.checkTriggers(slices.Compact(users)); err != nil {
			// The events are stored; the next sweep catches the transition.
			s.opts.Logger.Printf("triggers: %v", err)
		}
	}
	if s.learn != nil {
		s.learn.Attribute(events, res.Applied, imps)
	}
	return IngestResult{Accepted: res.Accepted + len(imps), Duplicates: res.Duplicates}, nil
}

// Enrich fills in what the catalog knows now of each event's item (category,
// brand, price and its ratio to the category's median) and, for a search,
// its terms and the categories of its best matches. Impressions are left as
// they are.
func (s *Service) Enrich(events []features.Event) {
	var terms []string
	var hits []index.Hit
	for i := range events {
		ev := &events[i]
		if ev.Type == features.Impression {
			continue
		}
		if ev.Type == features.Search {
			terms = index.AppendTerms(terms[:0], ev.Query)
			ev.Terms = append([]string(nil), terms...)
			hits = s.idx.Search(terms, 3, hits[:0])
			for _, h := range hits {
				if d := s.idx.Doc(h.Ord); d != nil && len(d.Item.Category) > 0 {
					ev.Matches = append(ev.Matches, d.Item.Category)
				}
			}
			continue
		}
		if d, ok := s.idx.Get(ev.Item); ok {
			ev.Category = d.Item.Category
			ev.Brand = d.Item.Brand
			ev.Price = d.Item.Price
			if med := s.idx.MedianPrice(d.Leaf()); med > 0 && d.Item.Price > 0 {
				ev.PriceRatio = d.Item.Price / med
			}
		}
	}
}
