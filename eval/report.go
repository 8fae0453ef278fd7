package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Report is the outcome of a replay.
type Report struct {
	Dataset         string  `json:"dataset"`
	Events          int     `json:"events"`
	Users           int     `json:"users"`
	Items           int     `json:"items"`             // in the catalog
	ItemsWithEvents int     `json:"items_with_events"` // named by some event
	Points          int     `json:"points"`            // lists asked for and scored
	Targets         int     `json:"targets"`           // items scored against them
	K               int     `json:"k"`
	NDCGAt          int     `json:"ndcg_at"`
	Repeats         bool    `json:"repeats"`
	SkipFirst       int     `json:"skip_first"`
	From            float64 `json:"from"`
	// Period is the part of the log scored ("" for all of it, "tune" or
	// "test"), TestShare the share of the events in the test period and
	// TestFrom the time it starts.
	Period    Period   `json:"period,omitempty"`
	TestShare float64  `json:"test_share,omitempty"`
	TestFrom  string   `json:"test_from,omitempty"`
	Elapsed   string   `json:"elapsed"`
	Results   []Result `json:"results"`
	// Lifts compare the first recommender with each other one.
	Lifts []Lift `json:"lifts,omitempty"`
	// Tuned lists the parameters each recommender was scored with, when
	// they were chosen by Tune.
	Tuned []Choice `json:"tuned,omitempty"`
}

// Lift is how far one recommender is ahead of another: the 95% intervals
// of HR_of/HR_over - 1 and MRR_of/MRR_over - 1, from the same bootstrap
// resamples of users for both, so that the comparison is paired.
type Lift struct {
	Of   string     `json:"of"`
	Over string     `json:"over"`
	HR   [2]float64 `json:"hr_ci95"`
	MRR  [2]float64 `json:"mrr_ci95"`
}

// Result is one recommender's figures.
type Result struct {
	Name    string `json:"name"`
	Targets int    `json:"targets"`
	// HR is the share of targets in the top K; MRR the mean reciprocal rank
	// (0 beyond K); NDCG the mean NDCG at NDCGAt with one relevant item per
	// target. HRInterval and MRRInterval are their 95% intervals from a
	// bootstrap over users (1,000 resamples of the users scored, with
	// replacement): a user's targets are not independent of each other.
	HR          float64    `json:"hr"`
	HRInterval  [2]float64 `json:"hr_ci95"`
	MRR         float64    `json:"mrr"`
	MRRInterval [2]float64 `json:"mrr_ci95"`
	NDCG        float64    `json:"ndcg"`
	// HRAt and NDCGAt hold HR@k and NDCG@k for k = 1..K.
	HRAt   []float64 `json:"hr_at"`
	NDCGAt []float64 `json:"ndcg_at"`
	// Coverage is the share of the catalog that appeared in some list.
	Coverage       float64 `json:"coverage"`
	MeanListLength float64 `json:"mean_list_length"`
	EmptyLists     int     `json:"empty_lists"`
	// Latency of one list, in microseconds.
	LatencyMeanUS float64 `json:"latency_mean_us"`
	LatencyP50US  float64 `json:"latency_p50_us"`
	LatencyP99US  float64 `json:"latency_p99_us"`
}

// WriteTable prints the report as a table.
func (r *Report) WriteTable(w io.Writer) error {
	rep := "new items only"
	if r.Repeats {
		rep = "repeats count"
	}
	period := ""
	if r.Period != PeriodAll {
		period = fmt.Sprintf(", %s period (test: the last %.0f%% of events, from %s)", r.Period, 100*r.TestShare, r.TestFrom)
	}
	fmt.Fprintf(w, "%s: %d events, %d users, %d items (%d with events); %d lists scored against %d targets (%s)%s\n",
		r.Dataset, r.Events, r.Users, r.Items, r.ItemsWithEvents, r.Points, r.Targets, rep, period)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "recommender\tHR@%d\t95%% interval\tMRR@%d\t95%% interval\tNDCG@%d\tcoverage\tmean µs\tp50 µs\tp99 µs\t\n", r.K, r.K, r.NDCGAt)
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f–%.4f\t%.4f\t%.4f–%.4f\t%.4f\t%.3f\t%.0f\t%.0f\t%.0f\t\n", x.Name, x.HR, x.HRInterval[0], x.HRInterval[1],
			x.MRR, x.MRRInterval[0], x.MRRInterval[1], x.NDCG, x.Coverage, x.LatencyMeanUS, x.LatencyP50US, x.LatencyP99US)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range r.Lifts {
		fmt.Fprintf(w, "%s over %s: HR@%d %+.1f%% to %+.1f%%, MRR@%d %+.1f%% to %+.1f%% (95%%, paired bootstrap over users)\n",
			l.Of, l.Over, r.K, 100*l.HR[0], 100*l.HR[1], r.K, 100*l.MRR[0], 100*l.MRR[1])
	}
	for _, c := range r.Tuned {
		fmt.Fprintf(w, "%s tuned: %s (best of %d tries on the tuning period)\n", c.Recommender, c.Params, len(c.Tries))
	}
	_, err := fmt.Fprintf(w, "replayed in %s\n", r.Elapsed)
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteSVG draws HR@k and NDCG@k against k for every recommender, side by
// side, as a standalone SVG document.
func (r *Report) WriteSVG(w io.Writer) error {
	var hr, ndcg []series
	for _, x := range r.Results {
		hr = append(hr, series{name: x.Name, y: x.HRAt})
		ndcg = append(ndcg, series{name: x.Name, y: x.NDCGAt})
	}
	var b strings.Builder
	const width, height = 960, 420
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-size="14">%s</text>`+"\n", width/2, escape(r.Dataset))
	plot(&b, 0, 30, width/2, height-30, "HR@k", hr)
	plot(&b, width/2, 30, width/2, height-30, "NDCG@k", ndcg)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type series struct {
	name string
	y    []float64
}

var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"}

// plot draws one chart of series against k = 1..len(y) in the box at (x0,
// y0) of size w x h.
func plot(b *strings.Builder, x0, y0, w, h int, title string, ss []series) {
	const left, right, top, bottom = 55, 15, 25, 40
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	n, ymax := 1, 0.0
	for _, s := range ss {
		n = max(n, len(s.y))
		for _, v := range s.y {
			ymax = math.Max(ymax, v)
		}
	}
	ymax = niceCeil(ymax)
	px := func(k int) float64 { return float64(x0+left) + pw*float64(k-1)/math.Max(1, float64(n-1)) }
	py := func(v float64) float64 { return float64(y0+top) + ph*(1-v/ymax) }
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="13">%s</text>`+"\n", x0+w/2, y0+15, escape(title))
	// Axes and grid.
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		y := py(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", x0+left, y, float64(x0+left)+pw, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%.3g</text>`+"\n", x0+left-6, y, v)
	}
	for k := 1; k <= n; k++ {
		if k == 1 || k%5 == 0 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", px(k), py(0)+16, k)
		}
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">k</text>`+"\n", float64(x0+left)+pw/2, y0+h-6)
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0+left, py(0), float64(x0+left)+pw, py(0))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="black"/>`+"\n", x0+left, y0+top, x0+left, py(0))
	for i, s := range ss {
		color := palette[i%len(palette)]
		var pts []string
		for k, v := range s.y {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(k+1), py(v)))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		ly := y0 + top + 6 + 16*i
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", x0+left+12, ly, x0+left+32, ly, color)
		fmt.Fprintf(b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", x0+left+38, ly, escape(s.name))
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
