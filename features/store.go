package features

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailor-dev/tailor/internal/kv"
)

// ErrNotFound is returned for a user tailor has never seen.
var ErrNotFound = errors.New("features: user not found")

// Options configures a Store.
type Options struct {
	// CacheBytes bounds the memory of the profiles kept in the cache, which
	// holds them encoded. Default 256 MiB.
	CacheBytes int64
	// Limits bounds each profile; zero fields take their defaults.
	Limits Limits
	// CoVisitWindow is how far back in a user's history an earlier item counts
	// as seen together with a new one. Default 1 hour.
	CoVisitWindow time.Duration
	// CoVisitItems is how many earlier items at most count as seen together
	// with a new one. Default 5.
	CoVisitItems int
	// EventIDFilterBytes bounds the memory of the filter that spares most
	// new events a read of Pebble for their id (see eventIDs): about 1.5
	// bytes an applied id, built at New from the stored ids. Past it the
	// filter turns itself off. Default 64 MiB; negative: no filter.
	EventIDFilterBytes int64
}

// Users are hashed onto lock stripes (updates to users of one stripe are
// serialized) and, more finely, onto sequence stripes (a write invalidates the
// cached profiles of its sequence stripe, so fine stripes keep other users'
// cached profiles valid).
const (
	lockStripes = 1 << 14
	seqStripes  = 1 << 20
)

// Store keeps profiles in Pebble with a Ristretto cache in front. It is safe for
// concurrent use.
type Store struct {
	db    *pebble.DB
	opts  Options
	cache *ristretto.Cache[string, cached]
	ids   *eventIDs
	seed  maphash.Seed

	locks [lockStripes]sync.Mutex
	seqs  []atomic.Uint64 // seqStripes of them, advanced after every committed write to the stripe
	hseq  atomic.Uint64   // tie-breaker of history keys

	hits, misses prometheus.Counter
	// scratch holds profiles for writers to decode into, update and encode;
	// none is kept once its encoding is.
	scratch sync.Pool
}

// cached is a profile in the cache: its encoding, which the garbage
// collector need not scan (decoded profiles are dozens of pointers each, and a
// cache of them made every collection's marking, which runs beside the
// requests, several times longer), and the sequence of its stripe when it
// was read or written.
type cached struct {
	enc string
	seq uint64
}

// New returns a Store over db. Metrics are registered on reg when it is not nil.
func New(db *pebble.DB, opts Options, reg prometheus.Registerer) (*Store, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 256 << 20
	}
	if opts.CoVisitWindow <= 0 {
		opts.CoVisitWindow = time.Hour
	}
	if opts.CoVisitItems <= 0 {
		opts.CoVisitItems = 5
	}
	if opts.EventIDFilterBytes == 0 {
		opts.EventIDFilterBytes = 64 << 20
	}
	opts.Limits.setDefaults()
	// About 1 KiB a profile; ten counters per expected entry, as Ristretto advises.
	counters := opts.CacheBytes / 1024 * 10
	if counters < 1000 {
		counters = 1000
	}
	cache, err := ristretto.NewCache(&ristretto.Config[string, cached]{
		NumCounters:        counters,
		MaxCost:            opts.CacheBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("features: cannot create cache: %w", err)
	}
	ids, err := newEventIDs(db, opts.EventIDFilterBytes)
	if err != nil {
		cache.Close()
		return nil, err
	}
	s := &Store{db: db, opts: opts, cache: cache, ids: ids, seed: maphash.MakeSeed(), seqs: make([]atomic.Uint64, seqStripes)}
	s.hseq.Store(uint64(time.Now().UnixNano()))
	s.hits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_profile_cache_hits_total", Help: "Profile reads served from the cache."})
	s.misses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_profile_cache_misses_total", Help: "Profile reads that went to Pebble."})
	filterBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tailor_event_id_filter_bytes",
		Help: "Memory of the filter that spares new events a read of their id; 0 when it is off."},
		func() float64 { return float64(ids.size()) })
	if reg != nil {
		for _, c := range []prometheus.Collector{s.hits, s.misses, filterBytes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Limits returns the limits profiles are kept within.
func (s *Store) Limits() Limits { return s.opts.Limits }

// Close releases the cache. It does not close the database.
func (s *Store) Close() { s.cache.Close() }

// stripe returns the sequence stripe of user; stripe % lockStripes is its
// lock stripe.
func (s *Store) stripe(user string) int {
	return int(maphash.String(s.seed, user) & (seqStripes - 1))
}

// Get returns the profile of user, or ErrNotFound. The profile reflects every
// Apply that returned before Get was called, and it is the caller's own: no
// other reader sees what the caller does to it.
func (s *Store) Get(user string) (*Profile, error) {
	p := &Profile{}
	if err := s.GetInto(user, p); err != nil {
		return nil, err
	}
	return p, nil
}

// GetInto is Get into p, whose slices' arrays it reuses: a reader that keeps
// a profile per request reads without allocating. On an error p holds
// nothing of use.
func (s *Store) GetInto(user string, p *Profile) error {
	st := s.stripe(user)
	seq := s.seqs[st].Load()
	if c, ok := s.cache.Get(user); ok && c.seq == seq {
		s.hits.Inc()
		return decodeInto(p, c.enc)
	}
	s.misses.Inc()
	enc, err := s.load(user)
	if err != nil {
		return err
	}
	if err := decodeInto(p, enc); err != nil {
		return err
	}
	s.cache.Set(user, cached{enc: enc, seq: seq}, cost(enc))
	return nil
}

// load reads the encoding of a profile from Pebble.
func (s *Store) load(user string) (string, error) {
	var kbuf [258]byte
	v, closer, err := s.db.Get(kv.AppendKey(kbuf[:0], kv.PrefixProfile, user))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("features: cannot read profile: %w", err)
	}
	enc := string(v)
	return enc, closer.Close()
}

// cost is what a cached encoding counts against CacheBytes: its bytes and
// about what the cache's entry, key and policy take beside them.
func cost(enc string) int64 { return int64(len(enc) + 160) }

// Result reports what Apply did.
type Result struct {
	Accepted   int
	Duplicates int
	// Applied lists, for each accepted event in input order, its index in the
	// input and the items the same user saw shortly before it (most recent
	// first), for the caller's co-visitation counts.
	Applied []Applied
}

// Applied is one accepted event.
type Applied struct {
	Index  int
	Before []string
}

// Apply folds a batch of events into their users' profiles and history and
// commits them with one synced Pebble batch. Events whose id has been applied
// before (in an earlier batch or earlier in this one) are skipped and counted as
// duplicates. Either every event is applied or, on error, none is.
func (s *Store) Apply(events []Event) (Result, error) { return s.ApplyMarked(events, Mark{}) }

// Mark is a key and value committed in the same batch as a set of events,
// such as the position in a log the events were read from: recording the
// progress and applying the events is then one atomic step, so that after a
// crash a reader resumes exactly after what was applied.
type Mark struct {
	Key, Value []byte
}

// ApplyMarked is Apply that also writes mark (when its key is not empty) in
// the same synced batch, even when no event is accepted.
func (s *Store) ApplyMarked(events []Event, mark Mark) (Result, error) {
	var res Result
	if len(events) == 0 && len(mark.Key) == 0 {
		return res, nil
	}
	// Group by user, keeping input order within a user.
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmpString(events[a].User, events[b].User)
	})
	held := s.lockUsers(events, order)
	locked := true
	defer func() {
		if locked {
			s.unlock(held)
		}
	}()

	b := s.db.NewBatch()
	defer b.Close()
	var scratch []*Profile
	defer func() {
		for _, p := range scratch {
			s.scratch.Put(p)
		}
	}()
	// Sized for the batch up front: grown append by append, these were most
	// of what a batch allocated besides its profiles' encodings.
	seen := make(map[string]struct{}, len(events))
	type update struct {
		user string
		enc  string
	}
	updates := make([]update, 0, len(events))
	newIDs := make([]string, 0, len(events))
	res.Applied = make([]Applied, 0, len(events))
	var key, val []byte
	for start := 0; start < len(order); {
		user := events[order[start]].User
		end := start
		for end < len(order) && events[order[end]].User == user {
			end++
		}
		p, _ := s.scratch.Get().(*Profile)
		if p == nil {
			p = new(Profile)
		}
		scratch = append(scratch, p)
		if err := s.currentInto(p, user); errors.Is(err, ErrNotFound) {
			p.reset(user)
		} else if err != nil {
			return Result{}, err
		}
		changed := false
		for _, i := range order[start:end] {
			e := &events[i]
			if e.ID != "" {
				if _, dup := seen[e.ID]; dup {
					res.Duplicates++
					continue
				}
				seen[e.ID] = struct{}{}
				if s.ids.mayHold(e.ID) {
					dup, err := s.known(e.ID)
					if err != nil {
						return Result{}, err
					}
					if dup {
						res.Duplicates++
						continue
					}
				}
				newIDs = append(newIDs, e.ID)
				key = kv.AppendKey(key[:0], kv.PrefixEventID, e.ID)
				val = binary64(val[:0], e.TS)
				if err := b.Set(key, val, nil); err != nil {
					return Result{}, err
				}
			}
			var before []string
			if e.Type != Search {
				before = s.coVisited(p, e)
			}
			p.apply(e, &s.opts.Limits)
			key = appendHistoryKey(key[:0], user, e.TS, s.hseq.Add(1))
			val = appendHistoryValue(val[:0], e)
			if err := b.Set(key, val, nil); err != nil {
				return Result{}, err
			}
			res.Accepted++
			res.Applied = append(res.Applied, Applied{Index: i, Before: before})
			changed = true
		}
		if changed {
			// The batch copies key and value: one buffer serves every user.
			val = AppendEncoded(val[:0], p)
			key = kv.AppendKey(key[:0], kv.PrefixProfile, user)
			if err := b.Set(key, val, nil); err != nil {
				return Result{}, err
			}
			updates = append(updates, update{user: user, enc: string(val)})
		}
		start = end
	}
	if len(mark.Key) > 0 {
		if err := b.Set(mark.Key, mark.Value, nil); err != nil {
			return Result{}, err
		}
	} else if res.Accepted == 0 {
		return res, nil
	}
	// The ids go into the filter before Pebble holds them: whatever Pebble
	// holds, the filter holds, so a concurrent batch that finds an id absent
	// from the filter would not have found it in Pebble.
	s.ids.add(newIDs)
	// Apply to the memtable under the users' locks, but wait for the WAL sync
	// after releasing them: the locks then cover only the read-modify-write,
	// and concurrent batches for other users (or the same ones) share one
	// fsync instead of queueing behind each other's. A later writer's record
	// follows this one in the WAL, so it can never be durable without it.
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return Result{}, fmt.Errorf("features: cannot commit events: %w", err)
	}
	for _, u := range updates {
		st := s.stripe(u.user)
		seq := s.seqs[st].Add(1)
		s.cache.Set(u.user, cached{enc: u.enc, seq: seq}, cost(u.enc))
	}
	s.unlock(held)
	locked = false
	if err := b.SyncWait(); err != nil {
		// Not durable, so not to be read: drop the cached profiles. (The
		// memtable holds the batch too; the caller must stop reading from a
		// store whose log failed, see kv.Disk.)
		for _, u := range updates {
			s.seqs[s.stripe(u.user)].Add(1)
			s.cache.Del(u.user)
		}
		return Result{}, fmt.Errorf("features: cannot sync events: %w", err)
	}
	slices.SortFunc(res.Applied, func(a, b Applied) int { return a.Index - b.Index })
	return res, nil
}

// current returns a copy of the profile of user, to update while its stripe
// is locked.
func (s *Store) current(user string) (*Profile, error) {
	p := new(Profile)
	if err := s.currentInto(p, user); err != nil {
		return nil, err
	}
	return p, nil
}

// currentInto is current decoding into p.
func (s *Store) currentInto(p *Profile, user string) error {
	st := s.stripe(user)
	if c, ok := s.cache.Get(user); ok && c.seq == s.seqs[st].Load() {
		return decodeInto(p, c.enc)
	}
	enc, err := s.load(user)
	if err != nil {
		return err
	}
	return decodeInto(p, enc)
}

// known reports whether an event id has been applied before.
func (s *Store) known(id string) (bool, error) {
	var kbuf [258]byte
	_, closer, err := s.db.Get(kv.AppendKey(kbuf[:0], kv.PrefixEventID, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("features: cannot read event id: %w", err)
	}
	closer.Close()
	return true, nil
}

// coVisited returns the distinct items p saw within the co-visit window before
// e, most recent first, at most CoVisitItems of them.
func (s *Store) coVisited(p *Profile, e *Event) []string {
	return coVisited(p.Recent, e.Item, e.TS, s.opts.CoVisitWindow.Milliseconds(), s.opts.CoVisitItems)
}

func coVisited(recent []Action, item string, ts, window int64, max int) []string {
	var out []string
	for i := len(recent) - 1; i >= 0 && len(out) < max; i-- {
		a := &recent[i]
		if a.TS > ts {
			continue
		}
		if ts-a.TS > window {
			break
		}
		if a.Type == Search || a.Target == item || slices.Contains(out, a.Target) {
			continue
		}
		if out == nil {
			out = make([]string, 0, max)
		}
		out = append(out, a.Target)
	}
	return out
}

// Replay calls fn with every stored item event, user by user in time order,
// and the items the user saw shortly before it, as Apply reported them when the
// event arrived. Indexes that learn from events rebuild themselves with it.
func (s *Store) Replay(fn func(user string, h HistoryEvent, before []string)) error {
	var user string
	var recent []Action
	window := s.opts.CoVisitWindow.Milliseconds()
	return s.EachHistory(func(u string, h HistoryEvent) error {
		if u != user {
			user, recent = u, recent[:0]
		}
		if h.Type != Search {
			fn(u, h, coVisited(recent, h.Target, h.TS, window, s.opts.CoVisitItems))
		}
		recent = insertAction(recent, Action{Type: h.Type, Target: h.Target, TS: h.TS}, s.opts.Limits.Recent)
		return nil
	})
}

// Delete erases user: the profile, the cached copy and the whole event history.
// It returns ErrNotFound for a user never seen.
func (s *Store) Delete(user string) error {
	st := s.stripe(user)
	s.locks[st%lockStripes].Lock()
	defer s.locks[st%lockStripes].Unlock()
	if _, err := s.current(user); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	prefix := kv.AppendOwnerPrefix(nil, kv.PrefixHistory, user)
	if err := b.DeleteRange(prefix, kv.PrefixEnd(prefix), nil); err != nil {
		return err
	}
	if err := b.Delete(kv.Key(kv.PrefixProfile, user), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("features: cannot erase user: %w", err)
	}
	s.seqs[st].Add(1)
	s.cache.Del(user)
	return nil
}

// History calls fn with the events of user in time order.
func (s *Store) History(user string, fn func(HistoryEvent) error) error {
	prefix := kv.AppendOwnerPrefix(nil, kv.PrefixHistory, user)
	return s.scanHistory(prefix, func(_ string, h HistoryEvent) error { return fn(h) })
}

// EachHistory calls fn with every stored event, user by user, each user's in
// time order. Indexes that learn from events use it to rebuild at start.
func (s *Store) EachHistory(fn func(user string, h HistoryEvent) error) error {
	return s.scanHistory([]byte{kv.PrefixHistory}, fn)
}

func (s *Store) scanHistory(prefix []byte, fn func(string, HistoryEvent) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	var user string
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		u, ts, ok := parseHistoryKey(k)
		if !ok {
			return fmt.Errorf("features: corrupt history key")
		}
		if u != user {
			user = u
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		h, ok := decodeHistory(v, ts)
		if !ok {
			return fmt.Errorf("features: corrupt history record")
		}
		if err := fn(user, h); err != nil {
			return err
		}
	}
	return it.Error()
}

// lockUsers locks the stripes of every user in events, in stripe order so that
// concurrent batches cannot deadlock, and returns them for unlock.
func (s *Store) lockUsers(events []Event, order []int) []int {
	held := make([]int, 0, 8)
	for _, i := range order {
		held = append(held, s.stripe(events[i].User)%lockStripes)
	}
	slices.Sort(held)
	held = slices.Compact(held)
	for _, st := range held {
		s.locks[st].Lock()
	}
	return held
}

func (s *Store) unlock(held []int) {
	for _, st := range held {
		s.locks[st].Unlock()
	}
}

func binary64(dst []byte, v int64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// UpdateAttributes applies attribute updates, creating profiles for users not
// seen before, in one synced batch: every update is applied or, on error, none.
// Updates must have been validated.
func (s *Store) UpdateAttributes(updates []AttributesUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	events := make([]Event, len(updates)) // only for lockUsers
	order := make([]int, len(updates))
	for i := range updates {
		events[i].User = updates[i].User
		order[i] = i
	}
	held := s.lockUsers(events, order)
	defer s.unlock(held)
	b := s.db.NewBatch()
	defer b.Close()
	next := map[string]*Profile{}
	var users []string
	for i := range updates {
		u := &updates[i]
		p := next[u.User]
		if p == nil {
			old, err := s.current(u.User)
			switch {
			case err == nil:
				p = old
			case errors.Is(err, ErrNotFound):
				p = &Profile{User: u.User}
			default:
				return err
			}
			next[u.User] = p
			users = append(users, u.User)
		}
		u.applyTo(&p.Attrs)
		p.Version++
	}
	encs := make(map[string]string, len(users))
	for _, user := range users {
		enc := AppendEncoded(nil, next[user])
		encs[user] = string(enc)
		if err := b.Set(kv.Key(kv.PrefixProfile, user), enc, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("features: cannot store attributes: %w", err)
	}
	for _, user := range users {
		seq := s.seqs[s.stripe(user)].Add(1)
		s.cache.Set(user, cached{enc: encs[user], seq: seq}, cost(encs[user]))
	}
	return nil
}

// EachProfile calls fn with every stored profile in user id order, starting
// after the user id after ("" for the start). fn returns false to stop. The
// profiles are decoded from Pebble, not the cache.
func (s *Store) EachProfile(after string, fn func(*Profile) bool) error {
	lower := []byte{kv.PrefixProfile}
	if after != "" {
		lower = append(kv.Key(kv.PrefixProfile, after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kv.PrefixProfile + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		p, err := Decode(v)
		if err != nil {
			return fmt.Errorf("features: cannot decode a stored profile: %w", err)
		}
		if !fn(p) {
			break
		}
	}
	return it.Error()
}
