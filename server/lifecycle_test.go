package server

import (
	"errors"
	"io"
	"log"
	"testing"

	"go.uber.org/goleak"
)

// TestOpenFailsCleanly fails Open at each of its steps and checks that
// nothing it started is left running (every goroutine stopped, so nothing
// can write to the data directory after the failure) and that the
// directory opens again.
func TestOpenFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, Options{})
	ts.mustPost("/v1/events", `{"user":"u1","type":"view","item":"i1"}`)
	ts.mustPost("/v1/audiences/viewers", `{"expression":"events > 0","trigger":{"webhook":"https://hooks.example/x","secret":"0123456789abcdef"}}`)
	ts.stop()

	for _, step := range []string{"pebble", "profiles", "catalog", "segments", "learning", "bidder", "replay"} {
		t.Run(step, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			boom := errors.New("injected at " + step)
			opts := Options{Logger: log.New(io.Discard, "", 0), openHook: func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}}
			opts.Storage.MinFreeBytes = -1
			opts.Admission.Runnable = -1
			if s, err := Open(dir, opts); !errors.Is(err, boom) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open() = %v, want the error injected at %s", err, step)
			}
		})
	}
	// Nothing was damaged: the directory opens, with its data.
	ts = startServer(t, dir, nil, Options{})
	if n := ts.userEvents("u1"); n != 1 {
		t.Errorf("after the failed opens the user has %d events, want 1", n)
	}
	if err := ts.srv.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := ts.srv.Close(); err != nil {
		t.Errorf("a second Close() = %v, want nil", err)
	}
	ts.srv = nil
	ts.ln.Close()
}
