package main

import (
	"slices"
	"strings"
	"testing"
)

func TestQuietSysmonEnv(t *testing.T) {
	const quiet = "schedtrace=2147483647"
	for _, tc := range []struct {
		name   string
		env    []string
		want   []string
		reexec bool
	}{
		{"no GODEBUG", []string{"HOME=/h", "PATH=/bin"}, []string{"HOME=/h", "PATH=/bin", "GODEBUG=" + quiet}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "HOME=/h"}, []string{"GODEBUG=" + quiet, "HOME=/h"}, true},
		{"other settings kept", []string{"GODEBUG=gctrace=1,madvdontneed=1"}, []string{"GODEBUG=gctrace=1,madvdontneed=1," + quiet}, true},
		{"operator's off switch", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{"operator's own trace", []string{"A=1", "GODEBUG=gctrace=1,schedtrace=1000"}, []string{"A=1", "GODEBUG=gctrace=1,schedtrace=1000"}, false},
		{"already quiet: no second exec", []string{"GODEBUG=" + quiet}, []string{"GODEBUG=" + quiet}, false},
		{"a name that only ends in GODEBUG", []string{"XGODEBUG=schedtrace=0"}, []string{"XGODEBUG=schedtrace=0", "GODEBUG=" + quiet}, true},
	} {
		got, reexec := quietSysmonEnv(tc.env)
		if reexec != tc.reexec || !slices.Equal(got, tc.want) {
			t.Errorf("%s: quietSysmonEnv(%q) = %q, %v; want %q, %v", tc.name, tc.env, got, reexec, tc.want, tc.reexec)
		}
	}
}

func TestServesTraffic(t *testing.T) {
	for args, want := range map[string]bool{"serve": true, "bench floor": true, "bench run": false, "bench": false, "eval": false} {
		if got := servesTraffic(strings.Fields(args)); got != want {
			t.Errorf("servesTraffic(%q) = %v, want %v", args, got, want)
		}
	}
}
