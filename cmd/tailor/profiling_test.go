package main

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestProfileContention(t *testing.T) {
	t.Cleanup(func() { _ = profileContention(0, 0) })
	if err := profileContention(5, time.Microsecond); err != nil {
		t.Fatalf("profileContention(5, 1µs): %v", err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 5 {
		t.Errorf("mutex profile fraction: got %d, want 5", got)
	}
	for _, bad := range []struct {
		fraction int
		rate     time.Duration
		flag     string
	}{{-1, 0, "--mutex-profile-fraction"}, {0, -time.Second, "--block-profile-rate"}} {
		if err := profileContention(bad.fraction, bad.rate); err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("profileContention(%d, %s): got %v, want an error naming %s", bad.fraction, bad.rate, err, bad.flag)
		}
	}
}
