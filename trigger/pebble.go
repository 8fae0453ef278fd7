package trigger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/kv"
)

// Pebble is the Store of a single node: records, memberships and cursors
// in the node's Pebble, each Apply one synced batch.
type Pebble struct {
	db *pebble.DB

	mu  sync.Mutex // serializes evaluations that may append
	seq uint64     // last sequence number given out

	appends
}

// OpenPebble opens the Store kept in db.
func OpenPebble(db *pebble.DB) (*Pebble, error) {
	p := &Pebble{db: db}
	prefix := []byte{kv.PrefixOutbox}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if it.Last() {
		if k := it.Key(); len(k) == 9 {
			p.seq = binary.BigEndian.Uint64(k[1:])
		}
	}
	return p, it.Error()
}

func outboxKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kv.PrefixOutbox}, seq)
}

func memberKey(aud, user string) []byte {
	return append(kv.AppendOwnerPrefix(nil, kv.PrefixMember, aud), user...)
}

// membership is what a Store remembers of a user and a triggered audience:
// whether the user is in it, as of which evaluation.
type membership struct {
	in      bool
	version uint64 // of the profile evaluated
	at      int64  // the evaluation's now, Unix ms
}

// newer reports whether an evaluation of version at now may replace m. A
// membership is rewritten when it changes or its version grows, not for a
// later now alone.
func (m membership) newer(version uint64, now int64) bool {
	return version > m.version || version == m.version && now >= m.at
}

// A membership is stored as 1 byte (1 in, 0 left), the version and the
// time; earlier versions stored only the time of entry, 8 bytes.
func (m membership) encode() []byte {
	v := make([]byte, 1, 17)
	if m.in {
		v[0] = 1
	}
	v = binary.BigEndian.AppendUint64(v, m.version)
	return binary.BigEndian.AppendUint64(v, uint64(m.at))
}

func decodeMembership(v []byte) (membership, error) {
	switch len(v) {
	case 8:
		return membership{in: true, at: int64(binary.BigEndian.Uint64(v))}, nil
	case 17:
		return membership{in: v[0] == 1, version: binary.BigEndian.Uint64(v[1:]), at: int64(binary.BigEndian.Uint64(v[9:]))}, nil
	}
	return membership{}, fmt.Errorf("trigger: corrupt membership of %d bytes", len(v))
}

// Apply implements Store, in one synced batch.
func (p *Pebble) Apply(_ context.Context, triggered []*audience.Audience, evals []Evaluation, now int64) ([]Record, error) {
	if len(triggered) == 0 || len(evals) == 0 {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	var out []Record
	seq := p.seq
	for _, ev := range evals {
		for _, a := range triggered {
			key := memberKey(a.Name, ev.User)
			was, stored, err := p.membership(key)
			if err != nil {
				return nil, err
			}
			if stored && !was.newer(ev.Version, now) {
				continue
			}
			is := membership{in: ev.Member(a), version: ev.Version, at: now}
			if is.in && !was.in {
				seq++
				r := Record{Seq: seq, TS: now, User: ev.User, Audience: a.Name, Event: "enter"}
				v, _ := json.Marshal(r)
				if err := b.Set(outboxKey(seq), v, nil); err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			if is.in != was.in || stored && is.version > was.version {
				if err := b.Set(key, is.encode(), nil); err != nil {
					return nil, err
				}
			}
		}
	}
	if b.Empty() {
		return nil, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("trigger: cannot store records: %w", err)
	}
	p.seq = seq
	if len(out) > 0 {
		p.signal()
	}
	return out, nil
}

// membership reads the membership stored under key.
func (p *Pebble) membership(key []byte) (membership, bool, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return membership{}, false, nil
	}
	if err != nil {
		return membership{}, false, err
	}
	defer closer.Close()
	m, err := decodeMembership(v)
	return m, err == nil, err
}

// Read implements Store.
func (p *Pebble) Read(_ context.Context, after uint64, limit int) ([]Record, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: outboxKey(after + 1), UpperBound: []byte{kv.PrefixOutbox + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Record
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		var r Record
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("trigger: corrupt record: %w", err)
		}
		out = append(out, r)
	}
	return out, it.Error()
}

// Last implements Store.
func (p *Pebble) Last(context.Context) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, nil
}

// ForgetUser implements Store.
func (p *Pebble) ForgetUser(_ context.Context, triggered []*audience.Audience, user string) error {
	b := p.db.NewBatch()
	defer b.Close()
	for _, a := range triggered {
		if err := b.Delete(memberKey(a.Name, user), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// legacyKey holds the single cursor of the versions that delivered every
// audience in one loop. It is read, never written: a queue without a cursor
// of its own starts from it.
var legacyKey = kv.Key(kv.PrefixMeta, "trigger-delivered")

// cursorPrefix starts the meta key of each audience's cursor; the audience
// name follows (names hold no '/').
const cursorPrefix = "trigger-delivered/"

func cursorKey(name string) []byte { return kv.Key(kv.PrefixMeta, cursorPrefix+name) }

func (c Cursor) encode() []byte {
	v := make([]byte, 0, 24)
	v = binary.BigEndian.AppendUint64(v, c.Seq)
	v = binary.BigEndian.AppendUint64(v, uint64(c.Since))
	return binary.BigEndian.AppendUint64(v, c.Incarnation)
}

// Cursor implements Store. A new queue starts from the single cursor of
// earlier versions, if one is stored.
func (p *Pebble) Cursor(_ context.Context, name string) (Cursor, bool, error) {
	v, ok, err := p.getMeta(cursorKey(name))
	if err != nil {
		return Cursor{}, false, err
	}
	if ok && len(v) == 24 {
		return Cursor{
			Seq:         binary.BigEndian.Uint64(v),
			Since:       int64(binary.BigEndian.Uint64(v[8:])),
			Incarnation: binary.BigEndian.Uint64(v[16:]),
		}, true, nil
	}
	var c Cursor
	if v, ok, err := p.getMeta(legacyKey); err != nil {
		return c, false, err
	} else if ok && len(v) == 8 {
		c.Seq = binary.BigEndian.Uint64(v)
	}
	return c, false, nil
}

// SaveCursor implements Store; a single node has no claims.
func (p *Pebble) SaveCursor(_ context.Context, name string, c Cursor, _ string) (bool, error) {
	return true, p.db.Set(cursorKey(name), c.encode(), pebble.NoSync)
}

// getMeta returns a copy of the value of key.
func (p *Pebble) getMeta(key []byte) ([]byte, bool, error) {
	v, closer, err := p.db.Get(key)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("trigger: cannot read %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}

// DropCursors implements Store.
func (p *Pebble) DropCursors(_ context.Context, keep func(name string) bool) error {
	prefix := kv.Key(kv.PrefixMeta, cursorPrefix)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	var drop [][]byte
	for it.First(); it.Valid(); it.Next() {
		if !keep(string(it.Key()[len(prefix):])) {
			drop = append(drop, append([]byte(nil), it.Key()...))
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, k := range drop {
		if err := p.db.Delete(k, pebble.NoSync); err != nil {
			return err
		}
	}
	return nil
}

// Claim implements Store: on a single node, the only holder has every claim.
func (p *Pebble) Claim(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

// Unclaim implements Store.
func (p *Pebble) Unclaim(context.Context, string, string) error { return nil }
