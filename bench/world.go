package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tailor-dev/tailor/internal/synth"
)

// The files of a world directory.
const (
	ManifestFile   = "world.json"
	ItemsFile      = "items.ndjson"
	EventsFile     = "events.ndjson"
	CampaignsFile  = "campaigns.ndjson"
	RecommendFile  = "recommend.ndjson"
	LiveEventsFile = "events-live.ndjson"
	BidFile        = "bid.ndjson"
)

// placeholder is the part of an id in a request body that the driver
// rewrites on every send ("ev-0000000000000000-12-0"), so that bodies sent
// more than once in a run still carry fresh event ids and auction ids.
const placeholder = "0000000000000000"

// GenOptions configure Gen. Zero fields take their defaults.
type GenOptions struct {
	// Items, Users and Campaigns size the world. Defaults 100,000, 100,000
	// and 1,000.
	Items, Users, Campaigns int
	// Bodies is how many request bodies of each kind to write. Default 10,000.
	Bodies int
	// Seed seeds every random choice; 0 is an ordinary seed.
	Seed int64
	// Start is the time of the earliest history event; the history spans
	// Days (default 30) days from it. Default: Days days before today (UTC
	// midnight), so that the history ends about now and the server's decayed
	// interests are those of active users. Pass it explicitly to reproduce a
	// world byte for byte.
	Start time.Time
	Days  int
}

func (o *GenOptions) setDefaults(now time.Time) {
	if o.Items <= 0 {
		o.Items = 100000
	}
	if o.Users <= 0 {
		o.Users = 100000
	}
	if o.Campaigns <= 0 {
		o.Campaigns = 1000
	}
	if o.Bodies <= 0 {
		o.Bodies = 10000
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.Start.IsZero() {
		y, m, d := now.UTC().Date()
		o.Start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -o.Days)
	}
}

// Manifest describes a generated world; it is world.json.
type Manifest struct {
	Items     int       `json:"items"`
	Users     int       `json:"users"`
	Campaigns int       `json:"campaigns"`
	Bodies    int       `json:"bodies"`
	Seed      int64     `json:"seed"`
	Start     time.Time `json:"start"`
	Days      int       `json:"days"`
	// Events is the number of history events in events.ndjson.
	Events int64 `json:"events"`
}

// Gen writes the world of opts into dir (created if missing): the manifest,
// the NDJSON files to load, and the request bodies. The files are a pure
// function of the options (with Start given).
func Gen(dir string, opts GenOptions) (*Manifest, error) {
	opts.setDefaults(time.Now())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: cannot create world directory: %w", err)
	}
	w := synth.New(synth.Options{Items: opts.Items, Users: opts.Users, Seed: opts.Seed, Start: opts.Start, Days: opts.Days})
	m := &Manifest{Items: opts.Items, Users: opts.Users, Campaigns: opts.Campaigns, Bodies: opts.Bodies,
		Seed: opts.Seed, Start: opts.Start, Days: opts.Days}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{ItemsFile, w.WriteItemsNDJSON},
		{EventsFile, func(out io.Writer) error {
			lc := &lineCounter{w: out}
			err := w.WriteEventsNDJSON(lc)
			m.Events = lc.n
			return err
		}},
		{CampaignsFile, func(out io.Writer) error { return w.WriteCampaignsNDJSON(out, opts.Campaigns) }},
		{RecommendFile, func(out io.Writer) error { return w.WriteRecommendNDJSON(out, opts.Bodies) }},
		{LiveEventsFile, func(out io.Writer) error { return writeLiveEvents(out, w, opts.Bodies) }},
		{BidFile, func(out io.Writer) error { return writeBids(out, w, opts.Bodies) }},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return nil, err
		}
	}
	err := writeFile(filepath.Join(dir, ManifestFile), func(out io.Writer) error {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// writeLiveEvents writes the live event batches with the driver's
// placeholder in their ids.
func writeLiveEvents(out io.Writer, w *synth.World, n int) error {
	return writeJSONLines(out, n, func(k int) any {
		evs := w.LiveEvents(k)
		for j := range evs {
			evs[j].ID = "ev-" + placeholder + "-" + strconv.Itoa(k) + "-" + strconv.Itoa(j)
		}
		return evs
	})
}

// writeBids writes the bid requests with the driver's placeholder in their
// auction and transaction ids.
func writeBids(out io.Writer, w *synth.World, n int) error {
	return writeJSONLines(out, n, func(k int) any {
		req := w.BidRequest(k)
		req.ID = "rq-" + placeholder + "-" + strconv.Itoa(k)
		req.Source.TID = "tx-" + placeholder + "-" + strconv.Itoa(k)
		return req
	})
}

func writeJSONLines(out io.Writer, n int, next func(k int) any) error {
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for k := range n {
		if err := enc.Encode(next(k)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: cannot write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: cannot write %s: %w", path, err)
	}
	return nil
}

// lineCounter counts the newlines written through it.
type lineCounter struct {
	w io.Writer
	n int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += int64(bytes.Count(p, []byte{'\n'}))
	return c.w.Write(p)
}

// World is a generated world directory.
type World struct {
	Dir      string
	Manifest Manifest
}

// OpenWorld reads the manifest of the world in dir.
func OpenWorld(dir string) (*World, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("bench: %s is not a world directory (no %s); create one with tailor bench gen", dir, ManifestFile)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	w := &World{Dir: dir}
	if err := json.Unmarshal(b, &w.Manifest); err != nil {
		return nil, fmt.Errorf("bench: cannot read %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return w, nil
}

// Workload reads the request bodies of the endpoints in mix.
func (w *World) Workload(mix Mix) (Workload, error) {
	wl := Workload{}
	for _, m := range mix {
		ep, ok := endpointByName(m.Name)
		if !ok {
			return nil, fmt.Errorf("bench: unknown endpoint %q", m.Name)
		}
		lines, err := readLines(filepath.Join(w.Dir, ep.file))
		if err != nil {
			return nil, err
		}
		if len(lines) == 0 {
			return nil, fmt.Errorf("bench: %s has no request bodies", filepath.Join(w.Dir, ep.file))
		}
		wl[m.Name] = NewBodies(lines)
	}
	return wl, nil
}

func readLines(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var lines [][]byte
	for line := range bytes.Lines(b) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	return lines, nil
}

// Workload holds the request bodies of each endpoint of a load test, by
// endpoint name.
type Workload map[string]*Bodies

// Bodies are the request bodies of one endpoint, sent in turn.
type Bodies struct {
	list  [][]byte
	holes [][]int // per body, offsets of placeholders to fill
}

// NewBodies returns bodies to send in turn. Every occurrence of
// "-0000000000000000-" in a body has its 16 zeros replaced on each send by a
// hexadecimal number unique to the send.
func NewBodies(list [][]byte) *Bodies {
	b := &Bodies{list: list, holes: make([][]int, len(list))}
	marker := []byte("-" + placeholder + "-")
	for i, body := range list {
		for off := 0; ; {
			j := bytes.Index(body[off:], marker)
			if j < 0 {
				break
			}
			b.holes[i] = append(b.holes[i], off+j+1)
			off += j + len(marker)
		}
	}
	return b
}

// Len returns the number of bodies.
func (b *Bodies) Len() int { return len(b.list) }

// fill copies body i into dst with its placeholders set to nonce.
func (b *Bodies) fill(dst []byte, i int, nonce uint64) []byte {
	dst = append(dst[:0], b.list[i]...)
	for _, off := range b.holes[i] {
		const hex = "0123456789abcdef"
		for k := range 16 {
			dst[off+k] = hex[nonce>>(60-4*k)&15]
		}
	}
	return dst
}
