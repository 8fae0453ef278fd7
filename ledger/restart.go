package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// Reservations outlive a graceful restart: Close writes the outstanding ones
// in its synced batch, and Open takes back those still unexpired and deletes
// every record before it returns. A crash writes none, and a crash after a
// restart finds none, so a crash releases every hold rather than resurrect
// one that may have been settled since it was written.

const reservationVersion = 1

func reservationKey(campaign string, bid uint64) []byte {
	k := make([]byte, 0, 2+binary.MaxVarintLen64+len(campaign)+8)
	k = kv.AppendOwnerPrefix(append(k, kv.PrefixLedger), subReservation, campaign)
	return binary.BigEndian.AppendUint64(k, bid)
}

func (r reservation) encode(dst []byte) []byte {
	dst = append(dst, reservationVersion)
	dst = binary.AppendVarint(dst, r.amount)
	return binary.AppendVarint(dst, r.until)
}

func decodeReservation(v []byte) (reservation, error) {
	if len(v) == 0 || v[0] != reservationVersion {
		return reservation{}, errCorrupt
	}
	v = v[1:]
	amount, n := binary.Varint(v)
	if n <= 0 {
		return reservation{}, errCorrupt
	}
	v = v[n:]
	until, n := binary.Varint(v)
	if n <= 0 || n != len(v) || amount < 0 {
		return reservation{}, errCorrupt
	}
	return reservation{amount: amount, until: until}, nil
}

// writeReservations adds a's reservations outstanding at now to b. The
// caller holds a.mu.
func (a *Account) writeReservations(b *pebble.Batch, now int64) error {
	a.expire(now)
	for bid, r := range a.resv {
		if err := b.Set(reservationKey(a.id, bid), r.encode(nil), nil); err != nil {
			return err
		}
	}
	return nil
}

// restoreReservations takes back the reservations Close wrote that are still
// unexpired at now, and deletes every stored reservation with a synced
// commit.
func (l *Ledger) restoreReservations(now int64) error {
	prefix := []byte{kv.PrefixLedger, subReservation}
	found := false
	err := scan(l.db, prefix, func(k, v []byte) error {
		found = true
		campaign, bid, ok := parseOwnerKey(k)
		if !ok {
			return fmt.Errorf("ledger: corrupt reservation key %x", k)
		}
		r, err := decodeReservation(v)
		if err != nil {
			return fmt.Errorf("ledger: corrupt reservation of %q: %w", campaign, err)
		}
		if r.until > now {
			l.Account(campaign).put(bid, r.amount, r.until)
		}
		return nil
	})
	if err != nil || !found {
		return err
	}
	if err := l.db.DeleteRange(prefix, kv.PrefixEnd(prefix), pebble.Sync); err != nil {
		return fmt.Errorf("ledger: cannot delete restored reservations: %w", err)
	}
	return nil
}
