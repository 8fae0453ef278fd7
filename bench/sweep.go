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
	SLO   float64     `json:"slo_p99_us"`
	Held  float64     `json:"held_rate"` // highest rate that held; 0 if none did
	Steps []SweepStep `json:"steps"`
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
		step := judge(res, rate, sw.SLO)
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
			step = judge(res, rate, sw.SLO)
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
// cycles per run 1, 0, 2; slowest WAL sync per run up to 282ms, 1ms, 500µs",
// or "" when its metrics did not say.
func (st SweepStep) Pauses() string {
	var parts []string
	if len(st.GCCycles) > 0 {
		parts = append(parts, "GC cycles per run "+joinFigures(st.GCCycles, trimFloat))
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

// judge decides whether a step held.
func judge(res *Result, rate, slo float64) SweepStep {
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
		if p99.Median > slo && step.Held {
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
