package bench

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// CompareRow is one figure of two results side by side.
type CompareRow struct {
	Endpoint, Figure, Unit string
	A, B                   float64
	// Ratio is B / A; NaN when A is 0.
	Ratio float64
}

// Compare lines up the figures (medians) that results a and b share, in a's
// order: each endpoint's, then those of the runs as a whole.
func Compare(a, b *Result) []CompareRow {
	var rows []CompareRow
	for _, s := range a.Summary {
		for _, fa := range s.Figures {
			fb, ok := b.Figure(s.Endpoint, fa.Name)
			if !ok {
				continue
			}
			ratio := math.NaN()
			if fa.Median != 0 {
				ratio = fb.Median / fa.Median
			}
			rows = append(rows, CompareRow{Endpoint: s.Endpoint, Figure: fa.Name, Unit: fa.Unit, A: fa.Median, B: fb.Median, Ratio: ratio})
		}
	}
	return rows
}

// WriteCompare writes the comparison of a and b as a table with B/A ratios;
// nameA and nameB head the columns.
func WriteCompare(w io.Writer, nameA, nameB string, a, b *Result) error {
	for _, x := range []struct {
		name string
		r    *Result
	}{{"A", a}, {"B", b}} {
		c := x.r.Config
		valid := "valid"
		if !x.r.Valid {
			valid = "INVALID"
		}
		fmt.Fprintf(w, "%s: %s  %s  %s req/s %s, %s, mix %s, %d run(s), %s\n",
			x.name, map[string]string{"A": nameA, "B": nameB}[x.name], x.r.Label, trimFloat(c.Rate), c.Loop(), c.Duration, c.Mix, len(x.r.Runs), valid)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "endpoint\tfigure\tA\tB\tB/A\t\n")
	for _, r := range Compare(a, b) {
		ratio := "-"
		if !math.IsNaN(r.Ratio) {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Endpoint, r.Figure, fmtValue(r.A, r.Unit), fmtValue(r.B, r.Unit), ratio)
	}
	return tw.Flush()
}
