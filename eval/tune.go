package eval

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// TailorParams are the settings of tailor that Tune tries, as a baseline's
// parameters: how many of the user's latest items seed candidates, how many
// candidates each seed gives, and popularity's half-life. tailor-tuned is
// tailor with the values chosen; tailor is tailor as shipped.
var TailorParams = []Param{
	{"recent_items", 20, []float64{10, 20, 30}},
	{"per_source", 30, []float64{30, 60}},
	{"popularity_half_life_hours", 48, []float64{48, 720}},
}

// applyTailor sets p's values of TailorParams in opts.
func applyTailor(opts *Options, p Params) {
	if v, ok := p["recent_items"]; ok {
		opts.Service.Ranker.RecentItems = int(v)
	}
	if v, ok := p["per_source"]; ok {
		opts.Service.Ranker.PerSource = int(v)
	}
	if v, ok := p["popularity_half_life_hours"]; ok {
		opts.Service.Index.PopularityHalfLife = hours(v)
	}
}

// TuneOptions configures Tune. Zero fields take their defaults.
type TuneOptions struct {
	// Budget is how many settings each recommender may try: the same for
	// every one. Default 12. A grid larger than the budget is sampled
	// (seeded), the defaults always among the tries.
	Budget int
	// ScoreFrom is the share of the log's events before which nothing is
	// scored while tuning: the tries are scored on the points from there to
	// the test period. Default 0.6 (with a test period of 20%, the latest
	// quarter of the tuning period).
	ScoreFrom float64
	// Parallel is how many replays run at once. Default GOMAXPROCS.
	Parallel int
	// Progress, when set, is told of each try as it ends.
	Progress func(recommender string, try Try)
}

// Try is one setting tried and what it scored on the tuning period.
type Try struct {
	Params  Params  `json:"params"`
	HR      float64 `json:"hr"`
	MRR     float64 `json:"mrr"`
	Elapsed string  `json:"elapsed"`
}

// Choice is the setting Tune chose for a recommender, with every try.
type Choice struct {
	Recommender string `json:"recommender"`
	Params      Params `json:"params"`
	Tries       []Try  `json:"tries"`
}

// String writes p as name=value pairs in name order.
func (p Params) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, p[k])
	}
	if len(parts) == 0 {
		return "(no parameters)"
	}
	return strings.Join(parts, " ")
}

// gridOf returns the settings a recommender may try: its grid, or a seeded
// sample of budget of them with its defaults first.
func gridOf(name string, budget int) ([]Params, error) {
	var params []Param
	switch name {
	case "tailor-tuned":
		params = TailorParams
	default:
		b, ok := LookupBaseline(name)
		if !ok {
			return nil, fmt.Errorf("eval: cannot tune %q: tailor-tuned or a baseline", name)
		}
		params = b.Params
	}
	grid := (&Baseline{Params: params}).Grid()
	defaults := Params{}
	for _, p := range params {
		defaults[p.Name] = p.Default
	}
	i := slices.IndexFunc(grid, func(p Params) bool { return p.String() == defaults.String() })
	if i < 0 {
		grid = append(grid, defaults)
		i = len(grid) - 1
	}
	grid[0], grid[i] = grid[i], grid[0]
	if len(grid) > budget {
		rest := grid[1:]
		r := rand.New(rand.NewPCG(uint64(len(rest)), bootstrapSeed))
		r.Shuffle(len(rest), func(a, b int) { rest[a], rest[b] = rest[b], rest[a] })
		grid = grid[:budget]
	}
	return grid, nil
}

// Tune chooses, for each recommender opts names (tailor-tuned or a
// baseline), the setting that scores the best HR@K (then MRR@K) on the
// tuning period, trying at most to.Budget settings each. Nothing of the
// test period is replayed. Replay the test period with the choices
// (Options.Params, Options.Period = PeriodTest) to score them once.
func Tune(log *datasets.Log, opts Options, to TuneOptions) ([]Choice, error) {
	if to.Budget <= 0 {
		to.Budget = 12
	}
	if to.ScoreFrom <= 0 {
		to.ScoreFrom = 0.6
	}
	if to.Parallel <= 0 {
		to.Parallel = runtime.GOMAXPROCS(0)
	}
	type job struct {
		rec, try int
		name     string
		params   Params
	}
	choices := make([]Choice, len(opts.Recommenders))
	var jobs []job
	for r, name := range opts.Recommenders {
		grid, err := gridOf(name, to.Budget)
		if err != nil {
			return nil, err
		}
		choices[r] = Choice{Recommender: name, Tries: make([]Try, len(grid))}
		for t, p := range grid {
			jobs = append(jobs, job{rec: r, try: t, name: name, params: p})
		}
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan job)
	)
	for range to.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				o := opts
				o.Recommenders = []string{j.name}
				o.Period = PeriodTune
				o.From = max(opts.From, to.ScoreFrom)
				o.Progress = nil
				o.Params = map[string]Params{j.name: j.params}
				start := time.Now()
				rep, err := Replay(log, o)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("eval: tuning %s with %s: %w", j.name, j.params, err)
				}
				if err == nil {
					t := Try{Params: j.params, HR: rep.Results[0].HR, MRR: rep.Results[0].MRR,
						Elapsed: time.Since(start).Round(time.Millisecond).String()}
					choices[j.rec].Tries[j.try] = t
					if to.Progress != nil {
						to.Progress(j.name, t)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	for i := range choices {
		c := &choices[i]
		best := 0
		for t, try := range c.Tries {
			b := c.Tries[best]
			if try.HR > b.HR || try.HR == b.HR && try.MRR > b.MRR {
				best = t
			}
		}
		c.Params = c.Tries[best].Params
	}
	return choices, nil
}
