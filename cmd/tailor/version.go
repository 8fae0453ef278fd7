package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release this binary is, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module's version, or
// "devel" for a build from a checkout.
var version = ""

// versionString says what this binary is: its version, the commit it was
// built from (with "+dirty" when the tree had changes) and its Go version.
func versionString() string {
	v, commit := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if dirty && commit != "" {
			commit += "+dirty"
		}
	}
	if v == "" {
		v = "devel"
	}
	out := "tailor " + v
	if commit != "" {
		out += " (commit " + commit + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
