package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tailor-dev/tailor/datasets"
	"github.com/tailor-dev/tailor/eval"
	"github.com/tailor-dev/tailor/model"
)

const evalUsage = `usage: tailor eval DATASET [flags]

Replays a public interaction log through tailor and baselines and scores
each next-item event (HR@K, MRR@K, NDCG@10, coverage, latency):
  movielens       ml-latest-small (--in DIR)
  online-retail   Online Retail II, each customer's next purchased products (--in FILE)
  otto            OTTO sessions, JSON Lines (--in FILE)
  csv             any CSV with named columns (--in FILE --user COL --item COL --time COL [--type COL ...])
Measures the click model on a click log (progressive log loss and AUC):
  clicks open-bandit   the Open Bandit Dataset sample (--in DIR, --policy random|bts|all)
  clicks world         a generated world with known click probabilities

Run "tailor eval DATASET -h" for the flags.
`

// evalCmd runs an offline evaluation.
func evalCmd(args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Print(evalUsage)
		return flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(os.Stderr, evalUsage)
		return errors.New("eval: name a data set")
	}
	if args[0] == "clicks" {
		return evalClicks(args[1:])
	}
	name := args[0]
	fs := flag.NewFlagSet("eval "+name, flag.ContinueOnError)
	in := fs.String("in", "", "the data set's `path` (default: its folder in ../shared/datasets)")
	k := fs.Int("k", 20, "length of every list")
	ndcgAt := fs.Int("ndcg-at", 10, "cut-off of NDCG")
	recs := fs.String("recommenders", strings.Join(eval.DefaultRecommenders, ","),
		"comma-separated `list` of "+strings.Join(eval.AllRecommenders, ", "))
	repeats := fs.Bool("repeats", false, "count items a user had before as hits (default: new items only)")
	from := fs.Float64("from", 0, "share of the log replayed before scoring starts")
	skip := fs.Int("skip-first", 1, "a user's first `N` points are not scored")
	maxPoints := fs.Int("max-points", 0, "stop scoring after `N` lists (0: no limit)")
	out := fs.String("out", "", "`dir`ectory to write report.json and report.svg into")
	tmp := fs.String("tmp", "", "`dir`ectory for tailor's temporary data (default: the system's; a tmpfs such as /dev/shm is fastest)")
	quiet := fs.Bool("q", false, "no progress on stderr")
	rankerJSON := fs.String("ranker", "", "tailor's ranker settings, as `JSON` like an experiment arm's "+
		`(e.g. {"weights":{"co_visit":1.5},"recent_items":20,"sources":["co_visit","trending"]})`)
	neighbors := fs.Int("neighbors", 0, "co-visited neighbours each item keeps (0: the server's default)")
	halfLife := fs.Duration("popularity-half-life", 0, "half-life of popularity (0: the server's default)")
	protocol := fs.Bool("protocol", false, "the held-out protocol (docs/eval/protocol.md): tune every recommender on the tuning period, "+
		"then score the test period once with the settings chosen; tailor as shipped is scored beside tailor-tuned")
	period := fs.String("period", "", "score only the `tune` or `test` period (default: every point); --protocol scores test")
	testShare := fs.Float64("test-share", 0.2, "share of the log's events, the latest, in the test period")
	budget := fs.Int("budget", 12, "settings each recommender may try when tuning (the same for all)")
	var cols datasets.Columns
	fs.StringVar(&cols.User, "user", "", "csv: the user `column`")
	fs.StringVar(&cols.Item, "item", "", "csv: the item `column`")
	fs.StringVar(&cols.Time, "time", "", "csv: the time `column` (epoch s or ms, RFC 3339, 2006-01-02 15:04:05)")
	fs.StringVar(&cols.Type, "type", "", "csv: the event type `column` (view, click, cart, purchase and synonyms)")
	fs.StringVar(&cols.Session, "session", "", "csv: the session or basket `column`")
	fs.StringVar(&cols.Amount, "amount", "", "csv: the purchase value `column`")
	fs.StringVar(&cols.Category, "category", "", "csv: the item category path `column`")
	fs.StringVar(&cols.CategorySep, "category-sep", "/", "csv: the `separator` of category levels")
	fs.StringVar(&cols.Title, "title", "", "csv: the item title `column`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var log *datasets.Log
	var err error
	switch name {
	case "movielens":
		log, err = datasets.ReadMovieLens(orDefault(*in, datasets.DefaultMovieLensDir))
	case "online-retail", "online-retail-ii":
		log, err = datasets.ReadOnlineRetailLog(orDefault(*in, datasets.DefaultOnlineRetailPath))
	case "otto":
		log, err = datasets.ReadOTTO(orDefault(*in, datasets.DefaultOTTOPath))
	case "csv":
		if *in == "" {
			return errors.New("eval csv: --in is required")
		}
		log, err = datasets.ReadCSV(*in, cols)
	default:
		fmt.Fprint(os.Stderr, evalUsage)
		return fmt.Errorf("eval: unknown data set %q", name)
	}
	if err != nil {
		return err
	}
	opts := eval.Options{K: *k, NDCGAt: *ndcgAt, Repeats: *repeats, From: *from, SkipFirst: *skip, MaxPoints: *maxPoints,
		Recommenders: strings.Split(*recs, ","), TempDir: *tmp}
	if opts.Service.Ranker, err = rankerOptions(*rankerJSON); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	opts.Service.Index.NeighborsKept = *neighbors
	opts.Service.Index.PopularityHalfLife = *halfLife
	if opts.SkipFirst == 0 {
		opts.SkipFirst = -1 // score every point
	}
	if !*quiet {
		opts.Progress = func(done, total int) { fmt.Fprintf(os.Stderr, "\r%d/%d events", done, total) }
	}
	opts.Period, opts.TestShare = eval.Period(*period), *testShare
	if opts.Period != eval.PeriodAll && opts.Period != eval.PeriodTune && opts.Period != eval.PeriodTest {
		return fmt.Errorf("eval: --period %q: tune or test", *period)
	}
	var tuned []eval.Choice
	if *protocol {
		if tuned, err = tune(log, opts, *budget, *quiet); err != nil {
			return err
		}
		opts.Period = eval.PeriodTest
		if !slices.Contains(opts.Recommenders, "tailor-tuned") {
			opts.Recommenders = append(opts.Recommenders, "tailor-tuned")
		}
		opts.Params = map[string]eval.Params{}
		for _, c := range tuned {
			opts.Params[c.Recommender] = c.Params
		}
	}
	rep, err := eval.Replay(log, opts)
	if !*quiet {
		fmt.Fprintln(os.Stderr)
	}
	if err == nil {
		rep.Tuned = tuned
	}
	if err != nil {
		return err
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	return writeReport(*out, rep.WriteJSON, rep.WriteSVG)
}

// tune chooses the settings of every recommender of opts that has any
// (tailor as shipped, tailor-learned and tailor-fixed keep theirs;
// tailor-tuned is added)
// on the tuning period, with the same budget of tries for each.
func tune(log *datasets.Log, opts eval.Options, budget int, quiet bool) ([]eval.Choice, error) {
	var names []string
	for _, n := range opts.Recommenders {
		if _, ok := eval.LookupBaseline(n); ok {
			names = append(names, n)
		}
	}
	names = append(names, "tailor-tuned")
	to := eval.TuneOptions{Budget: budget}
	if !quiet {
		to.Progress = func(name string, t eval.Try) {
			fmt.Fprintf(os.Stderr, "tune %-18s %-60s HR %.4f MRR %.4f (%s)\n", name, t.Params, t.HR, t.MRR, t.Elapsed)
		}
	}
	o := opts
	o.Recommenders, o.Progress = names, nil
	return eval.Tune(log, o, to)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeReport writes report.json and report.svg into dir, when given.
func writeReport(dir string, writeJSON, writeSVG func(io.Writer) error) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{"report.json", writeJSON}, {"report.svg", writeSVG}} {
		if f.write == nil {
			continue
		}
		file, err := os.Create(filepath.Join(dir, f.name))
		if err != nil {
			return err
		}
		err = f.write(file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Println("wrote", filepath.Join(dir, f.name))
	}
	return nil
}

// evalClicks measures the click model on a click log.
func evalClicks(args []string) error {
	if len(args) == 0 || (args[0] != "open-bandit" && args[0] != "world") {
		fmt.Fprint(os.Stderr, evalUsage)
		return errors.New("eval clicks: open-bandit or world")
	}
	fs := flag.NewFlagSet("eval clicks "+args[0], flag.ContinueOnError)
	in := fs.String("in", datasets.DefaultOpenBanditDir, "open-bandit: the data set's `dir`ectory")
	policy := fs.String("policy", "random", "open-bandit: the logging policy's files to use: random, bts or all")
	boot := fs.Int("bootstrap", 1000, "bootstrap resamples behind each interval")
	seed := fs.Uint64("seed", 1, "seed of the bootstrap and of the generated world")
	impressions := fs.Int("impressions", 200000, "world: impressions to generate")
	warmup := fs.Int("warmup", -1, "examples learned from but left out of the figures (default: none for open-bandit, 10% for world)")
	bits := fs.Int("bits", 18, "hash bits of the click model")
	alpha := fs.Float64("alpha", 0, "FTRL alpha (0: the model's default)")
	l1 := fs.Float64("l1", 0, "FTRL L1 (0: the model's default)")
	l2 := fs.Float64("l2", 0, "FTRL L2 (0: the model's default)")
	out := fs.String("out", "", "`dir`ectory to write report.json into")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	opts := eval.ClickOptions{Bootstrap: *boot, Seed: *seed, Warmup: max(*warmup, 0),
		Model: model.Options{Bits: uint8(*bits), Alpha: *alpha, L1: *l1, L2: *l2}}
	type set struct {
		name     string
		examples []eval.ClickExample
	}
	var sets []set
	switch args[0] {
	case "open-bandit":
		var policies []string
		switch *policy {
		case "random", "bts":
			policies = []string{*policy}
		case "all":
			policies = []string{"random", "bts"}
		default:
			return fmt.Errorf("eval clicks: --policy %q: random, bts or all", *policy)
		}
		var all []eval.ClickExample
		for _, p := range policies {
			for _, c := range []string{"men", "women"} {
				rows, err := datasets.ReadOpenBandit(filepath.Join(*in, p, c))
				if err != nil {
					return err
				}
				ex := eval.OpenBanditExamples(c, rows)
				sets = append(sets, set{p + "/" + c, ex})
				all = append(all, ex...)
			}
		}
		sets = append(sets, set{"open-bandit " + *policy + " (all campaigns, one model)", all})
	case "world":
		ex := eval.ClickWorld(eval.WorldOptions{Impressions: *impressions, Seed: *seed})
		if *warmup < 0 {
			opts.Warmup = len(ex) / 10
		}
		sets = append(sets, set{fmt.Sprintf("generated world (seed %d)", *seed), ex})
	}
	var reports []*eval.ClickReport
	for _, s := range sets {
		r, err := eval.Clicks(s.name, s.examples, opts)
		if err != nil {
			return err
		}
		r.WriteTable(os.Stdout)
		reports = append(reports, r)
	}
	return writeReport(*out, func(w io.Writer) error { return eval.WriteClickJSON(w, reports) }, nil)
}
