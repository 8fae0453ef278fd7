package bank

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/fnv"
)

// Pebble is a Bank over a local Pebble database, for a single node and for
// tests. Its keys, after Options.KeyPrefix, are:
//
//	t/campaign/period/        -> spent, leased: 8-byte big-endian integers
//	l/campaign/period/node    -> node's lease, 8 bytes (deleted at zero)
//	n/campaign/period/notice  -> empty: the notice was booked
//	h/node                    -> when the node's liveness mark lapses, Unix ms, 8 bytes
//
// Each write is one batch committed with pebble.Sync before the call
// returns. Calls on one budget take turns under one of a fixed set of
// mutexes. Notice ids are remembered for ever. ctx is not used: calls do not
// wait on anything but the disk.
type Pebble struct {
	db     *pebble.DB
	prefix string
	now    func() time.Time
	locks  [64]sync.Mutex
}

// NewPebble returns a bank over db; nil opts means the defaults, and only
// KeyPrefix and Now matter. The caller keeps db and closes it after the last call.
func NewPebble(db *pebble.DB, opts *Options) (*Pebble, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Pebble{db: db, prefix: o.KeyPrefix, now: o.Now}, nil
}

// lock locks b's mutex and returns it.
func (p *Pebble) lock(b Budget) *sync.Mutex {
	h := fnv.String(fnv.Byte(fnv.String(fnv.Offset, b.Campaign), '/'), b.Period)
	mu := &p.locks[h%uint64(len(p.locks))]
	mu.Lock()
	return mu
}

// key returns the key of the given kind ('t', 'l' or 'n') of b, followed by
// sub.
func (p *Pebble) key(kind byte, b Budget, sub string) []byte {
	k := make([]byte, 0, len(p.prefix)+len(b.Campaign)+len(b.Period)+len(sub)+4)
	k = append(append(k, p.prefix...), kind, '/')
	k = append(append(k, b.Campaign...), '/')
	k = append(append(k, b.Period...), '/')
	return append(k, sub...)
}

// get returns the first two integers stored at k, zeros if k is absent.
func (p *Pebble) get(k []byte) (a, b int64, found bool, err error) {
	v, closer, err := p.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("bank: cannot read: %w", err)
	}
	defer closer.Close()
	if len(v) >= 8 {
		a = int64(binary.BigEndian.Uint64(v))
	}
	if len(v) >= 16 {
		b = int64(binary.BigEndian.Uint64(v[8:]))
	}
	return a, b, true, nil
}

// enc encodes the integers for get.
func enc(vs ...int64) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// take adds to w the writes that take up to most from node's lease on b,
// subtracts the amount from *leased and returns it.
func (p *Pebble) take(w *pebble.Batch, node string, b Budget, most int64, leased *int64) (int64, error) {
	k := p.key('l', b, node)
	held, _, _, err := p.get(k)
	n := min(held, most)
	if err != nil || n <= 0 {
		return 0, err
	}
	if n == held {
		err = w.Delete(k, nil)
	} else {
		err = w.Set(k, enc(held-n), nil)
	}
	*leased -= n
	return n, err
}

// commit writes w's changes and the totals of b, synced.
func (p *Pebble) commit(w *pebble.Batch, b Budget, spent, leased int64) error {
	if err := w.Set(p.key('t', b, ""), enc(spent, leased), nil); err != nil {
		return err
	}
	if err := w.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("bank: cannot write: %w", err)
	}
	return nil
}

// Lease implements Bank.
func (p *Pebble) Lease(_ context.Context, node string, b Budget, want int64) (int64, error) {
	if err := check(node, b, want); err != nil {
		return 0, err
	}
	defer p.lock(b).Unlock()
	spent, leased, _, err := p.get(p.key('t', b, ""))
	if err != nil {
		return 0, err
	}
	n := min(want, b.Limit-spent-leased)
	if n <= 0 {
		return 0, nil
	}
	k := p.key('l', b, node)
	held, _, _, err := p.get(k)
	if err != nil {
		return 0, err
	}
	w := p.db.NewBatch()
	defer w.Close()
	if err := w.Set(k, enc(held+n), nil); err != nil {
		return 0, err
	}
	if err := p.commit(w, b, spent, leased+n); err != nil {
		return 0, err
	}
	return n, nil
}

// Return implements Bank.
func (p *Pebble) Return(_ context.Context, node string, b Budget, amount int64) error {
	if err := check(node, b, amount); err != nil {
		return err
	}
	_, err := p.takeBack(node, b, amount)
	return err
}

// Reclaim implements Bank.
func (p *Pebble) Reclaim(_ context.Context, node string, b Budget) (int64, error) {
	if err := check(node, b, 0); err != nil {
		return 0, err
	}
	return p.takeBack(node, b, math.MaxInt64)
}

// takeBack takes up to most from node's lease on b and returns the amount.
func (p *Pebble) takeBack(node string, b Budget, most int64) (int64, error) {
	defer p.lock(b).Unlock()
	spent, leased, _, err := p.get(p.key('t', b, ""))
	if err != nil {
		return 0, err
	}
	w := p.db.NewBatch()
	defer w.Close()
	n, err := p.take(w, node, b, most, &leased)
	if err != nil || n == 0 {
		return 0, err
	}
	if err := p.commit(w, b, spent, leased); err != nil {
		return 0, err
	}
	return n, nil
}

// Book implements Bank.
func (p *Pebble) Book(_ context.Context, node string, b Budget, notice string, amount int64) (bool, error) {
	if err := check(node, b, amount); err != nil || notice == "" {
		return false, ErrInvalid
	}
	defer p.lock(b).Unlock()
	nk := p.key('n', b, notice)
	if _, _, seen, err := p.get(nk); err != nil || seen {
		return false, err
	}
	spent, leased, _, err := p.get(p.key('t', b, ""))
	if err != nil {
		return false, err
	}
	w := p.db.NewBatch()
	defer w.Close()
	if _, err := p.take(w, node, b, amount, &leased); err != nil {
		return false, err
	}
	if err := w.Set(nk, nil, nil); err != nil {
		return false, err
	}
	if err := p.commit(w, b, spent+amount, leased); err != nil {
		return false, err
	}
	return true, nil
}

// State implements Bank.
func (p *Pebble) State(_ context.Context, b Budget) (State, error) {
	if err := checkBudget(b); err != nil {
		return State{}, err
	}
	defer p.lock(b).Unlock()
	var st State
	var err error
	if st.Spent, st.Leased, _, err = p.get(p.key('t', b, "")); err != nil {
		return State{}, err
	}
	lower := p.key('l', b, "")
	upper := append(lower[:len(lower)-1:len(lower)-1], '/'+1)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return State{}, fmt.Errorf("bank: cannot read: %w", err)
	}
	st.Nodes = make(map[string]int64)
	for it.First(); it.Valid(); it.Next() {
		st.Nodes[string(it.Key()[len(lower):])] = int64(binary.BigEndian.Uint64(it.Value()))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return State{}, fmt.Errorf("bank: cannot read: %w", err)
	}
	return st, nil
}

// Beat marks node alive for ttl.
func (p *Pebble) Beat(_ context.Context, node string, ttl time.Duration) error {
	if node == "" || ttl < time.Millisecond {
		return ErrInvalid
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(p.now().Add(ttl).UnixMilli()))
	if err := p.db.Set(p.heartKey(node), v, pebble.Sync); err != nil {
		return fmt.Errorf("bank: cannot write: %w", err)
	}
	return nil
}

// Alive reports whether node's last Beat has not lapsed.
func (p *Pebble) Alive(_ context.Context, node string) (bool, error) {
	if node == "" {
		return false, ErrInvalid
	}
	v, closer, err := p.db.Get(p.heartKey(node))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("bank: cannot read: %w", err)
	}
	defer closer.Close()
	return len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > p.now().UnixMilli(), nil
}

func (p *Pebble) heartKey(node string) []byte {
	return append(append([]byte(p.prefix), 'h', '/'), node...)
}
