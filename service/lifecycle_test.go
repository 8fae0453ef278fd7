package service

import (
	"errors"
	"io"
	"log"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/features"
)

// testOptions keep a test quiet and deterministic: a fixed clock, no log, no
// disk floor, and learning that never sweeps in the background.
func testOptions() Options {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := Options{Now: func() time.Time { return now }, Logger: log.New(io.Discard, "", 0)}
	o.Storage.MinFreeBytes = -1
	o.Learning.SweepEvery = -1
	return o
}

// TestOpenFailsCleanly fails Open at each of its steps and checks that
// nothing it started is left running (every goroutine stopped, so nothing
// can write to the data directory after the failure) and that the
// directory opens again with its data.
func TestOpenFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest([]features.Event{{User: "u1", Type: features.View, Item: "i1", TS: s.now()}}); err != nil {
		t.Fatal(err)
	}
	a := &audience.Audience{Name: "viewers", Expression: "events > 0",
		Trigger: &audience.Trigger{Webhook: "https://hooks.example/x", Secret: "0123456789abcdef"}}
	if err := s.Audiences().Put(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, step := range []string{"pebble", "profiles", "catalog", "segments", "learning", "bidding", "replay"} {
		t.Run(step, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			boom := errors.New("injected at " + step)
			opts := testOptions()
			reached := false
			opts.OpenHook = func(s string) error {
				if s == step {
					reached = true
					return boom
				}
				return nil
			}
			if s, err := Open(dir, opts); !errors.Is(err, boom) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open() = %v, want the error injected at %s", err, step)
			}
			if !reached {
				t.Fatalf("Open never reached step %s", step)
			}
		})
	}
	s, err = Open(dir, testOptions())
	if err != nil {
		t.Fatalf("Open after the failed opens = %v", err)
	}
	p, err := s.Store().Get("u1")
	if err != nil || p.Events != 1 {
		t.Errorf("after the failed opens Get(u1) = %+v, %v, want one event", p, err)
	}
	if _, err := s.Audiences().Get("viewers"); err != nil {
		t.Errorf("after the failed opens the audience is gone: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close() = %v, want nil", err)
	}
}
