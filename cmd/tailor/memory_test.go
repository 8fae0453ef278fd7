package main

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"2GiB": 2 << 30, "512MiB": 512 << 20, "1.5GB": 1_500_000_000, "1073741824": 1 << 30, " 64 KiB ": 64 << 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1GiB", "2PB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

// TestMemoryBudget checks how a limit is shared: a fifth for profiles, a
// quarter (at least Pebble's working minimum) for the block cache, and a
// limit too small to serve from refused.
func TestMemoryBudget(t *testing.T) {
	b, err := budgetFor(4 << 30)
	if err != nil || b.limit != 4<<30 || b.profiles != 858993459 || b.blockCache != 1<<30 {
		t.Errorf("budgetFor(4GiB) = %+v, %v", b, err)
	}
	// Pebble's cache lives outside Go's heap in a cgo build: Go's limit
	// leaves room for it.
	if want := map[bool]int64{true: 3 << 30, false: 4 << 30}[blockCacheOffHeap]; b.goLimit != want {
		t.Errorf("budgetFor(4GiB).goLimit = %d, want %d (block cache off the heap: %v)", b.goLimit, want, blockCacheOffHeap)
	}
	if b, err := budgetFor(600 << 20); err != nil || b.blockCache != minBlockCache {
		t.Errorf("budgetFor(600MiB) = %+v, %v, want the block cache at its minimum", b, err)
	}
	if _, err := budgetFor(256 << 20); err == nil || !strings.Contains(err.Error(), "512MiB") {
		t.Errorf("budgetFor(256MiB) = %v, want a refusal naming the least", err)
	}
}

// TestMemoryLimitFlag starts a server with --memory-limit and reads, in its
// start-up log, how it shared the memory out.
func TestMemoryLimitFlag(t *testing.T) {
	cmd := exec.Command(buildTailor(t), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--memory-limit", "2GiB")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") })
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "memory limit") {
			if !strings.Contains(line, "memory limit 2.0GiB: profile cache 409MiB, block cache 512MiB") || !strings.Contains(line, "GOGC 400") {
				t.Errorf("log line %q", line)
			}
			return
		}
		if strings.Contains(line, "serving on") {
			break
		}
	}
	t.Errorf("the server never said how it shared its memory limit")
}
