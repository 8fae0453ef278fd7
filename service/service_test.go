package service

import (
	"errors"
	"slices"
	"testing"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/ranker"
)

// TestOperations runs the operations that span parts in process: events
// enriched from the catalog and applied, a recommendation for the user that
// the decision log names, audience conditions, a members page, and erasure.
func TestOperations(t *testing.T) {
	s, err := Open(t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items := []index.Item{
		{ID: "shoe-1", Title: "trail shoe", Category: []string{"shoes"}, Price: 90},
		{ID: "shoe-2", Title: "road shoe", Category: []string{"shoes"}, Price: 110},
		{ID: "sock-1", Title: "wool socks", Category: []string{"socks"}, Price: 12},
	}
	if err := s.Index().Upsert(items); err != nil {
		t.Fatal(err)
	}
	now := s.now()
	res, err := s.Ingest([]features.Event{
		{ID: "e1", User: "ana", Type: features.View, Item: "shoe-1", TS: now - 2000},
		{ID: "e2", User: "ana", Type: features.View, Item: "sock-1", TS: now - 1000},
		{ID: "e1", User: "ana", Type: features.View, Item: "shoe-1", TS: now - 2000},
		{User: "ben", Type: features.Search, Query: "shoe", TS: now},
	})
	if err != nil || res.Accepted != 3 || res.Duplicates != 1 {
		t.Fatalf("Ingest = %+v, %v, want 3 accepted and 1 duplicate", res, err)
	}
	p, err := s.Store().Get("ana")
	if err != nil || len(p.Categories) == 0 {
		t.Fatalf("Get(ana) = %+v, %v, want interests from the catalog's categories", p, err)
	}

	req := ranker.Request{N: 2, Exclude: []string{"shoe-1"}}
	var out ranker.Result
	dec, err := s.Recommend("ana", nil, nil, &req, &out)
	if err != nil || len(out.Items) == 0 || dec.RecID == 0 {
		t.Fatalf("Recommend(ana) = %d items, decision %+v, %v; want items and a logged decision", len(out.Items), dec, err)
	}
	for _, it := range out.Items {
		if it.Doc.Item.ID == "shoe-1" {
			t.Errorf("Recommend returned the excluded item shoe-1")
		}
	}

	if err := s.Audiences().Put(&audience.Audience{Name: "viewers", Expression: "events > 1"}); err != nil {
		t.Fatal(err)
	}
	req = ranker.Request{N: 2}
	if _, err := s.Recommend("ben", &Audiences{Filter: "viewers"}, nil, &req, &out); err != nil || len(out.Items) != 0 {
		t.Errorf("Recommend(ben) filtered to viewers = %d items, %v; want an empty slot", len(out.Items), err)
	}
	a, _ := s.Audiences().Get("viewers")
	page, err := s.Members(a, "", 10, 100, now)
	if err != nil || !slices.Equal(page.Users, []string{"ana"}) || page.Next != "" || page.Scanned != 2 {
		t.Errorf("Members(viewers) = %+v, %v; want [ana] of 2 scanned, last page", page, err)
	}
	page, err = s.Members(a, "", 10, 1, now)
	if err != nil || page.Next != "ana" {
		t.Errorf("Members(viewers) scanning 1 = %+v, %v; want a cursor after ana", page, err)
	}

	if err := s.Erase("ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store().Get("ana"); !errors.Is(err, features.ErrNotFound) {
		t.Errorf("after Erase, Get(ana) = %v, want ErrNotFound", err)
	}
	if err := s.Erase("ana"); !errors.Is(err, features.ErrNotFound) {
		t.Errorf("a second Erase = %v, want ErrNotFound", err)
	}
}

// TestSimilarSessionsRestartAndErasure: ben viewed what ana's session held
// first; ana's other items come to ben from similar sessions, still after
// a restart (the sessions are rebuilt from the stored history), and no
// more once ana is erased.
func TestSimilarSessionsRestartAndErasure(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if err := s.Index().Upsert([]index.Item{{ID: "a", Title: "a"}, {ID: "b", Title: "b"}, {ID: "c", Title: "c"}, {ID: "d", Title: "d"}}); err != nil {
		t.Fatal(err)
	}
	now := s.now()
	if _, err := s.Ingest([]features.Event{
		{User: "ana", Type: features.View, Item: "a", TS: now - 3000},
		{User: "ana", Type: features.View, Item: "b", TS: now - 2000},
		{User: "ana", Type: features.View, Item: "c", TS: now - 1000},
		{User: "ben", Type: features.View, Item: "a", TS: now - 500},
	}); err != nil {
		t.Fatal(err)
	}
	fromSessions := func() []string {
		t.Helper()
		req := ranker.Request{N: 3, Exclude: []string{"a"}}
		var out ranker.Result
		if _, err := s.Recommend("ben", nil, nil, &req, &out); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range out.Items {
			for _, r := range it.Reasons[:it.NReasons] {
				if r.Code == ranker.SimilarSessions {
					ids = append(ids, it.Doc.Item.ID)
				}
			}
		}
		slices.Sort(ids)
		return ids
	}
	if got, want := fromSessions(), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("items from similar sessions = %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, testOptions()); err != nil {
		t.Fatal(err)
	}
	if got, want := fromSessions(), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Errorf("after a restart, items from similar sessions = %v, want %v", got, want)
	}
	if err := s.Erase("ana"); err != nil {
		t.Fatal(err)
	}
	if got := fromSessions(); len(got) != 0 {
		t.Errorf("after ana's erasure, items from similar sessions = %v, want none", got)
	}
}
