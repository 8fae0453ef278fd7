package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// Options configure Measure: the run options, and how many times to repeat
// the run, each time beside a run against a floor server.
type Options struct {
	RunOptions
	// Repeat is how many runs to make; figures are their median and range.
	// Default 1.
	Repeat int
	// FloorTarget, if set, is the base URL of a trivial server (see
	// ServeFloor) to run the same load against after each run, so that each
	// figure reads as a ratio to what this machine and driver can do at all.
	FloorTarget string
	// FloorPID, if positive, is the floor server's process id.
	FloorPID int
	// Label names the result, for reports and comparisons.
	Label string
	// World describes the world the bodies come from, for the record.
	World *Manifest
}

// Result is what Measure and Sweep return, and result.json holds.
type Result struct {
	Version int       `json:"version"`
	Label   string    `json:"label,omitempty"`
	Config  Config    `json:"config"`
	Host    Host      `json:"host"`
	World   *Manifest `json:"world,omitempty"`
	// Valid is false if any run (target or floor) was invalid; Invalid says
	// why.
	Valid   bool      `json:"valid"`
	Invalid []string  `json:"invalid,omitempty"`
	Summary []Summary `json:"summary"`
	Runs    []*Run    `json:"runs"`
	Floor   []*Run    `json:"floor,omitempty"`
	Sweep   *Sweep    `json:"sweep,omitempty"`
}

// ResultVersion is the version of the result.json format.
const ResultVersion = 1

// Config is how a result was measured.
type Config struct {
	Target      string `json:"target"`
	FloorTarget string `json:"floor_target,omitempty"`
	Mode        string `json:"mode"`
	// Arrivals is "poisson" for an open loop with RunOptions.Poisson, and
	// empty for one that spaces its requests evenly (or a closed loop).
	Arrivals  string  `json:"arrivals,omitempty"`
	Rate      float64 `json:"rate"`
	Duration  string  `json:"duration"`
	Warmup    string  `json:"warmup"`
	Mix       string  `json:"mix"`
	Conns     int     `json:"conns"`
	Timeout   string  `json:"timeout"`
	Repeat    int     `json:"repeat"`
	Tolerance float64 `json:"tolerance"`
	WaitIdle  float64 `json:"wait_idle,omitempty"`
}

// Loop names how the load was sent: "open loop", "open loop, Poisson
// arrivals" or "closed loop".
func (c Config) Loop() string {
	if c.Arrivals == "poisson" {
		return c.Mode + " loop, Poisson arrivals"
	}
	return c.Mode + " loop"
}

// Host is the machine the driver ran on.
type Host struct {
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	Hostname   string `json:"hostname,omitempty"`
}

// Summary holds one endpoint's figures over the runs; the endpoint "all"
// holds the figures of the runs as a whole.
type Summary struct {
	Endpoint string   `json:"endpoint"`
	Figures  []Figure `json:"figures"`
}

// Figure is one measure over the runs: its median and range, and the median
// of the floor runs with the ratio of the two.
type Figure struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"` // us, req/s, count
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Floor  float64 `json:"floor,omitempty"`
	Ratio  float64 `json:"ratio,omitempty"` // Median / Floor
	// Runs is the number of runs the figure is taken over: a latency needs
	// at least one answer in a run.
	Runs int `json:"runs"`
}

// Figure returns the figure named name of endpoint, if there is one.
func (r *Result) Figure(endpoint, name string) (Figure, bool) {
	for _, s := range r.Summary {
		if s.Endpoint == endpoint {
			for _, f := range s.Figures {
				if f.Name == name {
					return f, true
				}
			}
		}
	}
	return Figure{}, false
}

// endpointFigures are the per-endpoint figures of a summary.
var endpointFigures = []struct {
	name, unit string
	latency    bool // only runs with answers count
	get        func(*EndpointRun) float64
}{
	{"achieved", "req/s", false, func(e *EndpointRun) float64 { return e.Achieved }},
	{"p50", "us", true, func(e *EndpointRun) float64 { return e.Latency.P50 }},
	{"p90", "us", true, func(e *EndpointRun) float64 { return e.Latency.P90 }},
	{"p99", "us", true, func(e *EndpointRun) float64 { return e.Latency.P99 }},
	{"p99.9", "us", true, func(e *EndpointRun) float64 { return e.Latency.P999 }},
	{"max", "us", true, func(e *EndpointRun) float64 { return e.Latency.Max }},
	{"service p50", "us", true, func(e *EndpointRun) float64 { return e.Service.P50 }},
	{"service p99", "us", true, func(e *EndpointRun) float64 { return e.Service.P99 }},
	{"service p99.9", "us", true, func(e *EndpointRun) float64 { return e.Service.P999 }},
	{"errors", "count", false, func(e *EndpointRun) float64 { return float64(e.errorCount()) }},
}

// runFigures are the figures of the endpoint "all"; a figure whose get
// reports false for a run leaves that run out.
var runFigures = []struct {
	name, unit string
	get        func(*Run) (float64, bool)
}{
	{"achieved", "req/s", always(func(r *Run) float64 { return r.Achieved })},
	{"server cpu", "us/req", always(func(r *Run) float64 { return r.ServerCPU })},
	{"driver cpu", "us/req", always(func(r *Run) float64 { return r.DriverCPU })},
	{"others' cpu", "cores", always(func(r *Run) float64 { return r.OtherCPU })},
	{"server wal syncs", "per req", optional(func(r *Run) *float64 { return r.WALSyncs })},
	{"server gc cycles", "count", optional(func(r *Run) *float64 { return r.GCCycles })},
	{"server wal sync max", "us", optional(func(r *Run) *float64 { return r.WALSyncMax })},
	{"server flushes", "count", optional(func(r *Run) *float64 { return r.Flushes })},
	{"server compactions", "count", optional(func(r *Run) *float64 { return r.Compactions })},
	{"server rss max", "MiB", memoryFigure(memoryMax, rssSeries)},
	{"server rss growth", "MiB/min", memoryFigure(memoryGrowth, rssSeries)},
	{"go heap max", "MiB", memoryFigure(memoryMax, heapSeries)},
	{"go live heap max", "MiB", memoryFigure(memoryMax, liveSeries)},
	{"go heap growth", "MiB/min", heapGrowth},
}

func always(get func(*Run) float64) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) { return get(r), true }
}

// optional is a figure that a run may lack (nil).
func optional(get func(*Run) *float64) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) {
		if v := get(r); v != nil {
			return *v, true
		}
		return 0, false
	}
}

// memoryFigure is a figure of a run's memory samples in its measured window.
func memoryFigure(stat func([]MemorySample, float64, float64, memorySeries) (float64, bool),
	m memorySeries) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) {
		if len(r.Memory) == 0 || m.of(r.Memory[0]) == 0 && m.of(r.Memory[len(r.Memory)-1]) == 0 {
			return 0, false
		}
		from, to := r.window()
		return stat(r.Memory, from, to, m)
	}
}

// Measure runs load opts.Repeat times (each followed by a floor run if
// opts.FloorTarget is set) and summarises the runs.
func Measure(ctx context.Context, wl Workload, opts Options) (*Result, error) {
	if opts.Repeat <= 0 {
		opts.Repeat = 1
	}
	opts.RunOptions.setDefaults()
	res := newResult(opts)
	for i := range opts.Repeat {
		if opts.Progress != nil && opts.Repeat > 1 {
			fmt.Fprintf(opts.Progress, "run %d of %d: %s\n", i+1, opts.Repeat, opts.Target)
		}
		run, err := Drive(ctx, wl, opts.RunOptions)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, run)
		if ctx.Err() != nil {
			break
		}
		if opts.FloorTarget != "" {
			fo := opts.RunOptions
			// The floor's own metrics, if any: not the server's.
			fo.Target, fo.ServerPID, fo.MetricsURL = opts.FloorTarget, opts.FloorPID, opts.FloorTarget+"/metrics"
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "floor run %d of %d: %s\n", i+1, opts.Repeat, opts.FloorTarget)
			}
			run, err := Drive(ctx, wl, fo)
			if err != nil {
				return nil, err
			}
			res.Floor = append(res.Floor, run)
			if ctx.Err() != nil {
				break
			}
		}
	}
	res.summarize()
	return res, nil
}

func newResult(opts Options) *Result {
	mode, arrivals := opts.loop()
	host, _ := os.Hostname()
	return &Result{
		Version: ResultVersion,
		Label:   opts.Label,
		Config: Config{
			Target: opts.Target, FloorTarget: opts.FloorTarget, Mode: mode, Arrivals: arrivals, Rate: opts.Rate,
			Duration: opts.Duration.String(), Warmup: opts.warmup().String(), Mix: opts.Mix.String(),
			Conns: opts.Conns, Timeout: opts.Timeout.String(), Repeat: opts.Repeat, Tolerance: opts.Tolerance, WaitIdle: opts.WaitIdle,
		},
		Host: Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
			GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), Hostname: host},
		World: opts.World,
	}
}

// summarize computes Valid, Invalid and Summary from the runs.
func (r *Result) summarize() {
	r.Valid, r.Invalid, r.Summary = len(r.Runs) > 0, nil, nil
	for _, set := range []struct {
		what string
		runs []*Run
	}{{"run", r.Runs}, {"floor run", r.Floor}} {
		for i, run := range set.runs {
			if !run.Valid {
				r.Valid = false
				for _, why := range run.Invalid {
					r.Invalid = append(r.Invalid, fmt.Sprintf("%s %d: %s", set.what, i+1, why))
				}
			}
		}
	}
	if len(r.Runs) == 0 {
		return
	}
	for _, e := range r.Runs[0].Endpoints {
		s := Summary{Endpoint: e.Name}
		for _, f := range endpointFigures {
			get := func(run *Run) (float64, bool) {
				x := endpointOf(run, e.Name)
				if x == nil || (f.latency && x.OK == 0) {
					return 0, false
				}
				return f.get(x), true
			}
			s.Figures = append(s.Figures, figure(f.name, f.unit, r.Runs, r.Floor, get))
		}
		r.Summary = append(r.Summary, s)
	}
	all := Summary{Endpoint: "all"}
	for _, f := range runFigures {
		if fig := figure(f.name, f.unit, r.Runs, r.Floor, f.get); fig.Runs > 0 {
			all.Figures = append(all.Figures, fig)
		}
	}
	r.Summary = append(r.Summary, all)
}

func figure(name, unit string, runs, floor []*Run, get func(*Run) (float64, bool)) Figure {
	values := func(runs []*Run) []float64 {
		var v []float64
		for _, run := range runs {
			if x, ok := get(run); ok {
				v = append(v, x)
			}
		}
		return v
	}
	f := Figure{Name: name, Unit: unit}
	v := values(runs)
	if len(v) == 0 {
		return f
	}
	f.Runs = len(v)
	f.Median, f.Min, f.Max = median(v), slices.Min(v), slices.Max(v)
	if fv := values(floor); len(fv) > 0 {
		f.Floor = median(fv)
		if f.Floor > 0 {
			f.Ratio = f.Median / f.Floor
		}
	}
	return f
}

// median returns the middle value of v (the mean of the two middle values
// for an even count). v must not be empty; it is not modified.
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// WriteResult writes r as dir/result.json and its report as dir/report.html,
// creating dir if needed.
func WriteResult(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: cannot encode result: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return writeFile(filepath.Join(dir, "report.html"), func(w io.Writer) error { return WriteReport(w, r) })
}

// ReadResult reads a result.json.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: cannot read %s: %w", path, err)
	}
	if r.Version != ResultVersion {
		return nil, fmt.Errorf("bench: %s has format version %d, want %d", path, r.Version, ResultVersion)
	}
	return &r, nil
}
