package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SweepOptions configure RunSweep: the options of each step (its Rate is
// ignored), and the rates to step through.
type SweepOptions struct {
	Options
	// From, Step and To are the first rate, the increment and the last rate,
	// in requests per second. Defaults 500, 500 and 100,000.
	From, Step, To float64
	// SLO is the p99 latency every endpoint must stay under. Default 5 ms.
	SLO time.Duration
	// EndpointSLO, where it names an endpoint, is that endpoint's bound in
	// place of SLO; a negative bound leaves the endpoint unjudged (its p99 is
	// still recorded). Writes that wait for a disk's sync can be given a
	// bound of their own this way, or left out to find what the reads hold.
	EndpointSLO map[string]time.Duration
	// Confirm is how many more runs a step that does not hold gets before
	// the sweep stops there: it is then judged again by the medians over all
	// its runs (of p99 and of errors alike), so that one stall of a few
	// milliseconds on a shared machine does not end a sweep at a rate the
	// server holds. Default 0.
	Confirm int
	// OnStep, if not nil, is called with each step's result as it ends.
	OnStep func(rate float64, r *Result) error
}

// Sweep records the steps of a sweep.
type Sweep struct {
	SLO float64 `json:"slo_p99_us"`
	// EndpointSLO is SweepOptions.EndpointSLO in microseconds, -1 for an
	// endpoint left unjudged.
	EndpointSLO map[string]float64 `json:"slo_p99_us_by_endpoint,omitempty"`
	Held        float64            `json:"held_rate"` // highest rate that held; 0 if none did
	Steps       []SweepStep        `json:"steps"`
}

// SweepStep is one rate of a sweep.
type SweepStep struct {
	Rate      float64            `json:"rate"`
	Held      bool               `json:"held"`
	Why       string             `json:"why,omitempty"` // why it did not hold
	Achieved  float64            `json:"achieved"`
	P99       map[string]float64 `json:"p99_us"`     // median per endpoint
	Errors    float64            `json:"errors"`     // the medians per endpoint, summed
	ErrorsMax float64            `json:"errors_max"` // the most of one run, per endpoint, summed
	Runs      int                `json:"runs"`       // the runs it was judged by
	// GCCycles and WALSyncMax are each run's Run.GCCycles and
	// Run.WALSyncMax, in run order, where the server's metrics gave them:
	// the pauses to look at first when a step does not hold.
	GCCycles   []float64 `json:"gc_cycles,omitempty"`
	WALSyncMax []float64 `json:"wal_sync_max_us,omitempty"`
	// Flushes and Compactions are each run's Run.Flushes and
	// Run.Compactions, in run order, where the server's metrics gave them.
	Flushes     []float64 `json:"flushes,omitempty"`
	Compactions []float64 `json:"compactions,omitempty"`
}

// RunSweep steps the rate up from From until a step does not hold, even
// after Confirm more runs: its p99 passes the SLO on some endpoint, it has
// errors (each the median over its runs), or the rate is not achieved. It
// returns the result of the highest step that held (or of the first step,
// if none did), with the steps in Sweep.
func RunSweep(ctx context.Context, wl Workload, opts SweepOptions) (*Result, error) {
	if opts.From <= 0 {
		opts.From = 500
	}
	if opts.Step <= 0 {
		opts.Step = 500
	}
	if opts.To <= 0 {
		opts.To = 100000
	}
	if opts.SLO <= 0 {
		opts.SLO = 5 * time.Millisecond
	}
	sw := &Sweep{SLO: float64(opts.SLO.Microseconds())}
	if len(opts.EndpointSLO) > 0 {
		sw.EndpointSLO = make(map[string]float64, len(opts.EndpointSLO))
	}
	for name, d := range opts.EndpointSLO {
		sw.EndpointSLO[name] = -1 // unjudged
		if d >= 0 {
			sw.EndpointSLO[name] = float64(d.Microseconds())
		}
	}
	var best, first *Result
	for rate := opts.From; rate <= opts.To && ctx.Err() == nil; rate += opts.Step {
		o := opts.Options
		o.Rate = rate
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "sweep: %s req/s\n", trimFloat(rate))
		}
		res, err := Measure(ctx, wl, o)
		if err != nil {
			return nil, err
		}
		step := judge(res, rate, sw)
		if !step.Held && opts.Confirm > 0 && ctx.Err() == nil {
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "sweep: %s req/s did not hold (%s): %d more run(s)\n", trimFloat(rate), step.Why, opts.Confirm)
			}
			o.Repeat = opts.Confirm
			more, err := Measure(ctx, wl, o)
			if err != nil {
				return nil, err
			}
			res.Runs, res.Floor = append(res.Runs, more.Runs...), append(res.Floor, more.Floor...)
			res.Config.Repeat = len(res.Runs)
			res.summarize()
			step = judge(res, rate, sw)
		}
		sw.Steps = append(sw.Steps, step)
		if opts.OnStep != nil {
			if err := opts.OnStep(rate, res); err != nil {
				return nil, err
			}
		}
		if first == nil {
			first = res
		}
		if !step.Held {
			break
		}
		best, sw.Held = res, rate
	}
	if first == nil {
		return nil, fmt.Errorf("bench: sweep: no step ran")
	}
	if best == nil {
		best = first
	}
	best.Sweep = sw
	return best, nil
}

// Pauses describes the server's pauses in the step's runs, such as "GC
// cycles per run 1, 0, 2; flushes per run 0, 1, 0; compactions per run 2,
// 0, 1; slowest WAL sync per run up to 282ms, 1ms, 500µs", or "" when its
// metrics did not say.
func (st SweepStep) Pauses() string {
	var parts []string
	if len(st.GCCycles) > 0 {
		parts = append(parts, "GC cycles per run "+joinFigures(st.GCCycles, trimFloat))
	}
	if len(st.Flushes) > 0 {
		parts = append(parts, "flushes per run "+joinFigures(st.Flushes, trimFloat))
	}
	if len(st.Compactions) > 0 {
		parts = append(parts, "compactions per run "+joinFigures(st.Compactions, trimFloat))
	}
	if len(st.WALSyncMax) > 0 {
		parts = append(parts, "slowest WAL sync per run up to "+joinFigures(st.WALSyncMax, fmtUS))
	}
	return strings.Join(parts, "; ")
}

func joinFigures(vs []float64, format func(float64) string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = format(v)
	}
	return strings.Join(out, ", ")
}

// Bound returns the p99 bound the sweep judges endpoint by, in
// microseconds, and false when it leaves the endpoint unjudged.
func (sw *Sweep) Bound(endpoint string) (float64, bool) {
	if b, ok := sw.EndpointSLO[endpoint]; ok {
		return b, b >= 0
	}
	return sw.SLO, true
}

// judge decides whether a step held.
func judge(res *Result, rate float64, sw *Sweep) SweepStep {
	step := SweepStep{Rate: rate, P99: map[string]float64{}, Held: true, Runs: len(res.Runs)}
	if f, ok := res.Figure("all", "achieved"); ok {
		step.Achieved = f.Median
	}
	for _, s := range res.Summary {
		if s.Endpoint == "all" {
			continue
		}
		p99, _ := res.Figure(s.Endpoint, "p99")
		errs, _ := res.Figure(s.Endpoint, "errors")
		step.P99[s.Endpoint] = p99.Median
		step.Errors += errs.Median
		step.ErrorsMax += errs.Max
		if slo, judged := sw.Bound(s.Endpoint); judged && p99.Median > slo && step.Held {
			step.Held, step.Why = false, fmt.Sprintf("%s p99 %s over %s", s.Endpoint, fmtUS(p99.Median), fmtUS(slo))
		}
	}
	for _, r := range res.Runs {
		if r.GCCycles != nil {
			step.GCCycles = append(step.GCCycles, *r.GCCycles)
		}
		if r.WALSyncMax != nil {
			step.WALSyncMax = append(step.WALSyncMax, *r.WALSyncMax)
		}
		if r.Flushes != nil {
			step.Flushes = append(step.Flushes, *r.Flushes)
		}
		if r.Compactions != nil {
			step.Compactions = append(step.Compactions, *r.Compactions)
		}
	}
	switch {
	case !step.Held:
	case step.Errors > 0:
		step.Held, step.Why = false, fmt.Sprintf("%.0f errors", step.Errors)
	case !res.Valid:
		step.Held, step.Why = false, "invalid: "+res.Invalid[0]
	}
	return step
}

// ParseSLO parses a sweep's p99 bounds: "5ms" bounds every endpoint;
// "5ms,events=10ms" bounds events by 10 ms and the others by 5 ms;
// "5ms,events=off" leaves events unjudged. A bare duration is the default
// bound (5 ms when none is given); each endpoint (recommend, events, bid)
// may be named once.
func ParseSLO(s string) (time.Duration, map[string]time.Duration, error) {
	def := 5 * time.Millisecond
	var byEndpoint map[string]time.Duration
	bare := false
	for _, e := range splitList(s) {
		name, bound := e.name, e.value
		if !e.named {
			if bare {
				return 0, nil, fmt.Errorf("bench: slo %q: more than one default bound", s)
			}
			d, err := time.ParseDuration(name)
			if err != nil || d <= 0 {
				return 0, nil, fmt.Errorf("bench: slo %q: %q is not a positive duration", s, name)
			}
			def, bare = d, true
			continue
		}
		if _, known := endpointByName(name); !known {
			return 0, nil, fmt.Errorf("bench: slo %q: unknown endpoint %q (want recommend, events or bid)", s, name)
		}
		if _, twice := byEndpoint[name]; twice {
			return 0, nil, fmt.Errorf("bench: slo %q: %s given twice", s, name)
		}
		d := time.Duration(-1)
		if bound != "off" {
			var err error
			if d, err = time.ParseDuration(bound); err != nil || d <= 0 {
				return 0, nil, fmt.Errorf("bench: slo %q: bound of %s must be a positive duration or off, got %q", s, name, bound)
			}
		}
		if byEndpoint == nil {
			byEndpoint = map[string]time.Duration{}
		}
		byEndpoint[name] = d
	}
	return def, byEndpoint, nil
}

// String describes the sweep's bounds as ParseSLO takes them, such as
// "5ms,events=off".
func (sw *Sweep) String() string {
	parts := []string{fmtDuration(sw.SLO)}
	for _, e := range endpoints {
		if b, ok := sw.EndpointSLO[e.name]; ok {
			v := "off"
			if b >= 0 {
				v = fmtDuration(b)
			}
			parts = append(parts, e.name+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

// fmtDuration formats microseconds as a Go duration ("5ms", "750µs").
func fmtDuration(us float64) string {
	return (time.Duration(us) * time.Microsecond).String()
}
