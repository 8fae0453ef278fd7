package main

import (
	"fmt"
	"runtime"
	"time"
)

// profileContention turns on Go's mutex and block profiles, served with the
// other profiles under /debug/pprof/ (mutex, block): one in mutexFraction
// contended mutex events is recorded (0: off), and one blocking event per
// blockRate of time goroutines spend blocked (0: off). Both cost time on
// the paths they sample, so they are off unless asked for.
func profileContention(mutexFraction int, blockRate time.Duration) error {
	if mutexFraction < 0 {
		return fmt.Errorf("--mutex-profile-fraction %d: want 0 (off) or more", mutexFraction)
	}
	if blockRate < 0 {
		return fmt.Errorf("--block-profile-rate %s: want 0 (off) or more", blockRate)
	}
	runtime.SetMutexProfileFraction(mutexFraction)
	runtime.SetBlockProfileRate(int(blockRate.Nanoseconds()))
	return nil
}
