//go:build linux

package bench

import (
	"syscall"
	"time"
)

// preciseSleep blocks the calling goroutine's thread in nanosleep(2) for d.
// The kernel's high-resolution timers wake it within tens of microseconds;
// Go's own timers, in a process with nothing else to do, can wake a
// millisecond late, which would show as pacing error in every intended-time
// latency.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
