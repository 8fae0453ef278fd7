package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestHelpAndVersion checks the first things a new user types: every
// command's -h prints its usage and exits 0, and version says what the
// binary is.
func TestHelpAndVersion(t *testing.T) {
	bin := buildTailor(t)
	for _, args := range [][]string{{"-h"}, {"help"}, {"serve", "-h"}, {"eval", "-h"}, {"eval", "movielens", "-h"},
		{"datasets", "-h"}, {"bench", "-h"}, {"bench", "run", "-h"}, {"bench", "gen", "-h"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("tailor %s: %v\n%s", strings.Join(args, " "), err, out)
		} else if !strings.Contains(strings.ToLower(string(out)), "usage") && !strings.Contains(string(out), "-") {
			t.Errorf("tailor %s printed no usage:\n%s", strings.Join(args, " "), out)
		}
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "tailor ") || !strings.Contains(string(out), "go1.") {
			t.Errorf("tailor %s = %q, %v; want the version and Go's", arg, out, err)
		}
	}
	err := exec.Command(bin, "no-such-command").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("tailor no-such-command: %v, want exit status 2", err)
	}
}
