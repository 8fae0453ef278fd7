package main

import (
	"slices"
	"testing"
)

func TestQuietMonitorEnv(t *testing.T) {
	for _, c := range []struct {
		name     string
		env      []string
		detached bool
		want     []string
		reexec   bool
	}{
		{"no GODEBUG", []string{"HOME=/h"}, true, []string{"HOME=/h", "GODEBUG=" + quietMonitorSetting}, true},
		{"GODEBUG empty", []string{"GODEBUG=", "A=1"}, true, []string{"GODEBUG=" + quietMonitorSetting, "A=1"}, true},
		{"other settings kept", []string{"GODEBUG=madvdontneed=1"}, true,
			[]string{"GODEBUG=madvdontneed=1," + quietMonitorSetting}, true},
		{"operator's schedtrace stands", []string{"GODEBUG=gctrace=1,schedtrace=0"}, true,
			[]string{"GODEBUG=gctrace=1,schedtrace=0"}, false},
		{"syncs hold a P", []string{"HOME=/h"}, false, []string{"HOME=/h"}, false},
	} {
		got, reexec := quietMonitorEnv(c.env, c.detached)
		if reexec != c.reexec || !slices.Equal(got, c.want) {
			t.Errorf("%s: quietMonitorEnv(%q, %v) = %q, %v; want %q, %v", c.name, c.env, c.detached, got, reexec, c.want, c.reexec)
		}
	}
}
