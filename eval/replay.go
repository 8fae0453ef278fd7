package eval

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tailor-dev/tailor/datasets"
	"github.com/tailor-dev/tailor/service"
)

// Options configures Replay. Zero fields take their defaults.
type Options struct {
	// K is the length of every list asked for. Default 20.
	K int
	// NDCGAt is the cut-off of NDCG. Default 10.
	NDCGAt int
	// SkipFirst is how many of a user's first points (groups of events, see
	// Replay) are revealed without being scored. Default 1: a user's first
	// event has nothing personal to go on.
	SkipFirst int
	// From is the share of the log's events replayed before scoring starts,
	// in [0, 1). Default 0: score from the start.
	From float64
	// Repeats counts an item the user already had as a hit when they have it
	// again, and lets recommenders propose such items. Default false: only
	// items new to the user are targets, and the items a user had are
	// excluded from every list.
	Repeats bool
	// MaxPoints stops scoring after so many points (the replay goes on to
	// the end of the log). Default 0: no limit.
	MaxPoints int
	// Recommenders are the recommenders to measure, by name: tailor,
	// tailor-learned (its click model learning too), tailor-fixed (its
	// weights kept as set), tailor-tuned or one of Baselines. Default tailor
	// and the baselines.
	Recommenders []string
	// Params overrides baselines' parameters, by baseline name (see
	// Baselines), and tailor-tuned's (see TailorParams). Default none: every
	// baseline takes its defaults.
	Params map[string]Params
	// Period is the part of the log scored: PeriodAll (every point from
	// From on, the default), PeriodTune (the points before the test period;
	// the replay stops where it begins) or PeriodTest (the points of the
	// test period).
	Period Period
	// TestShare is the share of the log's events, the latest, that make the
	// test period. Default 0.2.
	TestShare float64
	// SessionGap splits a user's events into sessions where the log gives
	// none: a gap longer than this starts a new one. Default 30 minutes.
	SessionGap time.Duration
	// TempDir is where tailor's temporary data directories go. Default the
	// system's temporary directory.
	TempDir string
	// Service holds the options of the tailor under test (ranker weights
	// and sources, index sizes, ...); the replay sets its clock, logger and
	// learning.
	Service service.Options
	// Progress, when set, is called now and then with the events replayed
	// and the total.
	Progress func(done, total int)

	extra []Recommender // measured too, for tests
}

// preparer is a recommender with work to do before it is asked, work that
// is not its answer's latency (tailor ingests the events buffered since its
// last answer).
type preparer interface {
	prepare(q *Query) error
}

// Period names a part of a log's points.
type Period string

// The periods of the protocol (see docs/eval/protocol.md).
const (
	PeriodAll  Period = ""     // every point
	PeriodTune Period = "tune" // the points before the test period
	PeriodTest Period = "test" // the points of the last TestShare of the log
)

func (o *Options) setDefaults() {
	if o.TestShare <= 0 || o.TestShare >= 1 {
		o.TestShare = 0.2
	}
	if o.K <= 0 {
		o.K = 20
	}
	if o.NDCGAt <= 0 || o.NDCGAt > o.K {
		o.NDCGAt = min(10, o.K)
	}
	if o.SkipFirst == 0 {
		o.SkipFirst = 1
	}
	if o.SkipFirst < 0 {
		o.SkipFirst = 0
	}
	if len(o.Recommenders) == 0 {
		o.Recommenders = DefaultRecommenders
	}
	if o.SessionGap <= 0 {
		o.SessionGap = 30 * time.Minute
	}
}

// DefaultRecommenders are measured when Options.Recommenders is empty:
// tailor and every baseline.
var DefaultRecommenders = append([]string{"tailor"}, baselineNames()...)

// AllRecommenders names every recommender Replay knows.
var AllRecommenders = append([]string{"tailor", "tailor-learned", "tailor-fixed", "tailor-tuned"}, baselineNames()...)

// Query is what a recommender is asked at a point.
type Query struct {
	User string
	TS   int64 // Unix milliseconds
	K    int
	// Seen are the user's distinct items so far, oldest first, and SeenSet
	// the same as a set. A recommender excludes them unless Repeats.
	Seen    []string
	SeenSet map[string]struct{}
	Repeats bool
}

// Recommender is one of the systems a replay measures.
type Recommender interface {
	Name() string
	// Recommend returns up to q.K items for q.User at q.TS, best first.
	Recommend(q *Query) ([]string, error)
	// Observe reveals the events of one point, after every recommender has
	// been asked about it (q is that query, nil when the point was not
	// scored, and list the answer).
	Observe(events []datasets.Interaction, q *Query, list []string) error
	Close() error
}

// Replay replays log through the recommenders opts names and scores them.
//
// The log's events are taken in time order and grouped into points: a run
// of consecutive events of one user with the same session and time (one
// rating; one invoice's lines). Before a point is revealed, each recommender
// is asked for its top K for the user; the point's items (those new to the
// user, unless Repeats) are the targets the list is scored against. Then
// the point's events are revealed to every recommender.
func Replay(log *datasets.Log, opts Options) (*Report, error) {
	opts.setDefaults()
	if len(log.Events) == 0 {
		return nil, errors.New("eval: the log has no events")
	}
	var recs []Recommender
	defer func() {
		for _, r := range recs {
			r.Close()
		}
	}()
	for _, name := range opts.Recommenders {
		r, err := newRecommender(name, log, &opts)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	recs = append(recs, opts.extra...)
	users, items, _ := log.Stats()
	rep := &Report{Dataset: log.Name, Events: len(log.Events), Users: users, Items: len(log.Items), ItemsWithEvents: items,
		K: opts.K, NDCGAt: opts.NDCGAt, Repeats: opts.Repeats, SkipFirst: opts.SkipFirst, From: opts.From, Period: opts.Period}
	// The test period starts at the time of the first of its events, so that
	// a point (one moment of one user) is never split between periods.
	splitTS := log.Events[len(log.Events)-max(1, int(opts.TestShare*float64(len(log.Events))))].TS
	if opts.Period != PeriodAll {
		rep.TestShare = opts.TestShare
		rep.TestFrom = time.UnixMilli(splitTS).UTC().Format(time.RFC3339)
	}
	userOrd := map[string]int{} // the users scored, numbered for the bootstrap
	acc := make([]*accumulator, len(recs))
	for i, r := range recs {
		acc[i] = newAccumulator(r.Name(), opts.K, opts.NDCGAt)
	}
	type userState struct {
		seen   []string
		set    map[string]struct{}
		points int
	}
	state := map[string]*userState{}
	from := int(opts.From * float64(len(log.Events)))
	start := time.Now()
	lists := make([][]string, len(recs))
	var targets []string
	q := &Query{K: opts.K, Repeats: opts.Repeats}
	for i := 0; i < len(log.Events); {
		j := i + 1
		first := &log.Events[i]
		for j < len(log.Events) && log.Events[j].User == first.User && log.Events[j].Session == first.Session && log.Events[j].TS == first.TS {
			j++
		}
		events := log.Events[i:j]
		inTest := first.TS >= splitTS
		if opts.Period == PeriodTune && inTest {
			break
		}
		us := state[first.User]
		if us == nil {
			us = &userState{set: map[string]struct{}{}}
			state[first.User] = us
		}
		targets = targets[:0]
		for _, e := range events {
			if _, had := us.set[e.Item]; (opts.Repeats || !had) && !slices.Contains(targets, e.Item) {
				targets = append(targets, e.Item)
			}
		}
		scored := i >= from && us.points >= opts.SkipFirst && len(targets) > 0 &&
			(opts.MaxPoints == 0 || rep.Points < opts.MaxPoints) && (opts.Period != PeriodTest || inTest)
		var query *Query
		if scored {
			*q = Query{User: first.User, TS: first.TS, K: opts.K, Seen: us.seen, SeenSet: us.set, Repeats: opts.Repeats}
			query = q
			u, ok := userOrd[first.User]
			if !ok {
				u = len(userOrd)
				userOrd[first.User] = u
			}
			for r, rec := range recs {
				if p, ok := rec.(preparer); ok {
					if err := p.prepare(q); err != nil {
						return nil, fmt.Errorf("eval: %s: %w", rec.Name(), err)
					}
				}
				t0 := time.Now()
				list, err := rec.Recommend(q)
				if err != nil {
					return nil, fmt.Errorf("eval: %s: %w", rec.Name(), err)
				}
				acc[r].latency = append(acc[r].latency, time.Since(t0))
				if len(list) > opts.K {
					list = list[:opts.K]
				}
				acc[r].score(list, targets, u)
				lists[r] = list
			}
			rep.Points++
			rep.Targets += len(targets)
		}
		for r, rec := range recs {
			var list []string
			if scored {
				list = lists[r]
			}
			if err := rec.Observe(events, query, list); err != nil {
				return nil, fmt.Errorf("eval: %s: %w", rec.Name(), err)
			}
		}
		for _, e := range events {
			if _, had := us.set[e.Item]; !had {
				us.set[e.Item] = struct{}{}
				us.seen = append(us.seen, e.Item)
			}
		}
		us.points++
		if opts.Progress != nil && (j/10000 != i/10000 || j == len(log.Events)) {
			opts.Progress(j, len(log.Events))
		}
		i = j
	}
	rep.Elapsed = time.Since(start).Round(time.Millisecond).String()
	draws := resamples(len(userOrd))
	var hr0, mrr0 []float64
	for i, a := range acc {
		res := a.result(len(log.Items))
		hr, mrr := ratios(a.users(len(userOrd)), draws)
		res.HRInterval, res.MRRInterval = percentile95(hr), percentile95(mrr)
		if i == 0 {
			hr0, mrr0 = hr, mrr
		} else {
			rep.Lifts = append(rep.Lifts, Lift{Of: acc[0].name, Over: a.name, HR: lift(hr0, hr), MRR: lift(mrr0, mrr)})
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// accumulator sums one recommender's metrics.
type accumulator struct {
	name       string
	k, ndcgAt  int
	targets    int
	hitsAt     []float64 // hitsAt[k-1]: targets found in the top k
	dcgAt      []float64 // dcgAt[k-1]: their DCG with cut-off k
	rr         float64
	recommend  map[string]struct{}
	latency    []time.Duration
	empty      int
	listLength int
	perUser    []userSums // by the user's number in the replay
}

// users returns the per-user sums of the n users scored.
func (a *accumulator) users(n int) []userSums {
	for len(a.perUser) < n {
		a.perUser = append(a.perUser, userSums{})
	}
	return a.perUser
}

func newAccumulator(name string, k, ndcgAt int) *accumulator {
	return &accumulator{name: name, k: k, ndcgAt: ndcgAt, hitsAt: make([]float64, k), dcgAt: make([]float64, k),
		recommend: map[string]struct{}{}}
}

// score counts list against targets. Each target is scored on its own (a
// basket of three new items is three chances), with a single relevant item,
// so its ideal DCG is 1.
func (a *accumulator) score(list, targets []string, user int) {
	us := &a.users(user + 1)[user]
	if len(list) == 0 {
		a.empty++
	}
	a.listLength += len(list)
	for _, it := range list {
		a.recommend[it] = struct{}{}
	}
	for _, t := range targets {
		a.targets++
		us.targets++
		rank := slices.Index(list, t)
		if rank < 0 {
			continue
		}
		if rank < a.k {
			us.hits++
		}
		us.rr += 1 / float64(rank+1)
		a.rr += 1 / float64(rank+1)
		gain := 1 / math.Log2(float64(rank+2))
		for k := rank; k < a.k; k++ {
			a.hitsAt[k]++
			a.dcgAt[k] += gain
		}
	}
}

func (a *accumulator) result(catalog int) Result {
	r := Result{Name: a.name, Targets: a.targets}
	n := float64(max(a.targets, 1))
	r.HRAt = make([]float64, a.k)
	r.NDCGAt = make([]float64, a.k)
	for k := range a.hitsAt {
		r.HRAt[k] = a.hitsAt[k] / n
		r.NDCGAt[k] = a.dcgAt[k] / n
	}
	r.HR = r.HRAt[a.k-1]
	r.MRR = a.rr / n
	r.NDCG = r.NDCGAt[a.ndcgAt-1]
	if catalog > 0 {
		r.Coverage = float64(len(a.recommend)) / float64(catalog)
	}
	if len(a.latency) > 0 {
		slices.Sort(a.latency)
		var sum time.Duration
		for _, d := range a.latency {
			sum += d
		}
		us := func(d time.Duration) float64 { return math.Round(float64(d.Nanoseconds())/100) / 10 }
		r.LatencyMeanUS = us(sum / time.Duration(len(a.latency)))
		r.LatencyP50US = us(a.latency[len(a.latency)/2])
		r.LatencyP99US = us(a.latency[int(0.99*float64(len(a.latency)-1))])
	}
	if a.listLength > 0 && len(a.latency) > 0 {
		r.MeanListLength = float64(a.listLength) / float64(len(a.latency))
	}
	r.EmptyLists = a.empty
	return r
}
