package features

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/tailor-dev/tailor/internal/kv"
)

func TestHistoryKeyRoundTrip(t *testing.T) {
	tests := []struct {
		user string
		ts   int64
	}{
		{"", 0},
		{"alice", 1_760_000_000_000},
		{"用户🙂", -1},
		{"\x00\xff", math.MinInt64},
		{string(bytes.Repeat([]byte{'u'}, 300)), math.MaxInt64},
	}
	for _, tt := range tests {
		k := appendHistoryKey(nil, tt.user, tt.ts, 42)
		user, ts, ok := parseHistoryKey(k)
		if !ok || user != tt.user || ts != tt.ts {
			t.Errorf("parseHistoryKey(%q) = %q, %d, %v, want %q, %d, true", k, user, ts, ok, tt.user, tt.ts)
		}
	}
}

func TestHistoryKeyOrder(t *testing.T) {
	// One user's keys sort by time, negative times first, then by sequence.
	times := []int64{math.MinInt64, -5, 0, 5, math.MaxInt64}
	var prev []byte
	for _, ts := range times {
		for seq := uint64(0); seq < 3; seq++ {
			k := appendHistoryKey(nil, "u", ts, seq)
			if prev != nil && bytes.Compare(prev, k) >= 0 {
				t.Errorf("appendHistoryKey(%q, %d, %d) = %q sorts before the previous key %q", "u", ts, seq, k, prev)
			}
			prev = k
		}
	}
}

func TestParseHistoryKeyInvalid(t *testing.T) {
	valid := appendHistoryKey(nil, "alice", 7, 1)
	// A length whose sum with 16 wraps around to what is left of the key.
	wrap := binary.AppendUvarint([]byte{kv.PrefixHistory}, math.MaxUint64-15)
	tests := []struct {
		name string
		k    []byte
	}{
		{"empty", nil},
		{"wrong prefix", append([]byte{kv.PrefixProfile}, valid[1:]...)},
		{"prefix only", []byte{kv.PrefixHistory}},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"bad varint", []byte{kv.PrefixHistory, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"length wraps", wrap},
		{"length wraps with data", append(bytes.Clone(wrap), make([]byte, 16)...)},
	}
	for _, tt := range tests {
		if user, ts, ok := parseHistoryKey(tt.k); ok {
			t.Errorf("parseHistoryKey(%s %q) = %q, %d, true, want false", tt.name, tt.k, user, ts)
		}
	}
}

func TestHistoryValueRoundTrip(t *testing.T) {
	tests := []Event{
		{ID: "e1", Type: View, Item: "i1", TS: 5, Session: "s"},
		{Type: Search, Query: "跑步鞋 red", TS: -5},
		{ID: "e3", Type: Purchase, Item: "商品", Amount: 12.5, Session: "🙂"},
		{Type: Cart, Item: "i", Amount: math.Inf(1)},
	}
	for _, e := range tests {
		v := appendHistoryValue(nil, &e)
		got, ok := decodeHistory(v, e.TS)
		want := HistoryEvent{ID: e.ID, Type: e.Type, Target: e.Target(), Amount: e.Amount, TS: e.TS, Session: e.Session}
		if !ok || got != want {
			t.Errorf("decodeHistory(%q) = %+v, %v, want %+v, true", v, got, ok, want)
		}
	}
}

func TestDecodeHistoryInvalid(t *testing.T) {
	valid := appendHistoryValue(nil, &Event{ID: "e", Type: Click, Item: "i", Session: "s"})
	with := func(i int, b byte) []byte {
		v := bytes.Clone(valid)
		v[i] = b
		return v
	}
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"version only", valid[:1]},
		{"unknown version", with(0, historyVersion+1)},
		{"type zero", with(1, 0)},
		{"type out of range", with(1, byte(numEventTypes))},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0)},
	}
	for _, tt := range tests {
		if h, ok := decodeHistory(tt.v, 0); ok {
			t.Errorf("decodeHistory(%s %q) = %+v, true, want false", tt.name, tt.v, h)
		}
	}
	for n := 0; n < len(valid); n++ {
		if h, ok := decodeHistory(valid[:n], 0); ok {
			t.Errorf("decodeHistory(first %d of %d bytes) = %+v, true, want false", n, len(valid), h)
		}
	}
}

func FuzzDecodeHistory(f *testing.F) {
	keys := [][]byte{
		appendHistoryKey(nil, "alice", 1_760_000_000_000, 9),
		appendHistoryKey(nil, "", -1, 0),
		binary.AppendUvarint([]byte{kv.PrefixHistory}, math.MaxUint64-15),
		{kv.PrefixHistory},
	}
	values := [][]byte{
		appendHistoryValue(nil, &Event{ID: "e1", Type: Purchase, Item: "i1", Amount: 3, Session: "s"}),
		appendHistoryValue(nil, &Event{Type: Search, Query: "跑步鞋"}),
		{historyVersion, byte(View), 0},
		{historyVersion},
	}
	full := values[0]
	for _, n := range []int{2, 3, len(full) / 2, len(full) - 1} {
		values = append(values, full[:n])
	}
	for i, v := range values {
		f.Add(keys[i%len(keys)], v)
	}
	f.Add(keys[0][:len(keys[0])-1], values[0])
	f.Fuzz(func(t *testing.T, k, v []byte) {
		user, ts, ok := parseHistoryKey(k)
		if ok {
			seq := binary.BigEndian.Uint64(k[len(k)-8:])
			k2 := appendHistoryKey(nil, user, ts, seq)
			if u2, ts2, ok := parseHistoryKey(k2); !ok || u2 != user || ts2 != ts {
				t.Fatalf("parseHistoryKey(appendHistoryKey(%q, %d, %d)) = %q, %d, %v, want %q, %d, true",
					user, ts, seq, u2, ts2, ok, user, ts)
			}
		}
		h, ok := decodeHistory(v, ts)
		if !ok {
			return
		}
		e := Event{ID: h.ID, Type: h.Type, Amount: h.Amount, TS: h.TS, Session: h.Session}
		if h.Type == Search {
			e.Query = h.Target
		} else {
			e.Item = h.Target
		}
		v2 := appendHistoryValue(nil, &e)
		h2, ok := decodeHistory(v2, ts)
		same := h2.ID == h.ID && h2.Type == h.Type && h2.Target == h.Target && h2.TS == h.TS &&
			h2.Session == h.Session && math.Float64bits(h2.Amount) == math.Float64bits(h.Amount)
		if !ok || !same {
			t.Fatalf("decodeHistory(appendHistoryValue(decodeHistory(%q))) = %+v, %v, want %+v, true", v, h2, ok, h)
		}
	})
}
