package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tailorCmd runs the binary and returns its standard output, failing the
// test if it fails.
func tailorCmd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tailor %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// The bench subcommands end to end: a world, a floor server, a run against
// it, a comparison of the result with itself, and bench self.
func TestBenchCommands(t *testing.T) {
	bin := buildTailor(t)
	dir := t.TempDir()
	world, out := filepath.Join(dir, "world"), filepath.Join(dir, "out")
	got := tailorCmd(t, bin, "bench", "gen", "--out", world, "--items", "500", "--users", "50", "--campaigns", "10", "--bodies", "100", "--seed", "3", "--start", "2026-01-01")
	if !strings.Contains(got, "500 items, 50 users") || !strings.Contains(got, "--start 2026-01-01") {
		t.Errorf("bench gen: got %q, want the world's size and how to reproduce it", got)
	}

	floor := exec.Command(bin, "bench", "floor", "--addr", "127.0.0.1:0")
	stderr, err := floor.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := floor.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { floor.Process.Kill(); floor.Wait() })
	buf := make([]byte, 256)
	n, _ := stderr.Read(buf)
	m := childServingRE.FindStringSubmatch(string(buf[:n]))
	if m == nil {
		t.Fatalf("bench floor: got %q, want where it serves", buf[:n])
	}

	got = tailorCmd(t, bin, "bench", "run", "--target", m[1], "--world", world, "--rate", "200", "--duration", "1s",
		"--warmup", "200ms", "--out", out, "--quiet", "--label", "floor itself")
	for _, want := range []string{"valid: yes", "recommend", "events", "bid", "p99", "result.json"} {
		if !strings.Contains(got, want) {
			t.Errorf("bench run: output lacks %q:\n%s", want, got)
		}
	}
	for _, f := range []string{"result.json", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("bench run: %v", err)
		}
	}
	result := filepath.Join(out, "result.json")
	got = tailorCmd(t, bin, "bench", "compare", result, result)
	if !strings.Contains(got, "floor itself") || strings.Count(got, "1.00×") < 10 {
		t.Errorf("bench compare of a result with itself: got\n%s\nwant ratios of 1.00×", got)
	}

	if err := exec.Command(bin, "bench", "run", "--world", world, "--mix", "search=1").Run(); err == nil {
		t.Errorf("bench run --mix search=1: got success, want an error")
	}

	// bench self starts a server, loads a world into it and measures it.
	cmd := exec.Command(bin, "bench", "self", "--items", "400", "--users", "40", "--campaigns", "5",
		"--rate", "100", "--duration", "1s", "--warmup", "200ms", "--out", filepath.Join(dir, "self"))
	cmd.Dir = dir
	self, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench self: %v\n%s", err, self)
	}
	for _, want := range []string{"loaded 400 items", "valid: yes", "recommend", "floor", "server cpu", "report.html"} {
		if !strings.Contains(string(self), want) {
			t.Errorf("bench self: output lacks %q:\n%s", want, self)
		}
	}
}
