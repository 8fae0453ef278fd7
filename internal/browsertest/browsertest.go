// Package browsertest finds the headless browser that tests of pages and
// page scripts run in, so that they all skip, or fail, alike.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
)

// names are the browser's command names, most likely first.
var names = []string{"chromium", "chromium-browser", "google-chrome"}

// Chromium returns the path of a Chromium browser. Without one it skips the
// test, saying what the test does in it (what, such as "renders the
// console"), unless the environment sets TAILOR_REQUIRE_BROWSER, as CI does
// after installing it: then the test fails.
func Chromium(t testing.TB, what string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TAILOR_REQUIRE_BROWSER") == "" {
		t.Skip("chromium not found: this test " + what + " in a headless browser; install Debian's chromium " +
			"package to run it (CI does, and sets TAILOR_REQUIRE_BROWSER=1 so that a missing browser fails)")
	}
	t.Fatal("chromium not found and TAILOR_REQUIRE_BROWSER is set: install Debian's chromium package (apt-get install chromium)")
	return ""
}
