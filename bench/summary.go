package bench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteSummary writes a plain-text summary of r: its configuration,
// validity, and each endpoint's figures (median, range over the runs, floor
// and ratio), then the errors by kind.
func WriteSummary(w io.Writer, r *Result) error {
	c := r.Config
	fmt.Fprintf(w, "target %s: %s req/s, %s, %s measured after %s warm-up, mix %s, %d run(s)\n",
		c.Target, trimFloat(c.Rate), c.Loop(), c.Duration, c.Warmup, c.Mix, len(r.Runs))
	if c.FloorTarget != "" {
		fmt.Fprintf(w, "floor  %s: the same load, beside each run\n", c.FloorTarget)
	}
	if r.Sweep != nil {
		fmt.Fprintf(w, "sweep: highest rate that held (p99 bounds %s, no errors, rate achieved; a confirmed step by its medians): %s req/s\n",
			r.Sweep, trimFloat(r.Sweep.Held))
	}
	if r.Valid {
		fmt.Fprintln(w, "valid: yes")
	} else {
		fmt.Fprintln(w, "valid: NO")
		for _, why := range r.Invalid {
			fmt.Fprintln(w, "  "+why)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "\t%s\tmedian\trange\tfloor\tratio\t\n", s.Endpoint)
		for _, f := range s.Figures {
			if f.Name == "server cpu" && f.Median == 0 {
				continue
			}
			c := cellsOf(f)
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t\n", f.Name, c.median, c.rng, c.floor, c.ratio)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range endpointTotals(r.Runs) {
		if len(e.Errors) == 0 {
			continue
		}
		for _, kind := range slices.Sorted(maps.Keys(e.Errors)) {
			fmt.Fprintf(w, "%s errors: %s %s", e.Name, kind, commas(e.Errors[kind]))
			if s := e.ErrorSamples[kind]; s != "" {
				fmt.Fprintf(w, " (%s)", strings.TrimSpace(s))
			}
			fmt.Fprintln(w)
		}
	}
	for _, e := range endpointTotals(r.Runs) {
		if len(e.Status) > 0 {
			fmt.Fprintf(w, "%s answers by status: %s\n", e.Name, statusCounts(e.Status))
		}
	}
	return nil
}

// statusCounts formats answers by status: "200 × 1,234, 204 × 56".
func statusCounts(status map[string]int64) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(status)) {
		parts = append(parts, code+" × "+commas(status[code]))
	}
	return strings.Join(parts, ", ")
}

// cells are a figure formatted for a table; "-" where there is no value.
type cells struct{ median, rng, floor, ratio string }

func cellsOf(f Figure) cells {
	if f.Runs == 0 {
		return cells{"-", "-", "", ""}
	}
	c := cells{median: fmtValue(f.Median, f.Unit)}
	if f.Runs > 1 {
		c.rng = fmtValue(f.Min, f.Unit) + " – " + fmtValue(f.Max, f.Unit)
	}
	if f.Floor > 0 {
		c.floor, c.ratio = fmtValue(f.Floor, f.Unit), fmt.Sprintf("%.2f×", f.Ratio)
	}
	if f.Unit == "cores" { // noise from other processes: no ratio to speak of
		c.ratio = ""
	}
	return c
}

// endpointTotals adds up the status and error counts of each endpoint over
// runs, keeping the first sample of each error kind.
func endpointTotals(runs []*Run) []*EndpointRun {
	var out []*EndpointRun
	byName := map[string]*EndpointRun{}
	for _, run := range runs {
		for _, e := range run.Endpoints {
			t := byName[e.Name]
			if t == nil {
				t = &EndpointRun{Name: e.Name, Status: map[string]int64{}, Errors: map[string]int64{}, ErrorSamples: map[string]string{}}
				byName[e.Name] = t
				out = append(out, t)
			}
			for k, n := range e.Status {
				t.Status[k] += n
			}
			for k, n := range e.Errors {
				t.Errors[k] += n
				if _, ok := t.ErrorSamples[k]; !ok {
					t.ErrorSamples[k] = e.ErrorSamples[k]
				}
			}
		}
	}
	return out
}

// fmtValue formats a figure's value in its unit.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "us":
		return fmtUS(v)
	case "us/req":
		return fmtUS(v) + "/req"
	case "req/s":
		return commas(int64(math.Round(v))) + "/s"
	case "cores":
		return strconv.FormatFloat(v, 'f', 2, 64) + " cores"
	case "MiB":
		return commas(int64(math.Round(v))) + " MiB"
	case "MiB/min":
		return strconv.FormatFloat(v, 'f', 1, 64) + " MiB/min"
	case "per req":
		return strconv.FormatFloat(v, 'f', 3, 64) + "/req"
	default:
		return commas(int64(math.Round(v)))
	}
}

// fmtUS formats a duration in microseconds with three significant digits.
func fmtUS(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1000:
		return sig3(v) + "µs"
	case v < 1e6:
		return sig3(v/1e3) + "ms"
	default:
		return sig3(v/1e6) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// commas formats n with thousands separators: 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
