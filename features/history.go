package features

import (
	"encoding/binary"
	"math"

	"github.com/tailor-dev/tailor/internal/kv"

	"github.com/tailor-dev/tailor/internal/wire"
)

// HistoryEvent is one event as kept in a user's durable history.
type HistoryEvent struct {
	ID      string
	Type    EventType
	Target  string // item id, or the query of a search
	Amount  float64
	TS      int64 // Unix milliseconds
	Session string
}

const historyVersion = 1

// historyKey is 'h' uvarint(len(user)) user ts seq, so that one user's events
// sort together in time order and DeleteRange over the user's prefix erases them.
func appendHistoryKey(dst []byte, user string, ts int64, seq uint64) []byte {
	dst = kv.AppendOwnerPrefix(dst, kv.PrefixHistory, user)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, seq)
}

func appendHistoryValue(dst []byte, e *Event) []byte {
	dst = append(dst, historyVersion, byte(e.Type))
	dst = appendString(dst, e.Target())
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(e.Amount))
	dst = appendString(dst, e.Session)
	return appendString(dst, e.ID)
}

// decodeHistory decodes a history record; the caller gives the time from the key.
func decodeHistory(v []byte, ts int64) (HistoryEvent, bool) {
	if len(v) < 2 || v[0] != historyVersion {
		return HistoryEvent{}, false
	}
	d := wire.Reader{S: string(v[2:])}
	h := HistoryEvent{Type: EventType(v[1]), TS: ts}
	h.Target = d.Str()
	h.Amount = math.Float64frombits(d.Uint64())
	h.Session = d.Str()
	h.ID = d.Str()
	if d.Err || len(d.S) != 0 || h.Type == 0 || int(h.Type) >= numEventTypes {
		return HistoryEvent{}, false
	}
	return h, true
}

// parseHistoryKey splits a history key into its user and time.
func parseHistoryKey(k []byte) (user string, ts int64, ok bool) {
	if len(k) < 1 || k[0] != kv.PrefixHistory {
		return "", 0, false
	}
	n, w := binary.Uvarint(k[1:])
	// Compare n with what is left less the 16 bytes of time and sequence,
	// rather than n+16 with what is left, which wraps for n near 2^64.
	if w <= 0 || len(k)-1-w < 16 || n != uint64(len(k)-1-w-16) {
		return "", 0, false
	}
	u := k[1+w : 1+w+int(n)]
	ts = int64(binary.BigEndian.Uint64(k[1+w+int(n):]) ^ (1 << 63))
	return string(u), ts, true
}
