package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/tailor-dev/tailor/internal/kv"
)

// quietMonitorSetting is what `tailor serve` adds to GODEBUG. Go's monitor
// thread (sysmon) sleeps deeply while every P is idle and is woken by the
// next system call with its period reset to 20 µs, so a server idle
// between requests keeps it waking tens of thousands of times a second,
// on the cores that serve. With a schedule trace asked for it never sleeps
// deeply and backs off to 10 ms instead; the trace itself, every
// 2,147,483,647 ms, is one line on stderr at start on a machine up for
// longer than that.
const quietMonitorSetting = "schedtrace=2147483647"

// quietMonitorEnv returns env with quietMonitorSetting added to GODEBUG,
// and whether the process should be re-executed with it: not when GODEBUG
// sets schedtrace already (the operator's choice stands), nor when this
// build's syncs hold a P (detached false), since then the monitor must stay
// quick to hand the P of a sync to the requests.
func quietMonitorEnv(env []string, detached bool) ([]string, bool) {
	if !detached {
		return env, false
	}
	out := make([]string, 0, len(env)+1)
	found := false
	for _, e := range env {
		v, ok := strings.CutPrefix(e, "GODEBUG=")
		if !ok {
			out = append(out, e)
			continue
		}
		for _, s := range strings.Split(v, ",") {
			if strings.HasPrefix(s, "schedtrace=") {
				return env, false
			}
		}
		found = true
		if v == "" {
			e = "GODEBUG=" + quietMonitorSetting
		} else {
			e += "," + quietMonitorSetting
		}
		out = append(out, e)
	}
	if !found {
		out = append(out, "GODEBUG="+quietMonitorSetting)
	}
	return out, true
}

// quietMonitor re-executes the process, same id and arguments, with
// quietMonitorEnv's environment when it asks for it. It returns when it
// does not, or when the re-execution fails (said on stderr).
func quietMonitor() {
	env, ok := quietMonitorEnv(os.Environ(), kv.DetachedSyncs)
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, env)
	}
	fmt.Fprintf(os.Stderr, "tailor: cannot re-execute with %s added to GODEBUG (%v): going on without it\n", quietMonitorSetting, err)
}
