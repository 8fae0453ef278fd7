package trigger

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/internal/redistest"
)

// storeMaker opens Store values for one test: each call another node's
// view of the same state (shared stores) or the same store again.
type storeMaker func() Store

// testStore is the contract every Store meets; shared stores, which several
// nodes use at once, also meet claims and the one-record rule across
// nodes.
func testStore(t *testing.T, open func(t *testing.T) storeMaker, shared bool) {
	ctx := context.Background()
	aud := []*audience.Audience{{Name: "a"}, {Name: "b"}}
	in := func(names ...string) func(*audience.Audience) bool {
		return func(a *audience.Audience) bool { return slices.Contains(names, a.Name) }
	}
	apply := func(t *testing.T, s Store, ev Evaluation, now int64) []string {
		t.Helper()
		recs, err := s.Apply(ctx, aud, []Evaluation{ev}, now)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.User+">"+r.Audience)
		}
		return got
	}
	want := func(t *testing.T, what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: records %q, want %q", what, got, want)
		}
	}

	t.Run("EntriesMakeRecords", func(t *testing.T) {
		s := open(t)()
		recs, err := s.Apply(ctx, aud, []Evaluation{
			{User: "u1", Version: 1, Member: in("a")},
			{User: "u2", Version: 1, Member: in("a", "b")},
			{User: "u3", Version: 1, Member: in()},
		}, 1000)
		if err != nil || len(recs) != 3 {
			t.Fatalf("Apply = %v, %v; want 3 records", recs, err)
		}
		for i, r := range recs {
			if r.Seq != uint64(i+1) || r.TS != 1000 || r.Event != "enter" {
				t.Errorf("record %d = %+v, want seq %d, ts 1000, enter", i, r, i+1)
			}
		}
		want(t, "evaluated again", apply(t, s, Evaluation{User: "u1", Version: 1, Member: in("a")}, 2000))
		want(t, "left b", apply(t, s, Evaluation{User: "u2", Version: 2, Member: in("a")}, 2000))
		want(t, "back in b", apply(t, s, Evaluation{User: "u2", Version: 3, Member: in("a", "b")}, 3000), "u2>b")
		if last, err := s.Last(ctx); err != nil || last != 4 {
			t.Errorf("Last = %d, %v; want 4", last, err)
		}
		got, err := s.Read(ctx, 1, 2)
		if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 || got[0].User != "u2" || got[0].Audience != "a" {
			t.Errorf("Read(1, 2) = %+v, %v; want records 2 and 3, the first u2 in a", got, err)
		}
		if got, err := s.Read(ctx, 4, 10); err != nil || len(got) != 0 {
			t.Errorf("Read(4, 10) = %+v, %v; want none", got, err)
		}
		if got, err := s.Read(ctx, 0, 10); err != nil || len(got) != 4 || got[3].TS != 3000 || got[3].User != "u2" || got[3].Audience != "b" {
			t.Errorf("Read(0, 10) = %+v, %v; want 4 records, the last u2 in b at 3000", got, err)
		}
	})

	t.Run("OlderEvaluationsArePassedOver", func(t *testing.T) {
		s := open(t)()
		want(t, "version 5 in", apply(t, s, Evaluation{User: "u", Version: 5, Member: in("a")}, 1000), "u>a")
		want(t, "version 4 out", apply(t, s, Evaluation{User: "u", Version: 4, Member: in()}, 2000))
		want(t, "version 6 in", apply(t, s, Evaluation{User: "u", Version: 6, Member: in("a")}, 2000))
		want(t, "version 7 out", apply(t, s, Evaluation{User: "u", Version: 7, Member: in()}, 2000))
		want(t, "version 6 in again", apply(t, s, Evaluation{User: "u", Version: 6, Member: in("a")}, 3000))
		want(t, "version 7 earlier", apply(t, s, Evaluation{User: "u", Version: 7, Member: in("a")}, 1500))
		want(t, "version 7 later", apply(t, s, Evaluation{User: "u", Version: 7, Member: in("a")}, 2500), "u>a")
	})

	t.Run("ForgottenUserEntersAnew", func(t *testing.T) {
		s := open(t)()
		want(t, "in", apply(t, s, Evaluation{User: "u", Version: 9, Member: in("a", "b")}, 1000), "u>a", "u>b")
		if err := s.ForgetUser(ctx, aud, "u"); err != nil {
			t.Fatal(err)
		}
		want(t, "a new user by that name", apply(t, s, Evaluation{User: "u", Version: 1, Member: in("b")}, 2000), "u>b")
	})

	t.Run("Cursors", func(t *testing.T) {
		s := open(t)()
		if _, ok, err := s.Cursor(ctx, "a"); ok || err != nil {
			t.Fatalf("Cursor of a new queue = %v, %v; want none", ok, err)
		}
		holder := ""
		if shared {
			holder = "n1"
			if ok, err := s.Claim(ctx, "a", holder, time.Minute); !ok || err != nil {
				t.Fatalf("Claim = %v, %v", ok, err)
			}
		}
		c := Cursor{Seq: 7, Since: 1234, Incarnation: 99}
		if ok, err := s.SaveCursor(ctx, "a", c, holder); !ok || err != nil {
			t.Fatalf("SaveCursor = %v, %v", ok, err)
		}
		if got, ok, err := s.Cursor(ctx, "a"); !ok || err != nil || got != c {
			t.Errorf("Cursor = %+v, %v, %v; want %+v", got, ok, err, c)
		}
		if shared {
			if err := s.Unclaim(ctx, "a", holder); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DropCursors(ctx, func(name string) bool { return name != "a" }); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.Cursor(ctx, "a"); ok || err != nil {
			t.Errorf("Cursor after DropCursors = %v, %v; want none", ok, err)
		}
	})

	if !shared {
		return
	}

	t.Run("OneRecordAcrossNodes", func(t *testing.T) {
		mk := open(t)
		n1, n2 := mk(), mk()
		want(t, "node 1", apply(t, n1, Evaluation{User: "u", Version: 3, Member: in("a")}, 1000), "u>a")
		want(t, "node 2, same version", apply(t, n2, Evaluation{User: "u", Version: 3, Member: in("a")}, 1001))
		want(t, "node 2, lagging", apply(t, n2, Evaluation{User: "u", Version: 2, Member: in()}, 1002))
		want(t, "node 1, next version", apply(t, n1, Evaluation{User: "u", Version: 4, Member: in("a")}, 1003))
		if last, err := n2.Last(ctx); err != nil || last != 1 {
			t.Errorf("Last on node 2 = %d, %v; want 1", last, err)
		}
	})

	t.Run("Claims", func(t *testing.T) {
		mk := open(t)
		n1, n2 := mk(), mk()
		claim := func(s Store, holder string, ttl time.Duration) bool {
			t.Helper()
			ok, err := s.Claim(ctx, "q", holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim(n1, "n1", time.Minute) || claim(n2, "n2", time.Minute) || !claim(n1, "n1", time.Minute) {
			t.Fatal("n1 should take and renew the claim, n2 be refused it")
		}
		if ok, err := n2.SaveCursor(ctx, "q", Cursor{Seq: 5}, "n2"); ok || err != nil {
			t.Errorf("SaveCursor by a node without the claim = %v, %v; want refused", ok, err)
		}
		if err := n2.DropCursors(ctx, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
		if ok, err := n1.SaveCursor(ctx, "q", Cursor{Seq: 6}, "n1"); !ok || err != nil {
			t.Errorf("SaveCursor by the holder = %v, %v", ok, err)
		}
		if err := n2.DropCursors(ctx, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
		if c, ok, _ := n2.Cursor(ctx, "q"); !ok || c.Seq != 6 {
			t.Errorf("cursor of a claimed queue = %+v, %v; want kept at 6", c, ok)
		}
		if err := n2.Unclaim(ctx, "q", "n2"); err != nil || claim(n2, "n2", time.Minute) {
			t.Fatalf("Unclaim by another node = %v; the claim should stay n1's", err)
		}
		if err := n1.Unclaim(ctx, "q", "n1"); err != nil || !claim(n2, "n2", 50*time.Millisecond) {
			t.Fatalf("after Unclaim by its holder (%v), n2 should take the claim", err)
		}
		deadline := time.Now().Add(deadline)
		for !claim(n1, "n1", time.Minute) {
			if time.Now().After(deadline) {
				t.Fatal("a claim that was not renewed never lapsed")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// openPebbleStore opens a Pebble store in a temporary directory of tb's.
func openPebbleStore(tb testing.TB) *Pebble {
	db, err := kv.Open(tb.TempDir(), kv.Options{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s, err := OpenPebble(db)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestPebbleStore(t *testing.T) {
	testStore(t, func(t *testing.T) storeMaker {
		s := openPebbleStore(t)
		return func() Store { return s }
	}, false)
}

func TestRedisStore(t *testing.T) {
	c := redistest.Start(t, redistest.Options{Masters: 3})
	rdb := c.Client(t)
	testStore(t, func(t *testing.T) storeMaker {
		prefix := t.Name() + ":"
		return func() Store { return NewRedis(rdb, prefix) }
	}, true)
}
