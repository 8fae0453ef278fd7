package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/tailor-dev/tailor/datasets"
	"github.com/tailor-dev/tailor/model"
)

// ClickExample is one logged impression: its features, whether it was
// clicked, and the true click probability when the log is generated (NaN
// otherwise).
type ClickExample struct {
	Features []model.Feature
	Click    bool
	P        float64
}

// ClickOptions configures Clicks. Zero fields take their defaults.
type ClickOptions struct {
	// Model configures the click model; its hash width defaults to 18 bits
	// here.
	Model model.Options
	// Bootstrap is the number of resamples behind each interval. Default
	// 1,000.
	Bootstrap int
	// Seed seeds the resampling.
	Seed uint64
	// Warmup leaves the first examples out of the figures (they are still
	// learned from). Default 0.
	Warmup int
	// Bins is the number of equal-count bins of the calibration error.
	// Default 10.
	Bins int
}

// ClickScores are one predictor's progressive figures, with 95% bootstrap
// percentile intervals.
type ClickScores struct {
	LogLoss         float64    `json:"logloss"`
	LogLossInterval [2]float64 `json:"logloss_ci95"`
	AUC             float64    `json:"auc"`
	AUCInterval     [2]float64 `json:"auc_ci95"`
	// ECE is the expected calibration error against the outcomes: over
	// equal-count bins of the predictions, the count-weighted mean of
	// |mean prediction - click rate|.
	ECE float64 `json:"ece"`
}

// ClickReport is the outcome of Clicks.
type ClickReport struct {
	Name     string  `json:"name"`
	Examples int     `json:"examples"`
	Clicks   int     `json:"clicks"`
	CTR      float64 `json:"ctr"`
	Warmup   int     `json:"warmup"`
	// Model is the FTRL click model, Base the base rate so far (clicks + 0.5
	// over examples + 1, a constant that only learns the overall rate; its
	// AUC is 0.5 by definition).
	Model ClickScores `json:"model"`
	Base  ClickScores `json:"base_rate"`
	// Gain is the base rate's log loss minus the model's, with its interval
	// from the same resamples: above 0 the model is better.
	Gain         float64    `json:"logloss_gain"`
	GainInterval [2]float64 `json:"logloss_gain_ci95"`
	// BestConstant is the log loss of the overall click rate, known only in
	// hindsight.
	BestConstant float64 `json:"best_constant_logloss"`
	// Truth holds, for a generated log, the log loss and AUC of the true
	// probabilities (the best any model can do) and the model's mean
	// absolute error against them, overall and in equal-count bins.
	Truth *TruthScores `json:"truth,omitempty"`
}

// TruthScores compare the model with the true click probabilities.
type TruthScores struct {
	LogLoss float64 `json:"logloss"`
	AUC     float64 `json:"auc"`
	// MAE is the mean |prediction - true probability|, and MeanP the mean
	// true probability, for scale.
	MAE   float64 `json:"mae"`
	MeanP float64 `json:"mean_p"`
	// ECE is the count-weighted mean, over equal-count bins of the
	// predictions, of |mean prediction - mean true probability|.
	ECE float64 `json:"ece"`
}

// Clicks learns from the examples in order with a fresh click model, scoring
// each before learning from it (progressive validation), and compares the
// model with the base rate.
func Clicks(name string, examples []ClickExample, opts ClickOptions) (*ClickReport, error) {
	if opts.Model.Bits == 0 {
		opts.Model.Bits = 18
	}
	if opts.Bootstrap <= 0 {
		opts.Bootstrap = 1000
	}
	if opts.Bins <= 0 {
		opts.Bins = 10
	}
	if opts.Warmup < 0 || opts.Warmup >= len(examples) {
		return nil, fmt.Errorf("eval: warm-up %d leaves none of %d examples", opts.Warmup, len(examples))
	}
	m, err := model.Open(nil, opts.Model, nil)
	if err != nil {
		return nil, err
	}
	n := len(examples) - opts.Warmup
	pm := make([]float64, 0, n)
	pb := make([]float64, 0, n)
	y := make([]bool, 0, n)
	truth := make([]float64, 0, n)
	known := true
	clicks := 0.0
	for i, ex := range examples {
		base := (clicks + 0.5) / (float64(i) + 1)
		p := m.Update(ex.Features, ex.Click)
		if ex.Click {
			clicks++
		}
		if i < opts.Warmup {
			continue
		}
		pm, pb, y = append(pm, p), append(pb, base), append(y, ex.Click)
		truth = append(truth, ex.P)
		known = known && !math.IsNaN(ex.P)
	}
	r := &ClickReport{Name: name, Examples: n, Warmup: opts.Warmup}
	for _, c := range y {
		if c {
			r.Clicks++
		}
	}
	r.CTR = float64(r.Clicks) / float64(n)
	r.BestConstant = logLoss(slices.Repeat([]float64{math.Max(r.CTR, 1e-9)}, n), y, nil)
	r.Model.LogLoss, r.Base.LogLoss = logLoss(pm, y, nil), logLoss(pb, y, nil)
	r.Gain = r.Base.LogLoss - r.Model.LogLoss
	order := sortedBy(pm)
	r.Model.AUC, r.Base.AUC = auc(order, pm, y, nil), 0.5
	r.Base.AUCInterval = [2]float64{0.5, 0.5}
	r.Model.ECE, r.Base.ECE = ece(pm, y, opts.Bins), ece(pb, y, opts.Bins)

	// Percentile bootstrap over examples.
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	w := make([]float64, n)
	var lm, lb, gain, am []float64
	for b := 0; b < opts.Bootstrap; b++ {
		clear(w)
		for i := 0; i < n; i++ {
			w[rng.IntN(n)]++
		}
		m, base := logLoss(pm, y, w), logLoss(pb, y, w)
		lm, lb, gain = append(lm, m), append(lb, base), append(gain, base-m)
		am = append(am, auc(order, pm, y, w))
	}
	r.Model.LogLossInterval, r.Base.LogLossInterval = percentiles(lm), percentiles(lb)
	r.GainInterval, r.Model.AUCInterval = percentiles(gain), percentiles(am)

	if known {
		t := &TruthScores{LogLoss: logLoss(truth, y, nil), AUC: auc(sortedBy(truth), truth, y, nil)}
		for i := range pm {
			t.MAE += math.Abs(pm[i] - truth[i])
			t.MeanP += truth[i]
		}
		t.MAE /= float64(n)
		t.MeanP /= float64(n)
		t.ECE = eceTruth(pm, truth, opts.Bins)
		r.Truth = t
	}
	return r, nil
}

// logLoss is the (weighted) mean log loss of predictions p for outcomes y.
func logLoss(p []float64, y []bool, w []float64) float64 {
	var sum, total float64
	for i := range p {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		q := math.Min(math.Max(p[i], 1e-15), 1-1e-15)
		if y[i] {
			sum -= wi * math.Log(q)
		} else {
			sum -= wi * math.Log(1-q)
		}
		total += wi
	}
	return sum / total
}

// sortedBy returns the indexes of p in increasing order of p.
func sortedBy(p []float64) []int {
	order := make([]int, len(p))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] < p[order[b]] })
	return order
}

// auc is the (weighted) area under the ROC curve: the chance that a random
// click is scored above a random non-click, ties counting half. order sorts
// p increasingly.
func auc(order []int, p []float64, y []bool, w []float64) float64 {
	var neg, pos, sum float64
	for i := 0; i < len(order); {
		j := i
		var tp, tn float64
		for j < len(order) && p[order[j]] == p[order[i]] {
			wi := 1.0
			if w != nil {
				wi = w[order[j]]
			}
			if y[order[j]] {
				tp += wi
			} else {
				tn += wi
			}
			j++
		}
		sum += tp * (neg + tn/2)
		neg += tn
		pos += tp
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return sum / (pos * neg)
}

// ece is the expected calibration error of p against outcomes y over
// equal-count bins of p.
func ece(p []float64, y []bool, bins int) float64 {
	order := sortedBy(p)
	var e float64
	for b := 0; b < bins; b++ {
		lo, hi := b*len(order)/bins, (b+1)*len(order)/bins
		if hi == lo {
			continue
		}
		var mp, my float64
		for _, i := range order[lo:hi] {
			mp += p[i]
			if y[i] {
				my++
			}
		}
		e += math.Abs(mp-my) / float64(len(order))
	}
	return e
}

// eceTruth is ece against the true probabilities instead of outcomes.
func eceTruth(p, truth []float64, bins int) float64 {
	order := sortedBy(p)
	var e float64
	for b := 0; b < bins; b++ {
		lo, hi := b*len(order)/bins, (b+1)*len(order)/bins
		var mp, mt float64
		for _, i := range order[lo:hi] {
			mp += p[i]
			mt += truth[i]
		}
		e += math.Abs(mp-mt) / float64(len(order))
	}
	return e
}

// percentiles returns the 2.5th and 97.5th percentiles of xs, NaNs left out.
func percentiles(xs []float64) [2]float64 {
	xs = slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	if len(xs) == 0 {
		return [2]float64{math.NaN(), math.NaN()}
	}
	slices.Sort(xs)
	at := func(q float64) float64 { return xs[int(math.Round(q*float64(len(xs)-1)))] }
	return [2]float64{at(0.025), at(0.975)}
}

// WriteTable prints the report.
func (r *ClickReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s: %d impressions, %d clicks (CTR %.4f%%)", r.Name, r.Examples, r.Clicks, 100*r.CTR)
	if r.Warmup > 0 {
		fmt.Fprintf(w, ", after a warm-up of %d", r.Warmup)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-12s %-28s %-26s %s\n", "predictor", "log loss (95% bootstrap)", "AUC (95% bootstrap)", "ECE")
	row := func(name string, s ClickScores) {
		fmt.Fprintf(w, "  %-12s %.5f (%.5f–%.5f)    %.4f (%.4f–%.4f)   %.5f\n", name, s.LogLoss, s.LogLossInterval[0],
			s.LogLossInterval[1], s.AUC, s.AUCInterval[0], s.AUCInterval[1], s.ECE)
	}
	row("click model", r.Model)
	row("base rate", r.Base)
	fmt.Fprintf(w, "  log loss gain over the base rate: %.5f (%.5f–%.5f); best constant in hindsight: %.5f\n",
		r.Gain, r.GainInterval[0], r.GainInterval[1], r.BestConstant)
	if t := r.Truth; t != nil {
		fmt.Fprintf(w, "  true probabilities: log loss %.5f, AUC %.4f; model vs truth: mean |error| %.5f (mean p %.4f), binned calibration error %.5f\n",
			t.LogLoss, t.AUC, t.MAE, t.MeanP, t.ECE)
	}
	return nil
}

// WriteClickJSON writes the reports as indented JSON.
func WriteClickJSON(w io.Writer, reports []*ClickReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}

// OpenBanditExamples turns logged Open Bandit rows of one campaign into
// click-model examples: the user's four categorical features, the item and
// its three categorical features and numeric one, the position, the
// user-item affinity, and each user feature crossed with the item.
func OpenBanditExamples(campaign string, rows []datasets.BanditRow) []ClickExample {
	out := make([]ClickExample, 0, len(rows))
	ns := model.NS("obd").Str(campaign)
	for _, r := range rows {
		item := ns.Str("item").Int(int64(r.Item))
		x := []model.Feature{model.Bias, item.Feature(1), ns.Str("pos").Int(int64(r.Position)).Feature(1),
			ns.Str("item_num").Feature(float32(r.ItemNumeric)), ns.Str("affinity").Feature(float32(math.Log1p(math.Max(0, r.Affinity))))}
		for k, v := range r.UserFeatures {
			u := ns.Str("user").Int(int64(k)).Str(v)
			x = append(x, u.Feature(1), u.Cross(item).Feature(1))
		}
		for k, v := range r.ItemFeatures {
			x = append(x, ns.Str("item_cat").Int(int64(k)).Str(v).Feature(1))
		}
		out = append(out, ClickExample{Features: x, Click: r.Click, P: math.NaN()})
	}
	return out
}

// WorldOptions shape a generated click log. Zero fields take their defaults.
type WorldOptions struct {
	Impressions int // default 200,000
	Users       int // default 20,000
	Segments    int // user segments; default 8
	Items       int // default 1,000
	Categories  int // default 20
	Positions   int // slot positions; default 5
	Seed        uint64
}

// ClickWorld generates a click log whose click probabilities are known: the
// log-odds of a click are -4, plus an affinity of the user's segment for
// the item's category (normal, standard deviation 1), plus the item's own
// appeal (normal, 0.5), minus 0.3 per position down the slot. Each
// impression shows a random item to a random user at a random position. The
// features are those of tailor's ranker in kind: the segment, the category,
// their cross, the item and the position.
func ClickWorld(o WorldOptions) []ClickExample {
	if o.Impressions <= 0 {
		o.Impressions = 200000
	}
	if o.Users <= 0 {
		o.Users = 20000
	}
	if o.Segments <= 0 {
		o.Segments = 8
	}
	if o.Items <= 0 {
		o.Items = 1000
	}
	if o.Categories <= 0 {
		o.Categories = 20
	}
	if o.Positions <= 0 {
		o.Positions = 5
	}
	r := rand.New(rand.NewPCG(o.Seed, 0xc11c))
	affinity := make([]float64, o.Segments*o.Categories)
	for i := range affinity {
		affinity[i] = r.NormFloat64()
	}
	appeal := make([]float64, o.Items)
	category := make([]int, o.Items)
	for i := range appeal {
		appeal[i] = 0.5 * r.NormFloat64()
		category[i] = r.IntN(o.Categories)
	}
	seg := model.NS("seg")
	cat := model.NS("cat")
	out := make([]ClickExample, o.Impressions)
	for k := range out {
		u, it, pos := r.IntN(o.Users), r.IntN(o.Items), r.IntN(o.Positions)
		s, c := u%o.Segments, category[it]
		p := model.Sigmoid(-4 + affinity[s*o.Categories+c] + appeal[it] - 0.3*float64(pos))
		sh, ch := seg.Int(int64(s)), cat.Int(int64(c))
		out[k] = ClickExample{
			Features: []model.Feature{model.Bias, sh.Feature(1), ch.Feature(1), sh.Cross(ch).Feature(1),
				model.NS("item").Int(int64(it)).Feature(1), model.Position(pos)},
			Click: r.Float64() < p,
			P:     p,
		}
	}
	return out
}
