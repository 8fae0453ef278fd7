package bench

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// endpointColors are the plot colours of the endpoints; floor runs are grey.
var endpointColors = map[string]string{"recommend": "#1f6fb4", "events": "#2a9d3a", "bid": "#c8322f"}

const floorColor = "#8a8a8a"

func colorOf(name string) string {
	if c, ok := endpointColors[name]; ok {
		return c
	}
	return "#7b4ea8"
}

// WriteReport writes r as a self-contained HTML page: the configuration,
// the figures, a latency-by-percentile plot per endpoint (every run, floor
// runs in grey), throughput and p99 over time, and the sweep if there was
// one. The plots are inline SVG; the page loads nothing.
func WriteReport(w io.Writer, r *Result) error {
	return reportTemplate.Execute(w, buildReport(r))
}

type reportData struct {
	R         *Result
	Title     string
	Tolerance string
	Rows      []reportRow
	Errors    []string
	Answers   []string
	Plots     []template.HTML
	Series    []template.HTML
	Sweep     template.HTML
}

type reportRow struct {
	Endpoint, Figure, Median, Range, Floor, Ratio string
	First                                         bool
}

func buildReport(r *Result) reportData {
	d := reportData{R: r, Title: "tailor bench: " + r.Config.Target, Tolerance: strconv.FormatFloat(100*r.Config.Tolerance, 'f', -1, 64) + "%"}
	if r.Label != "" {
		d.Title = "tailor bench: " + r.Label
	}
	for _, s := range r.Summary {
		for i, f := range s.Figures {
			if f.Name == "server cpu" && f.Median == 0 {
				continue
			}
			c := cellsOf(f)
			d.Rows = append(d.Rows, reportRow{Endpoint: s.Endpoint, First: i == 0, Figure: f.Name,
				Median: c.median, Range: c.rng, Floor: c.floor, Ratio: c.ratio})
		}
	}
	for _, e := range endpointTotals(r.Runs) {
		for _, kind := range slices.Sorted(maps.Keys(e.Errors)) {
			d.Errors = append(d.Errors, fmt.Sprintf("%s: %s × %s: %s", e.Name, kind, commas(e.Errors[kind]), strings.TrimSpace(e.ErrorSamples[kind])))
		}
		if len(e.Status) > 0 {
			d.Answers = append(d.Answers, e.Name+": "+statusCounts(e.Status))
		}
	}
	if len(r.Runs) == 0 {
		return d
	}
	for _, e := range r.Runs[0].Endpoints {
		d.Plots = append(d.Plots, percentilePlot(r, e.Name))
	}
	d.Series = append(d.Series, throughputPlot(r), p99Plot(r))
	if p := memoryPlot(r); p != "" {
		d.Series = append(d.Series, p)
	}
	if r.Sweep != nil && len(r.Sweep.Steps) > 0 {
		d.Sweep = sweepPlot(r)
	}
	return d
}

// endpointOf returns run's endpoint named name, or nil.
func endpointOf(run *Run, name string) *EndpointRun {
	for _, e := range run.Endpoints {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func percentilePlot(r *Result, name string) template.HTML {
	var lines []line
	nines := 2
	add := func(runs []*Run, what, color string, faint bool) {
		for i, run := range runs {
			e := endpointOf(run, name)
			if e == nil || len(e.Curve) == 0 {
				continue
			}
			var lat, svc [][2]float64
			prev := 0.0
			for _, c := range e.Curve {
				x := percentileX(c.P, prev)
				prev = x
				lat = append(lat, [2]float64{x, c.LatencyUS})
				svc = append(svc, [2]float64{x, c.ServiceUS})
				nines = max(nines, int(math.Ceil(x-1e-9)))
			}
			label := fmt.Sprintf("%s %s %d", name, what, i+1)
			lines = append(lines,
				line{name: label + " latency (from intended send)", color: color, faint: faint, pts: lat},
				line{name: label + " service time (from actual send)", color: color, dash: true, faint: faint, pts: svc})
		}
	}
	add(r.Floor, "floor run", floorColor, true)
	add(r.Runs, "run", colorOf(name), false)
	p := plot{
		title:  name + ": latency by percentile (solid: from intended send; dashed: service time; grey: floor)",
		xlabel: "percentile", ylabel: "latency",
		x: percentileScale(nines), y: fitLatency(lines, 1), lines: lines,
	}
	return p.svg()
}

func throughputPlot(r *Result) template.HTML {
	var lines []line
	for i, run := range r.Runs {
		for _, e := range run.Endpoints {
			var pts [][2]float64
			for _, s := range e.Series {
				pts = append(pts, [2]float64{s.T + run.IntervalS/2, float64(s.OK) / run.IntervalS})
			}
			lines = append(lines, line{name: fmt.Sprintf("%s run %d: answered per second", e.Name, i+1), color: colorOf(e.Name), faint: i > 0, pts: pts})
		}
	}
	p := plot{
		title: "throughput: 2xx answers per second, by intended send time (shaded: warm-up)", xlabel: "seconds", ylabel: "requests/s",
		x: fitLinear(lines, 0, secondsLabel), y: fitLinear(lines, 1, countLabel), lines: lines, bands: warmupBand(r),
	}
	return p.svg()
}

func p99Plot(r *Result) template.HTML {
	var lines []line
	for i, run := range r.Runs {
		for _, e := range run.Endpoints {
			var pts [][2]float64
			for _, s := range e.Series {
				if s.P99 > 0 {
					pts = append(pts, [2]float64{s.T + run.IntervalS/2, s.P99})
				}
			}
			lines = append(lines, line{name: fmt.Sprintf("%s run %d: p99 over time", e.Name, i+1), color: colorOf(e.Name), faint: i > 0, pts: pts})
		}
	}
	p := plot{
		title: "p99 latency over time, by intended send time (shaded: warm-up)", xlabel: "seconds", ylabel: "p99",
		x: fitLinear(lines, 0, secondsLabel), y: fitLatency(lines, 1), lines: lines, bands: warmupBand(r),
	}
	return p.svg()
}

// memoryPlot draws the server's resident memory and Go heap over each run,
// or nothing when no run sampled them.
func memoryPlot(r *Result) template.HTML {
	var lines []line
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	for i, run := range r.Runs {
		var rss, heap, live [][2]float64
		for _, m := range run.Memory {
			rss = append(rss, [2]float64{m.T, mib(m.RSS)})
			if m.Heap > 0 {
				heap = append(heap, [2]float64{m.T, mib(m.Heap)})
			}
			if m.Live > 0 {
				live = append(live, [2]float64{m.T, mib(m.Live)})
			}
		}
		if len(rss) == 0 {
			continue
		}
		lines = append(lines, line{name: fmt.Sprintf("run %d: server resident memory (RSS), MiB", i+1), color: "#1f6fb4", faint: i > 0, pts: rss})
		if len(heap) > 0 {
			lines = append(lines, line{name: fmt.Sprintf("run %d: Go heap in use, MiB", i+1), color: "#2a9d3a", dash: true, faint: i > 0, pts: heap})
		}
		if len(live) > 0 {
			lines = append(lines, line{name: fmt.Sprintf("run %d: Go heap live after the last collection, MiB", i+1), color: "#c4661f", dash: true, faint: i > 0, pts: live})
		}
	}
	if len(lines) == 0 {
		return ""
	}
	withZero := append(slices.Clone(lines), line{pts: [][2]float64{{0, 0}}})
	p := plot{
		title: "server memory over time: resident (solid), Go heap in use (dashed green) and live after the last collection (dashed orange), MiB (shaded: warm-up)", xlabel: "seconds", ylabel: "MiB",
		x: fitLinear(lines, 0, secondsLabel), y: fitLinear(withZero, 1, countLabel), lines: lines, bands: warmupBand(r),
	}
	return p.svg()
}

func sweepPlot(r *Result) template.HTML {
	var names []string
	for _, st := range r.Sweep.Steps {
		for n := range st.P99 {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int { return endpointRank(a) - endpointRank(b) })
	var lines []line
	for _, n := range names {
		var pts [][2]float64
		for _, st := range r.Sweep.Steps {
			if v, ok := st.P99[n]; ok {
				pts = append(pts, [2]float64{st.Rate, v})
			}
		}
		lines = append(lines, line{name: n + ": p99 (median of runs) by rate", color: colorOf(n), dots: true, pts: pts})
	}
	refs := []ref{{r.Sweep.SLO, "SLO " + fmtUS(r.Sweep.SLO)}}
	for _, n := range names {
		if b, judged := r.Sweep.Bound(n); judged && b != r.Sweep.SLO {
			refs = append(refs, ref{b, n + " SLO " + fmtUS(b)})
		}
	}
	withSLO := slices.Clone(lines)
	for _, rf := range refs {
		withSLO = append(withSLO, line{pts: [][2]float64{{0, rf.y}}})
	}
	p := plot{
		title: "sweep: p99 by rate (lines: the SLOs)", xlabel: "requests/s", ylabel: "p99",
		x: fitLinear(lines, 0, countLabel), y: fitLatency(withSLO, 1), lines: lines, refs: refs,
	}
	return p.svg()
}

func warmupBand(r *Result) [][2]float64 {
	if len(r.Runs) == 0 || r.Runs[0].WarmupS <= 0 {
		return nil
	}
	return [][2]float64{{0, r.Runs[0].WarmupS}}
}

func secondsLabel(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "s" }
func countLabel(v float64) string   { return commas(int64(math.Round(v))) }

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1340px; }
h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { padding: 2px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td:first-child, th:first-child, td.name { text-align: left; }
.invalid { background: #fde8e8; border: 1px solid #e4a0a0; padding: 8px 12px; }
.valid { background: #e8f6ea; border: 1px solid #a0d4a8; padding: 8px 12px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg.plot { background: #fff; border: 1px solid #ddd; }
svg .title { font-size: 12px; font-weight: 600; } svg .tick, svg .label { font-size: 11px; fill: #444; }
svg .grid { stroke: #eee; } svg .frame { fill: none; stroke: #999; } svg .band { fill: #f2f2f2; }
svg .ref { stroke: #c8322f; stroke-dasharray: 2 3; }
svg .series { fill: none; stroke-width: 1.6; } svg .dash { stroke-dasharray: 5 3; } svg .faint { stroke-opacity: 0.45; }
code { font-size: 13px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .R.Valid}}<p class="valid">Valid: every run offered the asked rate (short of it by {{.Tolerance}} at most).</p>
{{else}}<div class="invalid"><b>Invalid run.</b> Its percentiles describe a lighter load than the one asked for.<ul>{{range .R.Invalid}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<table>
<tr><th>target</th><td class="name"><code>{{.R.Config.Target}}</code></td></tr>
{{with .R.Config.FloorTarget}}<tr><th>floor</th><td class="name"><code>{{.}}</code> (a trivial handler, measured beside each run with the same settings)</td></tr>{{end}}
<tr><th>load</th><td class="name">{{.R.Config.Rate}} req/s, {{.R.Config.Loop}}, {{.R.Config.Duration}} measured after {{.R.Config.Warmup}} warm-up, {{.R.Config.Conns}} connections, timeout {{.R.Config.Timeout}}</td></tr>
<tr><th>mix</th><td class="name">{{.R.Config.Mix}}</td></tr>
<tr><th>runs</th><td class="name">{{len .R.Runs}} (figures: median and range over the runs)</td></tr>
<tr><th>driver host</th><td class="name">{{.R.Host.OS}}/{{.R.Host.Arch}}, {{.R.Host.CPUs}} CPUs, GOMAXPROCS {{.R.Host.GOMAXPROCS}}, {{.R.Host.Go}}</td></tr>
{{with .R.World}}<tr><th>world</th><td class="name">{{.Items}} items, {{.Users}} users, {{.Events}} history events, {{.Campaigns}} campaigns, seed {{.Seed}}</td></tr>{{end}}
{{with .R.Sweep}}<tr><th>sweep</th><td class="name">highest rate that held (p99 under its bound on every endpoint judged, no errors, rate achieved; a confirmed step by its medians): <b>{{.Held}} req/s</b>, p99 bounds <code>{{.String}}</code></td></tr>{{end}}
</table>

<h2>Figures</h2>
<p>Latency runs from each request's intended send time to its answer (coordinated omission corrected); service time from its actual send.</p>
<table>
<tr><th>endpoint</th><th>figure</th><th>median</th><th>range</th><th>floor</th><th>ratio to floor</th></tr>
{{range .Rows}}<tr><td>{{if .First}}<b>{{.Endpoint}}</b>{{end}}</td><td class="name">{{.Figure}}</td><td>{{.Median}}</td><td>{{.Range}}</td><td>{{.Floor}}</td><td>{{.Ratio}}</td></tr>
{{end}}</table>
{{if .Answers}}<p>Answers by status, all runs: {{range .Answers}}<br>{{.}}{{end}}</p>{{end}}
{{if .Errors}}<p>Errors by kind, all runs, with a sample: {{range .Errors}}<br><code>{{.}}</code>{{end}}</p>{{end}}

<h2>Latency by percentile</h2>
<div class="plots">{{range .Plots}}{{.}}{{end}}</div>

<h2>Over time</h2>
<div class="plots">{{range .Series}}{{.}}{{end}}</div>

{{with .Sweep}}<h2>Sweep</h2>
<div class="plots">{{.}}</div>
<table><tr><th>rate</th><th>held</th><th>achieved</th><th>why not</th></tr>
{{range $.R.Sweep.Steps}}<tr><td>{{.Rate}}</td><td>{{.Held}}</td><td>{{printf "%.0f" .Achieved}}</td><td class="name">{{.Why}}</td></tr>
{{end}}</table>{{end}}
</body>
</html>
`))
