package trigger

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/audience"
)

// TestPebbleReadsEarlierMemberships: a membership stored by earlier
// versions (the time of entry alone) still counts as in, so upgrading
// makes no second record for the users already inside.
func TestPebbleReadsEarlierMemberships(t *testing.T) {
	e := newEnv(t)
	if err := e.db.Set(memberKey("a", "u"), binary.BigEndian.AppendUint64(nil, 500), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	aud := []*audience.Audience{{Name: "a"}}
	ctx := context.Background()
	eval := func(in bool) int {
		t.Helper()
		recs, err := e.store.Apply(ctx, aud, []Evaluation{{User: "u", Version: 3, Member: func(*audience.Audience) bool { return in }}}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	if n := eval(true); n != 0 {
		t.Errorf("a user already inside made %d records, want none", n)
	}
	if m, ok, err := e.store.membership(memberKey("a", "u")); err != nil || !ok || !m.in || m.version != 3 {
		t.Errorf("membership after the evaluation = %+v, %v, %v; want in at version 3", m, ok, err)
	}
}
