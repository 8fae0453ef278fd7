package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// quietSchedtrace is the GODEBUG schedtrace period, in milliseconds, that
// tailor serve and tailor bench floor run with: the largest the runtime
// accepts (24.8 days), so that the scheduler trace it asks for is one line
// at most that often.
//
// Why: the Go runtime's monitor thread (sysmon) sleeps deeply while every P
// is idle, and the next system call wakes it with its period reset to 20 µs,
// from which it backs off only after 50 quiet ticks. A server between
// requests goes idle and makes a system call (a read) at every request, so
// sysmon ticks every 20 µs all the time: about 100,000 context switches a
// second at 2,000 requests a second, 15-20% of the server's CPU on one core
// (golang/go#18236). With schedtrace set, sysmon never sleeps deeply and its
// period backs off to 10 ms while nothing is retaken from a system call.
// GODEBUG=schedtrace=0, or any schedtrace of the operator's, turns this off.
const quietSchedtrace = 1<<31 - 1

// quietSysmonEnv returns env with GODEBUG's schedtrace set to
// quietSchedtrace, and false when env's GODEBUG sets schedtrace already.
func quietSysmonEnv(env []string) ([]string, bool) {
	setting := "schedtrace=" + strconv.Itoa(quietSchedtrace)
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for _, field := range strings.Split(v, ",") {
			if strings.HasPrefix(field, "schedtrace=") {
				return env, false
			}
		}
		if v != "" {
			setting = v + "," + setting
		}
		found = true
		out = append(out, "GODEBUG="+setting)
	}
	if !found {
		out = append(out, "GODEBUG="+setting)
	}
	return out, true
}

// quietSysmon re-executes the running binary, same process id and
// arguments, with GODEBUG's schedtrace set (see quietSchedtrace), unless
// GODEBUG sets it already. The runtime reads GODEBUG's scheduler settings
// only at start, hence the exec. When the exec is not possible it returns
// and the process goes on as it is.
func quietSysmon() {
	env, ok := quietSysmonEnv(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // returns only on failure
}
