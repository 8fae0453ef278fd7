//go:build !linux

package bench

import "time"

// preciseSleep sleeps for d with Go's timers, which can wake up to about a
// millisecond late.
func preciseSleep(d time.Duration) { time.Sleep(d) }
