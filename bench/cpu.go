package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// ProcessCPU returns the CPU time (user plus system) that process pid has
// used so far, from /proc/PID/stat; pid 0 is this process. It works on Linux
// only.
func ProcessCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: cannot read CPU time: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// fields 14 and 15 (utime, stime, in clock ticks) follow it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: cannot parse %s", path)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: cannot parse %s", path)
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: cannot parse %s", path)
	}
	return time.Duration(utime+stime) * time.Second / time.Duration(clockTicks()), nil
}

// clockTicks returns the kernel's clock ticks per second (AT_CLKTCK in the
// auxiliary vector), 100 if it cannot be read.
var clockTicks = sync.OnceValue(func() int64 {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	for ; len(b) >= 16; b = b[16:] {
		if binary.NativeEndian.Uint64(b) == atClkTck {
			if v := int64(binary.NativeEndian.Uint64(b[8:])); v > 0 {
				return v
			}
		}
	}
	return 100
})

// MachineCPU returns the CPU time all processes have used so far (user,
// nice, system, interrupts and steal, over every CPU) and the time the CPUs
// have been idle, from /proc/stat. It works on Linux only.
func MachineCPU() (busy, idle time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: cannot read CPU time: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("bench: cannot parse /proc/stat")
	}
	var ticks [8]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(string(f[i+1]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("bench: cannot parse /proc/stat")
		}
	}
	// user nice system idle iowait irq softirq steal
	toDur := func(t int64) time.Duration { return time.Duration(t) * time.Second / time.Duration(clockTicks()) }
	return toDur(ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]), toDur(ticks[3] + ticks[4]), nil
}

// WaitIdle waits until the machine's CPUs have been idle for at least the
// fraction want of two consecutive seconds, or until limit has passed or
// ctx ends, and returns the idle fraction of the last second. On a machine
// shared with other work it keeps a run from starting in the middle of
// someone else's build.
func WaitIdle(ctx context.Context, want float64, limit time.Duration, progress io.Writer) (float64, error) {
	deadline := time.Now().Add(limit)
	busy0, idle0, err := MachineCPU()
	if err != nil {
		return 0, err
	}
	calm, said := 0, false
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
		busy, idle, err := MachineCPU()
		if err != nil {
			return 0, err
		}
		frac := 1.0
		if total := (busy - busy0) + (idle - idle0); total > 0 {
			frac = float64(idle-idle0) / float64(total)
		}
		busy0, idle0 = busy, idle
		if frac >= want {
			calm++
		} else {
			calm = 0
		}
		if calm >= 2 || time.Now().After(deadline) {
			if calm < 2 && progress != nil {
				fmt.Fprintf(progress, "the machine is still busy (%.0f%% idle) after %v; running anyway\n", 100*frac, limit)
			}
			return frac, nil
		}
		if !said && progress != nil {
			fmt.Fprintf(progress, "waiting for the machine to be %.0f%% idle (now %.0f%%)\n", 100*want, 100*frac)
			said = true
		}
	}
}
