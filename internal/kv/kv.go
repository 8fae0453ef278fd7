package kv

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Key-space prefixes. Every key in the database starts with exactly one of them.
const (
	PrefixProfile  byte = 'u' // 'u' user -> encoded profile
	PrefixHistory  byte = 'h' // 'h' uvarint(len(user)) user ts seq -> encoded event
	PrefixEventID  byte = 'd' // 'd' event id -> user and time of the event
	PrefixItem     byte = 'i' // 'i' item id -> item JSON
	PrefixCampaign byte = 'c' // 'c' campaign id -> campaign JSON
	PrefixMeta     byte = 'm' // 'm' name -> small values owned by one package
	PrefixAudience byte = 'a' // 'a' name -> audience definition JSON
	PrefixOutbox   byte = 'o' // 'o' seq -> trigger record JSON
	PrefixMember   byte = 't' // 't' uvarint(len(audience)) audience user -> time the user entered
	PrefixModel    byte = 'w' // 'w' kind ... -> click model: checkpoint, labels by sequence (see package model)
	PrefixLedger   byte = 'l' // 'l' kind ... -> campaign money: spend, frequency, notices applied (see package ledger)
)

// Options configures Open.
type Options struct {
	// CacheBytes is the size of Pebble's block cache. Pebble reserves the
	// memory of its memtables out of this budget, so it must comfortably
	// exceed MemTableBytes times the memtables in flight (up to 4), or no
	// block stays cached and every read goes to disk. Default 512 MiB.
	CacheBytes int64
	// MemTableBytes is the size of one memtable. Default 32 MiB.
	MemTableBytes uint64
	// Disk, when set, guards the directory's disk: a free-space floor, a
	// ballast against ENOSPC, and a failed state instead of an exit for
	// write errors Pebble cannot continue past (see Disk). Its file system
	// is the one Pebble uses.
	Disk *Disk
	// Pacer, when set, spreads flushes and compactions out while requests
	// are being served (see Pacer).
	Pacer *Pacer
	// Stalls, when set, counts the write stalls Pebble imposes.
	Stalls *Stalls
	// WALSyncInterval is the shortest time between two syncs of the
	// write-ahead log: a commit that asks for a sync sooner waits until the
	// interval has passed, and the commits that arrive meanwhile share its
	// sync (group commit). Commits still return only once their sync is
	// done. Zero: every sync starts as soon as it is asked for.
	WALSyncInterval time.Duration
}

// Open opens (creating if needed) the Pebble database in dir with the options
// tailor relies on: bloom filters on every level, so that point reads of absent
// keys (new users, unseen event ids) skip the tables that cannot hold them.
func Open(dir string, opts Options) (*pebble.DB, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 512 << 20
	}
	if opts.MemTableBytes == 0 {
		opts.MemTableBytes = 32 << 20
	}
	if min := 4*int64(opts.MemTableBytes) + 64<<20; opts.CacheBytes < min {
		opts.CacheBytes = min
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                opts.MemTableBytes,
		MemTableStopWritesThreshold: 4,
		FormatMajorVersion:          pebble.FormatNewest,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		Logger:                      fatalLogger{disk: opts.Disk},
	}
	if opts.Disk != nil {
		if err := opts.Disk.inner.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("kv: cannot make %s: %w", dir, err)
		}
		po.FS = opts.Disk.fs()
		po.EventListener = opts.Disk.listener()
		// The ballast is made before Pebble writes, when there is room.
		opts.Disk.Check()
	}
	if opts.Stalls != nil {
		l := opts.Stalls.listener()
		if po.EventListener != nil {
			l = pebble.TeeEventListener(*po.EventListener, l)
		}
		po.EventListener = &l
	}
	if opts.Pacer != nil {
		if po.FS == nil {
			po.FS = vfs.Default
		}
		po.FS = &pacedFS{FS: po.FS, pacer: opts.Pacer}
	}
	if d := opts.WALSyncInterval; d > 0 {
		po.WALMinSyncInterval = func() time.Duration { return d }
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// The cheapest compression to write: flushes and compactions compete with
	// request handling for the same cores.
	po.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionFastest })
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("kv: cannot open %s: %w", dir, err)
	}
	if opts.Pacer != nil {
		opts.Pacer.watch(func() bool { return behind(db.Metrics(), po) })
	}
	return db, nil
}

// behind reports whether Pebble's flushes and compactions have fallen
// behind its writes: twice the sublevels of level 0 that start a
// compaction, or as many memtables (the one written included) as the
// count of queued ones that stops writes, one short of a stall. Then the
// pacer lets them write at full speed, rather than let the debt grow into
// a write stall. (A flush under way alone makes three.)
func behind(m *pebble.Metrics, po *pebble.Options) bool {
	return int(m.Levels[0].Sublevels) >= 2*po.L0CompactionThreshold ||
		m.MemTable.Count >= int64(po.MemTableStopWritesThreshold)
}

// Key returns prefix followed by id.
func Key(prefix byte, id string) []byte {
	k := make([]byte, 0, 1+len(id))
	k = append(k, prefix)
	return append(k, id...)
}

// AppendKey appends prefix and id to dst and returns the extended slice.
func AppendKey(dst []byte, prefix byte, id string) []byte {
	dst = append(dst, prefix)
	return append(dst, id...)
}

// AppendOwnerPrefix appends prefix followed by the length-prefixed owner id. Keys
// built on it sort all of one owner's records together and no owner's range can
// contain another's, whatever bytes the ids hold.
func AppendOwnerPrefix(dst []byte, prefix byte, owner string) []byte {
	dst = append(dst, prefix)
	dst = binary.AppendUvarint(dst, uint64(len(owner)))
	return append(dst, owner...)
}

// PrefixEnd returns the smallest key greater than every key that starts with p,
// or nil when there is none.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
