package bench

import (
	"math"
	"strings"
	"testing"
)

func summaryResult(label string, p99, achieved, cpu float64) *Result {
	return &Result{
		Version: ResultVersion, Label: label, Valid: true,
		Config: Config{Rate: 2000, Mode: "open", Duration: "30s", Mix: "recommend=1"},
		Summary: []Summary{
			{Endpoint: "recommend", Figures: []Figure{
				{Name: "achieved", Unit: "req/s", Median: achieved, Runs: 3},
				{Name: "p99", Unit: "us", Median: p99, Runs: 3},
			}},
			{Endpoint: "all", Figures: []Figure{{Name: "server cpu", Unit: "us/req", Median: cpu, Runs: 3}}},
		},
	}
}

func TestCompare(t *testing.T) {
	a := summaryResult("before", 1000, 2000, 0)
	b := summaryResult("after", 500, 2000, 300)
	rows := Compare(a, b)
	want := []struct {
		endpoint, figure string
		ratio            float64
	}{
		{"recommend", "achieved", 1},
		{"recommend", "p99", 0.5},
		{"all", "server cpu", math.NaN()},
	}
	if len(rows) != len(want) {
		t.Fatalf("Compare: got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		same := r.Ratio == w.ratio || (math.IsNaN(r.Ratio) && math.IsNaN(w.ratio))
		if r.Endpoint != w.endpoint || r.Figure != w.figure || !same {
			t.Errorf("row %d: got %s %s ratio %v, want %s %s ratio %v", i, r.Endpoint, r.Figure, r.Ratio, w.endpoint, w.figure, w.ratio)
		}
	}
	// Figures only one side has are left out.
	b.Summary[0].Figures = b.Summary[0].Figures[:1]
	if got := len(Compare(a, b)); got != 2 {
		t.Errorf("Compare with a figure missing from B: got %d rows, want 2", got)
	}

	var out strings.Builder
	if err := WriteCompare(&out, "a.json", "b.json", a, summaryResult("after", 2500, 1990, 300)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a.json", "before", "after", "p99", "1.00ms", "2.50ms", "2.50×", "0.99×", "-"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("WriteCompare output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestSummarize(t *testing.T) {
	run := func(p99, floorish float64, ok int64) *Run {
		return &Run{Valid: true, Achieved: 100, DriverCPU: floorish, Endpoints: []*EndpointRun{
			{Name: "recommend", OK: ok, Achieved: 100, Latency: Percentiles{P99: p99}},
		}}
	}
	r := &Result{
		Runs:  []*Run{run(300, 10, 5), run(100, 10, 5), run(200, 10, 5)},
		Floor: []*Run{run(50, 5, 5), run(40, 5, 5), run(60, 5, 5)},
	}
	r.Floor[1].Valid, r.Floor[1].Invalid = false, []string{"slow"}
	r.summarize()
	f, ok := r.Figure("recommend", "p99")
	if !ok || f.Median != 200 || f.Min != 100 || f.Max != 300 || f.Floor != 50 || f.Ratio != 4 || f.Runs != 3 {
		t.Errorf("p99 figure: got %+v, want median 200 in [100, 300], floor 50, ratio 4 over 3 runs", f)
	}
	if r.Valid || len(r.Invalid) != 1 || !strings.Contains(r.Invalid[0], "floor run 2: slow") {
		t.Errorf("validity with an invalid floor run: got %v %v, want invalid, naming floor run 2", r.Valid, r.Invalid)
	}
	// A run without answers has no latency figures.
	r.Runs = []*Run{run(0, 10, 0)}
	r.summarize()
	if f, _ := r.Figure("recommend", "p99"); f.Runs != 0 {
		t.Errorf("p99 of a run without answers: got %+v, want no runs", f)
	}
}
