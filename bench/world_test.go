package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prebid/openrtb/v20/openrtb2"
)

var worldFiles = []string{ManifestFile, ItemsFile, EventsFile, CampaignsFile, RecommendFile, LiveEventsFile, BidFile}

func smallWorld(seed int64) GenOptions {
	return GenOptions{Items: 800, Users: 60, Campaigns: 30, Bodies: 50, Seed: seed,
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
}

func TestGenDeterminism(t *testing.T) {
	read := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		for _, f := range worldFiles {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			out[f] = b
		}
		return out
	}
	gen := func(o GenOptions) map[string][]byte {
		dir := t.TempDir()
		if _, err := Gen(dir, o); err != nil {
			t.Fatalf("Gen: got error %v, want nil", err)
		}
		return read(dir)
	}
	a, b, c := gen(smallWorld(1)), gen(smallWorld(1)), gen(smallWorld(2))
	for _, f := range worldFiles {
		if len(a[f]) == 0 {
			t.Errorf("%s: got an empty file, want content", f)
		}
		if !bytes.Equal(a[f], b[f]) {
			t.Errorf("%s: got different bytes from equal options, want identical", f)
		}
		if f != ManifestFile && bytes.Equal(a[f], c[f]) {
			t.Errorf("%s: got identical bytes from seeds 1 and 2, want different", f)
		}
	}
}

func TestWorldFiles(t *testing.T) {
	dir := t.TempDir()
	m, err := Gen(dir, smallWorld(3))
	if err != nil {
		t.Fatal(err)
	}
	w, err := OpenWorld(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w.Manifest != *m || m.Events == 0 {
		t.Errorf("OpenWorld manifest: got %+v, want %+v with events", w.Manifest, *m)
	}
	if got := int64(bytes.Count(mustRead(t, dir, EventsFile), []byte{'\n'})); got != m.Events {
		t.Errorf("events.ndjson: got %d lines, manifest says %d", got, m.Events)
	}
	mix, _ := ParseMix(DefaultMix)
	wl, err := w.Workload(mix)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range wl {
		if b.Len() != 50 {
			t.Errorf("%s: got %d bodies, want 50", name, b.Len())
		}
	}
	// Every live event and bid request has a placeholder to fill.
	for _, name := range []string{"events", "bid"} {
		for i, holes := range wl[name].holes {
			if len(holes) == 0 {
				t.Fatalf("%s body %d: got no placeholder, want ids to fill: %s", name, i, wl[name].list[i])
			}
		}
	}
	for i := range wl["bid"].Len() {
		var req openrtb2.BidRequest
		body := wl["bid"].fill(nil, i, uint64(i))
		if err := json.Unmarshal(body, &req); err != nil || !strings.HasPrefix(req.ID, "rq-") || len(req.Imp) == 0 {
			t.Fatalf("bid body %d: got %v decoding %s, want an OpenRTB request with an id and imps", i, err, body)
		}
	}
	if _, err := OpenWorld(t.TempDir()); err == nil || !strings.Contains(err.Error(), "tailor bench gen") {
		t.Errorf("OpenWorld(empty dir): got %v, want an error pointing at tailor bench gen", err)
	}
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Without a start date the history ends at the start of today (UTC).
func TestGenDefaultStart(t *testing.T) {
	o := GenOptions{}
	now := time.Date(2026, 11, 24, 23, 53, 0, 0, time.UTC)
	o.setDefaults(now)
	if want := time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC); !o.Start.Equal(want) || o.Days != 30 {
		t.Errorf("default start at %v: got %v over %d days, want %v over 30", now, o.Start, o.Days, want)
	}
}
