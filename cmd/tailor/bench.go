package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/tailor-dev/tailor/bench"
)

const benchUsage = `tailor bench: synthetic worlds, open-loop load, latency reports

Usage:
  tailor bench gen --out DIR [--items N] [--users N] [--campaigns N] [--seed S]
  tailor bench load --target URL --world DIR
  tailor bench run --target URL --world DIR [--rate R] [--duration D] [--mix recommend=70,events=20,bid=10] [--out DIR]
  tailor bench sweep --target URL --world DIR [--from R] [--step R] [--slo 5ms[,events=off]] [--out DIR]
  tailor bench compare A/result.json B/result.json
  tailor bench self

Run "tailor bench COMMAND -h" for a command's flags.
`

func benchCmd(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, benchUsage)
		return errors.New("bench: missing command")
	}
	switch cmd, args := args[0], args[1:]; cmd {
	case "gen":
		return benchGen(args)
	case "load":
		return benchLoad(args)
	case "run":
		return benchRun(args)
	case "sweep":
		return benchSweep(args)
	case "compare":
		return benchCompare(args)
	case "self":
		return benchSelf(args)
	case "floor":
		return benchFloor(args)
	case "help", "-h", "--help":
		fmt.Print(benchUsage)
		return nil
	default:
		fmt.Fprint(os.Stderr, benchUsage)
		return fmt.Errorf("bench: unknown command %q", cmd)
	}
}

func benchGen(args []string) error {
	fs := flag.NewFlagSet("bench gen", flag.ContinueOnError)
	out := fs.String("out", "", "world `DIR`ectory to write (required)")
	items := fs.Int("items", 100000, "catalog items")
	users := fs.Int("users", 100000, "users with a history")
	campaigns := fs.Int("campaigns", 1000, "advertising campaigns")
	bodies := fs.Int("bodies", 10000, "request bodies of each kind (recommend, events, bid)")
	seed := fs.Int64("seed", 1, "seed of every random choice")
	start := fs.String("start", "", "`DATE` (2006-01-02 or RFC 3339) of the earliest history event; default --days before today, so the history ends now")
	days := fs.Int("days", 30, "days of history")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("bench gen: --out is required")
	}
	opts := bench.GenOptions{Items: *items, Users: *users, Campaigns: *campaigns, Bodies: *bodies, Seed: *seed, Days: *days}
	if *start != "" {
		t, err := parseDate(*start)
		if err != nil {
			return err
		}
		opts.Start = t
	}
	t0 := time.Now()
	m, err := bench.Gen(*out, opts)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s in %v: %d items, %d users, %d history events from %s, %d campaigns, %d request bodies of each kind (seed %d)\n",
		*out, time.Since(t0).Round(100*time.Millisecond), m.Items, m.Users, m.Events, m.Start.Format("2006-01-02"), m.Campaigns, m.Bodies, m.Seed)
	fmt.Printf("to reproduce it byte for byte: tailor bench gen --out %s --items %d --users %d --campaigns %d --bodies %d --seed %d --start %s --days %d\n",
		*out, m.Items, m.Users, m.Campaigns, m.Bodies, m.Seed, m.Start.Format("2006-01-02"), m.Days)
	return nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: --start: want 2006-01-02 or RFC 3339, got %q", s)
	}
	return t, nil
}

func benchLoad(args []string) error {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	target := fs.String("target", "http://127.0.0.1:8080", "server base `URL`")
	admin := fs.String("admin-target", "", "base `URL` of the server's admin listener (serve --admin-addr), for the catalog and campaigns (default: --target)")
	world := fs.String("world", "", "world `DIR`ectory written by tailor bench gen (required)")
	conns := fs.Int("conns", 4, "requests in flight at once")
	batch := fs.Int("batch", 2000, "events per request (cut between users)")
	token := fs.String("token", "", "bearer `token` for a server with --auth (scopes admin and ingest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := openWorld(*world)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return load(ctx, w, bench.LoadOptions{Target: *target, AdminTarget: *admin, Conns: *conns, EventsBatch: *batch, Token: *token, Progress: os.Stderr})
}

func openWorld(dir string) (*bench.World, error) {
	if dir == "" {
		return nil, errors.New("bench: --world is required (create one with tailor bench gen)")
	}
	return bench.OpenWorld(dir)
}

func load(ctx context.Context, w *bench.World, opts bench.LoadOptions) error {
	st, err := bench.Load(ctx, w, opts)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d items, %d campaigns and %d events (%d already there) in %v, %d retries\n",
		st.Items, st.Campaigns, st.Events, st.Duplicates, st.Elapsed.Round(100*time.Millisecond), st.Retries)
	if st.CampaignsSkipped != "" {
		fmt.Printf("warning: campaigns not loaded: %s; bid requests will get no bids or errors\n", st.CampaignsSkipped)
	}
	return nil
}

// measureFlags are the flags run and sweep share.
type measureFlags struct {
	target, token, world, mix, out, floor, label string
	metrics                                      string
	duration, warmup, timeout, memoryEvery       time.Duration
	conns, repeat, serverPID, floorPID           int
	closed, poisson, quiet                       bool
	tolerance, waitIdle                          float64
}

func (m *measureFlags) register(fs *flag.FlagSet, duration time.Duration) {
	fs.StringVar(&m.target, "target", "http://127.0.0.1:8080", "server base `URL`")
	fs.StringVar(&m.token, "token", "", "bearer `token` for a server with --auth (scopes recommend and ingest)")
	fs.StringVar(&m.world, "world", "", "world `DIR`ectory written by tailor bench gen (required)")
	fs.StringVar(&m.mix, "mix", bench.DefaultMix, "endpoint `weights`: recommend, events, bid")
	fs.StringVar(&m.out, "out", "bench-out", "`DIR`ectory for result.json and report.html")
	fs.DurationVar(&m.duration, "duration", duration, "measured window of each run")
	fs.DurationVar(&m.warmup, "warmup", 5*time.Second, "unmeasured load before each run's window (0 for none)")
	fs.DurationVar(&m.timeout, "timeout", 5*time.Second, "bound on one request")
	fs.IntVar(&m.conns, "conns", 256, "connections (concurrent requests at most)")
	fs.IntVar(&m.repeat, "repeat", 1, "runs to make; figures are their median and range")
	fs.StringVar(&m.floor, "floor", "", "base `URL` of a trivial server (tailor bench floor) to run the same load against beside each run")
	fs.IntVar(&m.serverPID, "server-pid", 0, "server process `id`, to record its CPU time per request and its memory over the run")
	fs.DurationVar(&m.memoryEvery, "memory-every", 5*time.Second, "with --server-pid, how often the server's resident memory and Go heap are sampled")
	fs.StringVar(&m.metrics, "metrics", "", "`URL` of the server's Prometheus metrics, for its Go heap (default: the target's /metrics)")
	fs.IntVar(&m.floorPID, "floor-pid", 0, "floor server process `id`, to record its CPU time per request")
	fs.StringVar(&m.label, "label", "", "name of the result in reports and comparisons")
	fs.BoolVar(&m.closed, "closed", false, "closed loop (wait for each answer; hides stalls: for contrast only)")
	fs.BoolVar(&m.poisson, "poisson", false, "open loop with random intervals of mean 1/rate (a fixed seed) rather than exact ones")
	fs.BoolVar(&m.quiet, "quiet", false, "no progress line")
	fs.Float64Var(&m.tolerance, "tolerance", 0.02, "how far the offered rate may be from the asked rate before a run is invalid (fraction)")
	fs.Float64Var(&m.waitIdle, "wait-idle", 0, "before each run, wait (up to 2 min) until the machine's CPUs are this idle (fraction, e.g. 0.9); for shared machines")
}

func (m *measureFlags) options(rate float64) (bench.Options, bench.Workload, error) {
	mix, err := bench.ParseMix(m.mix)
	if err != nil {
		return bench.Options{}, nil, err
	}
	w, err := openWorld(m.world)
	if err != nil {
		return bench.Options{}, nil, err
	}
	wl, err := w.Workload(mix)
	if err != nil {
		return bench.Options{}, nil, err
	}
	warmup := m.warmup
	if warmup == 0 {
		warmup = -1
	}
	var progress io.Writer = os.Stderr
	if m.quiet {
		progress = nil
	}
	return bench.Options{
		RunOptions: bench.RunOptions{
			Target: m.target, Token: m.token, Rate: rate, Duration: m.duration, Warmup: warmup, Mix: mix, Conns: m.conns,
			Timeout: m.timeout, Closed: m.closed, Poisson: m.poisson, Tolerance: m.tolerance, WaitIdle: m.waitIdle, ServerPID: m.serverPID, MemoryEvery: m.memoryEvery, MetricsURL: m.metrics, Progress: progress,
		},
		Repeat: m.repeat, FloorTarget: m.floor, FloorPID: m.floorPID, Label: m.label, World: &w.Manifest,
	}, wl, nil
}

var errInvalid = errors.New("bench: the result is invalid (see above)")

func benchRun(args []string) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	var m measureFlags
	m.register(fs, 30*time.Second)
	rate := fs.Float64("rate", 1000, "arrival rate, requests per second over all endpoints")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, wl, err := m.options(*rate)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Measure(ctx, wl, opts)
	if err != nil {
		return err
	}
	return report(m.out, res)
}

// report prints the summary of res and writes its files into dir.
func report(dir string, res *bench.Result) error {
	if err := bench.WriteSummary(os.Stdout, res); err != nil {
		return err
	}
	if err := bench.WriteResult(dir, res); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(dir, "result.json"), filepath.Join(dir, "report.html"))
	if !res.Valid {
		return errInvalid
	}
	return nil
}

func benchSweep(args []string) error {
	fs := flag.NewFlagSet("bench sweep", flag.ContinueOnError)
	var m measureFlags
	m.register(fs, 20*time.Second)
	from := fs.Float64("from", 500, "first rate, requests per second")
	step := fs.Float64("step", 500, "rate increment")
	to := fs.Float64("to", 100000, "last rate")
	slo := fs.String("slo", "5ms", "p99 `bounds`: a duration for every endpoint, then endpoint=duration or endpoint=off for one of its own or none (5ms,events=off)")
	confirm := fs.Int("confirm", 0, "more `runs` for a step that does not hold, judged again by the medians over all its runs (p99 and errors)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bound, bounds, err := bench.ParseSLO(*slo)
	if err != nil {
		return err
	}
	opts, wl, err := m.options(*from)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.RunSweep(ctx, wl, bench.SweepOptions{
		Options: opts, From: *from, Step: *step, To: *to, SLO: bound, EndpointSLO: bounds, Confirm: *confirm,
		OnStep: func(rate float64, r *bench.Result) error {
			return bench.WriteResult(filepath.Join(m.out, fmt.Sprintf("rate-%g", rate)), r)
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("p99 bounds %s\n", res.Sweep)
	for _, st := range res.Sweep.Steps {
		verdict := "held"
		if !st.Held {
			verdict = "did not hold: " + st.Why
		}
		if st.Runs > 1 {
			verdict += fmt.Sprintf(" (medians of %d runs)", st.Runs)
		}
		if p := st.Pauses(); !st.Held && p != "" {
			verdict += "; " + p
		}
		fmt.Printf("%8g req/s: %s\n", st.Rate, verdict)
	}
	if err := report(m.out, res); err != nil && !errors.Is(err, errInvalid) {
		return err
	}
	if res.Sweep.Held == 0 {
		return errors.New("bench: no rate held")
	}
	return nil
}

func benchCompare(args []string) error {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("bench compare: want two result.json files: A B")
	}
	a, err := bench.ReadResult(fs.Arg(0))
	if err != nil {
		return err
	}
	b, err := bench.ReadResult(fs.Arg(1))
	if err != nil {
		return err
	}
	return bench.WriteCompare(os.Stdout, fs.Arg(0), fs.Arg(1), a, b)
}

func benchFloor(args []string) error {
	fs := flag.NewFlagSet("bench floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "`HOST:PORT` to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "tailor: floor serving on http://%s (200 {} to every request)\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	if err := bench.ServeFloor(ln); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func benchSelf(args []string) error {
	fs := flag.NewFlagSet("bench self", flag.ContinueOnError)
	items := fs.Int("items", 20000, "catalog items")
	users := fs.Int("users", 5000, "users with a history")
	campaigns := fs.Int("campaigns", 200, "advertising campaigns")
	rate := fs.Float64("rate", 500, "arrival rate, requests per second")
	duration := fs.Duration("duration", 15*time.Second, "measured window")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured load before the window")
	mixFlag := fs.String("mix", bench.DefaultMix, "endpoint `weights`")
	out := fs.String("out", "tailor-bench-self", "`DIR`ectory for result.json and report.html")
	floor := fs.Bool("floor", true, "also measure a trivial server with the same load, for ratios")
	keep := fs.Bool("keep", false, "keep the temporary data directory and world")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mix, err := bench.ParseMix(*mixFlag)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench self: cannot find this binary: %w", err)
	}
	tmp, err := os.MkdirTemp("", "tailor-bench-self-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Printf("data and world in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fmt.Printf("1/4 starting tailor serve on a temporary data directory\n")
	srv, err := startChild(exe, filepath.Join(tmp, "server.log"), "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer srv.stop()
	opts := bench.Options{
		RunOptions: bench.RunOptions{Target: srv.url, Rate: *rate, Duration: *duration, Warmup: *warmup, Mix: mix,
			ServerPID: srv.cmd.Process.Pid, Progress: os.Stderr},
		Label: "tailor bench self",
	}
	if *floor {
		fl, err := startChild(exe, filepath.Join(tmp, "floor.log"), "bench", "floor", "--addr", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer fl.stop()
		opts.FloorTarget, opts.FloorPID = fl.url, fl.cmd.Process.Pid
	}

	fmt.Printf("2/4 generating a world: %d items, %d users, %d campaigns\n", *items, *users, *campaigns)
	worldDir := filepath.Join(tmp, "world")
	if _, err := bench.Gen(worldDir, bench.GenOptions{Items: *items, Users: *users, Campaigns: *campaigns, Bodies: 5000}); err != nil {
		return err
	}
	w, err := bench.OpenWorld(worldDir)
	if err != nil {
		return err
	}
	opts.World = &w.Manifest
	fmt.Printf("3/4 loading it into %s\n", srv.url)
	if err := load(ctx, w, bench.LoadOptions{Target: srv.url, Progress: os.Stderr}); err != nil {
		return err
	}
	wl, err := w.Workload(mix)
	if err != nil {
		return err
	}
	fmt.Printf("4/4 running %g req/s for %v (after %v warm-up), mix %s\n", *rate, *duration, *warmup, mix)
	res, err := bench.Measure(ctx, wl, opts)
	if err != nil {
		return err
	}
	fmt.Println()
	return report(*out, res)
}

// child is a tailor process started by bench self.
type child struct {
	cmd *exec.Cmd
	url string
}

var childServingRE = regexp.MustCompile(`serving on (http://\S+)`)

// startChild runs this binary with args, copies its standard error to
// logPath, and waits until it says where it serves.
func startChild(exe, logPath string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench self: cannot start %s: %w", strings.Join(args, " "), err)
	}
	c := &child{cmd: cmd}
	found := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := childServingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			cmd.Wait()
			return nil, fmt.Errorf("bench self: %s exited before serving; see %s", strings.Join(args, " "), logPath)
		}
		c.url = u
	case <-time.After(2 * time.Minute):
		c.stop()
		return nil, fmt.Errorf("bench self: %s did not start serving within 2 minutes; see %s", strings.Join(args, " "), logPath)
	}
	return c, nil
}

// stop asks the child to shut down and waits for it, killing it after 30 s.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
