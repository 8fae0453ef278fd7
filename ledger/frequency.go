package ledger

import (
	"encoding/binary"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// freqKey names one user's counter for one campaign.
type freqKey struct {
	user     uint64
	campaign string
}

// freqEntry holds the times (Unix ms, oldest first) of a user's latest
// billed impressions of a campaign: at most as many as the cap, since more
// cannot change a decision.
type freqEntry struct {
	per int64 // the cap's window, ms, when last written
	ts  []int64
}

// expired reports whether no impression of e counts any more.
func (e *freqEntry) expired(now int64) bool {
	return len(e.ts) == 0 || e.ts[len(e.ts)-1] <= now-e.per
}

// with returns a copy of e (which may be nil) with an impression at now,
// keeping what lim's cap needs.
func (e *freqEntry) with(now int64, lim Limits) *freqEntry {
	n := &freqEntry{per: lim.FreqPer.Milliseconds()}
	if e != nil {
		for _, t := range e.ts {
			if t > now-n.per {
				n.ts = append(n.ts, t)
			}
		}
	}
	n.ts = append(n.ts, now)
	if len(n.ts) > lim.FreqImps {
		n.ts = n.ts[len(n.ts)-lim.FreqImps:]
	}
	return n
}

func (e *freqEntry) encode(dst []byte) []byte {
	dst = binary.AppendVarint(dst, e.per)
	dst = binary.AppendUvarint(dst, uint64(len(e.ts)))
	prev := int64(0)
	for _, t := range e.ts {
		dst = binary.AppendVarint(dst, t-prev)
		prev = t
	}
	return dst
}

func decodeFreq(v []byte) (*freqEntry, error) {
	e := &freqEntry{}
	per, n := binary.Varint(v)
	if n <= 0 {
		return nil, errCorrupt
	}
	v = v[n:]
	e.per = per
	cnt, n := binary.Uvarint(v)
	if n <= 0 || cnt > 100000 {
		return nil, errCorrupt
	}
	v = v[n:]
	prev := int64(0)
	for i := uint64(0); i < cnt; i++ {
		d, n := binary.Varint(v)
		if n <= 0 {
			return nil, errCorrupt
		}
		v = v[n:]
		prev += d
		e.ts = append(e.ts, prev)
	}
	if len(v) != 0 {
		return nil, errCorrupt
	}
	return e, nil
}

func freqRecordKey(campaign string, user uint64) []byte {
	k := make([]byte, 0, 2+binary.MaxVarintLen64+len(campaign)+8)
	k = kv.AppendOwnerPrefix(append(k, kv.PrefixLedger), subFrequency, campaign)
	return binary.BigEndian.AppendUint64(k, user)
}

// parseOwnerKey parses a key of the shape kv.PrefixLedger, sub-key,
// uvarint(len) campaign, id(8): a frequency or a reservation key.
func parseOwnerKey(k []byte) (campaign string, id uint64, ok bool) {
	if len(k) < 3 {
		return "", 0, false
	}
	k = k[2:]
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) != n+8 {
		return "", 0, false
	}
	return string(k[w : w+int(n)]), binary.BigEndian.Uint64(k[w+int(n):]), true
}

const freqShards = 64

// freqTable holds the frequency entries in memory, sharded by user.
type freqTable struct {
	shards [freqShards]struct {
		mu sync.RWMutex
		m  map[freqKey]*freqEntry
	}
}

func (t *freqTable) init() {
	for i := range t.shards {
		t.shards[i].m = map[freqKey]*freqEntry{}
	}
}

func (t *freqTable) shard(u uint64) int { return int(u % freqShards) }

func (t *freqTable) get(k freqKey) *freqEntry {
	s := &t.shards[t.shard(k.user)]
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	return e
}

func (t *freqTable) put(k freqKey, e *freqEntry) {
	s := &t.shards[t.shard(k.user)]
	s.mu.Lock()
	s.m[k] = e
	s.mu.Unlock()
}

// count returns how many of the user's impressions of the campaign came
// after since.
func (t *freqTable) count(k freqKey, since int64) int {
	e := t.get(k)
	if e == nil {
		return 0
	}
	n := 0
	for i := len(e.ts) - 1; i >= 0 && e.ts[i] > since; i-- {
		n++
	}
	return n
}

// sweepEvery is how often entries no longer counting are dropped.
const sweepEvery = 10 * 60 * 1000

// maybeSweep drops, at most every sweepEvery, the frequency entries whose
// impressions have all left their window, from memory and from Pebble. Each
// campaign's entries go under its account lock, the lock billing notices
// write them under, so that a deletion never lands after a newer record.
func (l *Ledger) maybeSweep(now int64) {
	last := l.sweptAt.Load()
	if now-last < sweepEvery || !l.sweptAt.CompareAndSwap(last, now) {
		return
	}
	byCampaign := map[string][]freqKey{}
	for i := range l.freq.shards {
		s := &l.freq.shards[i]
		s.mu.RLock()
		for k, e := range s.m {
			if e.expired(now) {
				byCampaign[k.campaign] = append(byCampaign[k.campaign], k)
			}
		}
		s.mu.RUnlock()
	}
	for campaign, keys := range byCampaign {
		a := l.Account(campaign)
		a.mu.Lock()
		b := l.db.NewBatch()
		for _, k := range keys {
			s := &l.freq.shards[l.freq.shard(k.user)]
			s.mu.Lock()
			if e, ok := s.m[k]; ok && e.expired(now) {
				delete(s.m, k)
				b.Delete(freqRecordKey(k.campaign, k.user), nil)
			}
			s.mu.Unlock()
		}
		// Losing this on a crash only leaves records that Open drops.
		_ = b.Commit(pebble.NoSync)
		b.Close()
		a.mu.Unlock()
	}
}
