package trigger

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/kv"
)

// Record is one outbox entry: a user entered an audience.
type Record struct {
	Seq      uint64 `json:"seq"`
	TS       int64  `json:"ts"` // Unix milliseconds of the evaluation that saw the entry
	User     string `json:"user"`
	Audience string `json:"audience"`
	Event    string `json:"event"` // "enter"
}

// Outbox keeps trigger records and audience memberships in Pebble.
type Outbox struct {
	db *pebble.DB

	mu  sync.Mutex // serializes evaluations that may append
	seq uint64     // last sequence number given out

	appended atomic.Pointer[chan struct{}] // closed, and replaced, when records are appended

	qmu    sync.Mutex
	queues map[string]*worker // while Deliver runs; written by Deliver's goroutine only
}

// OpenOutbox opens the outbox over db.
func OpenOutbox(db *pebble.DB) (*Outbox, error) {
	o := &Outbox{db: db}
	o.appended.Store(new(make(chan struct{})))
	prefix := []byte{kv.PrefixOutbox}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if it.Last() {
		if k := it.Key(); len(k) == 9 {
			o.seq = binary.BigEndian.Uint64(k[1:])
		}
	}
	return o, it.Error()
}

func outboxKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kv.PrefixOutbox}, seq)
}

func memberKey(aud, user string) []byte {
	return append(kv.AppendOwnerPrefix(nil, kv.PrefixMember, aud), user...)
}

// Evaluation is one user evaluated against the triggered audiences.
type Evaluation struct {
	User   string
	Member func(*audience.Audience) bool
}

// Apply records, for each evaluation, the triggered audiences the user
// entered (appending records) and left, in one synced batch. It returns the
// records appended.
func (o *Outbox) Apply(triggered []*audience.Audience, evals []Evaluation, now int64) ([]Record, error) {
	if len(triggered) == 0 || len(evals) == 0 {
		return nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.db.NewBatch()
	defer b.Close()
	var out []Record
	seq := o.seq
	for _, ev := range evals {
		for _, a := range triggered {
			key := memberKey(a.Name, ev.User)
			_, closer, err := o.db.Get(key)
			was := err == nil
			if err == nil {
				closer.Close()
			} else if !errors.Is(err, pebble.ErrNotFound) {
				return nil, err
			}
			is := ev.Member(a)
			switch {
			case is && !was:
				seq++
				r := Record{Seq: seq, TS: now, User: ev.User, Audience: a.Name, Event: "enter"}
				v, _ := json.Marshal(r)
				if err := b.Set(outboxKey(seq), v, nil); err != nil {
					return nil, err
				}
				if err := b.Set(key, binary.BigEndian.AppendUint64(nil, uint64(now)), nil); err != nil {
					return nil, err
				}
				out = append(out, r)
			case !is && was:
				if err := b.Delete(key, nil); err != nil {
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
	o.seq = seq
	close(*o.appended.Swap(new(make(chan struct{}))))
	return out, nil
}

// wake returns a channel closed when records are next appended.
func (o *Outbox) wake() <-chan struct{} { return *o.appended.Load() }

// Read returns up to limit records with a sequence number above after.
func (o *Outbox) Read(after uint64, limit int) ([]Record, error) {
	it, err := o.db.NewIter(&pebble.IterOptions{LowerBound: outboxKey(after + 1), UpperBound: []byte{kv.PrefixOutbox + 1}})
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

// Last returns the sequence number of the newest record, 0 when none.
func (o *Outbox) Last() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq
}

// ForgetUser removes the user's memberships, for erasure. Records already in
// the outbox stay until consumed and trimmed.
func (o *Outbox) ForgetUser(triggered []*audience.Audience, user string) error {
	b := o.db.NewBatch()
	defer b.Close()
	for _, a := range triggered {
		if err := b.Delete(memberKey(a.Name, user), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}
