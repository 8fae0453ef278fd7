package eval

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// Param is a baseline's parameter: its name, its default and the values
// worth trying when tuning it.
type Param struct {
	Name    string    // as Params key it, snake_case
	Default float64   // the value taken when Params do not set it
	Grid    []float64 // the values a tuning tries
}

// Params overrides parameters by name; the missing take their defaults.
type Params map[string]float64

// Baseline is a recommender Replay measures next to tailor, with its
// parameters.
type Baseline struct {
	Name   string  // as Options.Recommenders names it
	Params []Param // its tunable parameters

	// build makes the recommender from p, which holds every parameter.
	build func(l *datasets.Log, opts *Options, p Params) Recommender
}

// Baselines are the baselines Replay knows. Each one follows the rules
// every baseline shares (see baselines.go): the user's context across
// sessions, a moment's items tied, seen items excluded, lists completed
// with a 48-hour half-life popularity. The grids multiply out to at most
// 12 settings each.
var Baselines = []Baseline{
	{Name: "popularity", build: func(l *datasets.Log, _ *Options, _ Params) Recommender {
		return newPopularity("popularity", l, PopularityOptions{})
	}},
	{Name: "popularity-decayed", Params: []Param{
		{"half_life_hours", 48, []float64{6, 12, 24, 48, 96, 168, 336, 720, 2000, 8760}},
	}, build: func(l *datasets.Log, _ *Options, p Params) Recommender {
		return newPopularity("popularity-decayed", l, PopularityOptions{HalfLife: hours(p["half_life_hours"])})
	}},
	{Name: "covisit", Params: []Param{
		{"window", 5, []float64{2, 5, 10}},
		{"context", 1, []float64{1, 3, 5, 10}},
	}, build: func(l *datasets.Log, o *Options, p Params) Recommender {
		return newCovisit(l, o.SessionGap, CovisitOptions{Window: int(p["window"]), Context: int(p["context"])})
	}},
	{Name: "sr", Params: []Param{
		{"max_step", 10, []float64{5, 10}},
		{"pruning", 20, []float64{20}},
		{"context", 1, []float64{1, 3, 5}},
		{"across_sessions", 0, []float64{0, 1}},
	}, build: func(l *datasets.Log, o *Options, p Params) Recommender {
		return newSR(l, o.SessionGap, SROptions{MaxStep: int(p["max_step"]), Pruning: int(p["pruning"]),
			Context: int(p["context"]), AcrossSessions: p["across_sessions"] != 0})
	}},
	{Name: "iknn", Params: []Param{
		{"neighbors", 100, []float64{100}},
		{"shrink", 20, []float64{5, 20}},
		{"context", 1, []float64{1, 3, 5}},
		{"by_user", 0, []float64{0, 1}},
	}, build: func(l *datasets.Log, o *Options, p Params) Recommender {
		return newIKNN(l, o.SessionGap, IKNNOptions{Neighbors: int(p["neighbors"]), Shrink: p["shrink"],
			Context: int(p["context"]), ByUser: p["by_user"] != 0})
	}},
	{Name: "vsknn", Params: []Param{
		{"neighbors", 100, []float64{50, 100, 500}},
		{"sample", 1000, []float64{1000}},
		{"context", 20, []float64{5, 10, 20, 50}},
	}, build: func(l *datasets.Log, o *Options, p Params) Recommender {
		return newVSKNN(l, o.SessionGap, VSKNNOptions{Neighbors: int(p["neighbors"]), Sample: int(p["sample"]), Context: int(p["context"])})
	}},
	{Name: "stan", Params: []Param{
		{"neighbors", 1500, []float64{1500}},
		{"sample", 5000, []float64{5000}},
		{"lambda1", 1.02, []float64{1.02, 4.1}},
		{"lambda2_days", 5, []float64{5, 100}},
		{"lambda3", 2.05, []float64{2.05}},
		{"context", 20, []float64{10, 20, 50}},
	}, build: func(l *datasets.Log, o *Options, p Params) Recommender {
		return newSTAN(l, o.SessionGap, STANOptions{Neighbors: int(p["neighbors"]), Sample: int(p["sample"]),
			Lambda1: p["lambda1"], Lambda2: hours(24 * p["lambda2_days"]), Lambda3: p["lambda3"], Context: int(p["context"])})
	}},
	{Name: "als", Params: []Param{
		{"factors", 64, []float64{32, 64, 128}},
		{"alpha", 40, []float64{10, 40}},
		{"lambda", 0.1, []float64{0.1, 10}},
		{"every", 2000, []float64{2000}},
		{"iterations", 3, []float64{3}},
		{"cg_steps", 3, []float64{3}},
		{"seed", 1, []float64{1}},
	}, build: func(l *datasets.Log, _ *Options, p Params) Recommender {
		return newALS(l, ALSOptions{Factors: int(p["factors"]), Alpha: p["alpha"], Lambda: p["lambda"], Every: int(p["every"]),
			Iterations: int(p["iterations"]), CGSteps: int(p["cg_steps"]), Seed: uint64(p["seed"])})
	}},
}

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }

// LookupBaseline returns the baseline of that name.
func LookupBaseline(name string) (*Baseline, bool) {
	i := slices.IndexFunc(Baselines, func(b Baseline) bool { return b.Name == name })
	if i < 0 {
		return nil, false
	}
	return &Baselines[i], true
}

// New makes the baseline for a replay of l with opts (their defaults set,
// as Replay sets them), its parameters the defaults overridden by p.
func (b *Baseline) New(l *datasets.Log, opts *Options, p Params) (Recommender, error) {
	all := Params{}
	for _, par := range b.Params {
		all[par.Name] = par.Default
	}
	for name, v := range p {
		if _, ok := all[name]; !ok {
			return nil, fmt.Errorf("eval: %s has no parameter %q", b.Name, name)
		}
		all[name] = v
	}
	return b.build(l, opts, all), nil
}

// Grid returns every combination of the parameters' grid values, the
// first parameter varying slowest.
func (b *Baseline) Grid() []Params {
	out := []Params{{}}
	for _, par := range b.Params {
		var next []Params
		for _, p := range out {
			for _, v := range par.Grid {
				q := Params{par.Name: v}
				for k, x := range p {
					q[k] = x
				}
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

func baselineNames() []string {
	var names []string
	for _, b := range Baselines {
		names = append(names, b.Name)
	}
	return names
}

func newRecommender(name string, log *datasets.Log, opts *Options) (Recommender, error) {
	switch name {
	case "tailor":
		return newTailor(name, log, opts, false)
	case "tailor-learned":
		return newTailor(name, log, opts, true)
	case "tailor-fixed":
		o := *opts
		o.Service.Tuning.Disabled = true
		return newTailor(name, log, &o, false)
	case "tailor-tuned":
		o := *opts
		for k := range opts.Params[name] {
			if !slices.ContainsFunc(TailorParams, func(p Param) bool { return p.Name == k }) {
				return nil, fmt.Errorf("eval: tailor-tuned has no parameter %q", k)
			}
		}
		applyTailor(&o, opts.Params[name])
		return newTailor(name, log, &o, false)
	}
	if b, ok := LookupBaseline(name); ok {
		return b.New(log, opts, opts.Params[name])
	}
	return nil, fmt.Errorf("eval: no recommender %q (one of %s)", name, strings.Join(AllRecommenders, ", "))
}
