package kv

import (
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Stalls counts Pebble's write stalls: commits held back while the
// memtables are all full and not yet flushed, or level 0 holds too many
// tables. Every write waits them out, an acknowledged event with the rest,
// so they show as a tail on every writing route at once. Give one to Open
// and to NewCollector.
type Stalls struct {
	count atomic.Int64
	nanos atomic.Int64 // length of the stalls that ended
	began atomic.Int64 // when the stall under way began, Unix ns; 0 when none
}

// Count returns the write stalls begun since the database opened.
func (s *Stalls) Count() int64 { return s.count.Load() }

// Duration returns how long writes have been stalled in all, the stall
// under way included.
func (s *Stalls) Duration() time.Duration {
	d := s.nanos.Load()
	if b := s.began.Load(); b != 0 {
		d += max(0, time.Now().UnixNano()-b)
	}
	return time.Duration(d)
}

func (s *Stalls) listener() pebble.EventListener {
	return pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) {
			s.count.Add(1)
			s.began.Store(time.Now().UnixNano())
		},
		WriteStallEnd: func() {
			if b := s.began.Swap(0); b != 0 {
				s.nanos.Add(max(0, time.Now().UnixNano()-b))
			}
		},
	}
}
