package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/server"
	"github.com/tailor-dev/tailor/service"
	"github.com/tailor-dev/tailor/trigger"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` to listen on")
	data := fs.String("data", "./tailor-data", "data `DIR`ectory (created if missing)")
	cacheMB := fs.Int("cache-mb", 256, "memory for cached profiles, in `MiB` (with --memory-limit: a fifth of it)")
	memoryLimit := fs.String("memory-limit", "", "the process's memory `SIZE`, such as 4GiB: Go's soft memory limit, with the profile cache (20%) "+
		"and Pebble's block cache (25%) sized from it; the rest is for the heap, collected at GOGC 400 unless GOGC is set")
	maxBodyMB := fs.Int("max-body-mb", 16, "largest request body, in `MiB`; larger ones get 413")
	demo := fs.Bool("demo", false, "load a small demo catalog and users into an empty data directory")
	drain := fs.Duration("drain", 30*time.Second, "how long shutdown may take: requests in flight finish until 5 s before its end, then the data directory is closed")
	segmentEvery := fs.Duration("segment-every", time.Hour, "how often RFM segments are recomputed and triggers swept (0: only on demand)")
	rfmWindow := fs.Int("rfm-window-days", 365, "`days` over which frequency and monetary value are counted")
	atRisk := fs.Int("at-risk-days", 60, "`days` without a purchase after which a customer is at risk")
	lapsed := fs.Int("lapsed-days", 90, "`days` without a purchase after which a customer has lapsed")
	publicURL := fs.String("public-url", "", "`URL` exchanges reach this server at, the base of bid notice URLs (default http://ADDR)")
	rates := fs.String("currency-rates", "", "currencies traded besides USD, as units per US dollar: `EUR=0.92,GBP=0.79`")
	margin := fs.Duration("network-margin", 15*time.Millisecond, "time taken off a bid request's tmax for the network")
	seat := fs.String("bid-seat", "tailor", "`seat` id the bidder bids as")
	vendor := fs.Uint("gdpr-vendor-id", 0, "the bidder's IAB Global Vendor List `id`; when set, TCF consent must name it")
	learning := fs.Bool("learning", true, "log decisions (rec_id), learn the click model from impressions and clicks, run experiments")
	experiments := fs.String("experiments", "", "experiments configuration `file` (JSON); replaces the stored one")
	rankerJSON := fs.String("ranker", "", "the ranker's settings for users outside experiments, as `JSON` like an experiment arm's, "+
		`such as {"per_source":20,"similar_sessions":50}; what it leaves out keeps its default (README, "What ranking costs")`)
	window := fs.Duration("attribution-window", 30*time.Minute, "how long impressions, clicks and purchases count for a recommendation")
	adminAddr := fs.String("admin-addr", "", "`HOST:PORT` of a listener of its own for the admin routes, /metrics and Go's profiler (/debug/pprof/); "+
		"when set, the main listener no longer serves them")
	handSet := fs.Bool("hand-set", false, "keep users outside experiments on the hand-set weights even once the click model is warm")
	fixedWeights := fs.Bool("fixed-weights", false, "keep the hand-set weights as they are (default: they learn from the items users go on to view, cart or buy after a recommendation)")
	resetWeights := fs.Bool("reset-weights", false, "forget the weights learned so far and learn again from the hand-set ones")
	authFile := fs.String("auth", "", "tokens `FILE` (JSON): every route but the bid route, its notices and the health checks needs a token with its scope; re-read on SIGHUP")
	insecure := fs.Bool("insecure", false, "serve a non-loopback --addr without --auth (anyone who reaches the port can read and change everything)")
	bidAllow := fs.String("bid-allow", "", "only peers in these `CIDR`s may bid, such as 10.0.0.0/8,192.0.2.7 (default: anyone)")
	maxInflightMB := fs.Int("max-inflight-mb", 256, "request bodies held at once, in `MiB`; past it requests get 503")
	minFreeMB := fs.Int("min-free-mb", 256, "free disk space below which writes get 507, in `MiB` (0: no floor)")
	backgroundMB := fs.Int("background-write-mb", 32, "the most `MiB` a second Pebble's flushes and compactions write while requests are served and they keep up, so that the write-ahead log's syncs do not wait behind them (0: no cap)")
	unpaced := fs.Bool("unpaced-compactions", false, "let Pebble's flushes and compactions run at full speed while requests are served (default: they pause after every 64 KiB written or read so that requests need not wait behind them)")
	walSync := fs.Duration("wal-sync-interval", service.DefaultWALSyncInterval, "shortest time between two syncs of the write-ahead log: the writes that arrive within it share one sync, each still acknowledged only once synced (0: sync each write at once)")
	concurrency := fs.String("max-concurrent", "", "requests handled at once per kind before the rest wait then are shed: `recommend=N,bid=N,events=N,other=N` (default 32 per core, 32 per core, 64, 16)")
	queueWait := fs.Duration("queue-wait", 10*time.Millisecond, "how long a request past --max-concurrent may wait for a place before it is shed (429, or a no-bid)")
	eventsWait := fs.Duration("events-wait", time.Second, "--queue-wait for events requests, long enough to ride out a slow sync of the disk")
	runnable := fs.Int("shed-runnable", 16, "shed requests while more than this many goroutines per core wait for a CPU and the cores are busy (0: never)")
	runnableGrace := fs.Duration("shed-runnable-after", 2*time.Millisecond, "how long more than --shed-runnable goroutines per core may wait for a CPU before requests are shed")
	backupDir := fs.String("backup-dir", "", "`DIR`ectory where POST /v1/admin/backup writes backups (default: backups through the API are off)")
	corsOrigins := fs.String("cors-origins", "", "web `ORIGINS` whose pages may call /v1/events and /v1/recommend from the browser, such as https://shop.example,https://www.shop.example (* for any)")
	clusterSpec := fs.String("cluster", "", "run as a node of a cluster: its shared log on Kafka (or Redpanda) brokers, and the campaigns' budgets and triggers' state "+
		"in a Redis Cluster: `kafka://HOST:PORT,HOST:PORT,redis://HOST:PORT,HOST:PORT`")
	clusterTopic := fs.String("cluster-topic", "", "the cluster log's events topic; catalog changes go to TOPIC-catalog (default tailor-events)")
	clusterParts := fs.Int("cluster-partitions", 0, "partitions of the events topic when this node creates it (default 12)")
	noticeKeyFile := fs.String("notice-key-file", "", "`FILE` holding the key that signs bid notice URLs (at least 16 bytes; default: a key made once and kept in the data directory). "+
		"The nodes of a cluster share one, so that any node verifies a notice whichever bid it")
	bankReplicas := fs.Int("bank-replicas", 0, "with --cluster redis://: Redis replicas that must acknowledge each budget write (WAIT) before it counts, so that a master's failover loses none")
	nodeName := fs.String("node-name", "", "this node's name in the cluster, unique and stable across restarts (default: one made once and kept in the data directory)")
	mutexFraction := fs.Int("mutex-profile-fraction", 0, "record one in `N` contended mutex events in /debug/pprof/mutex (0: off)")
	blockRate := fs.Duration("block-profile-rate", 0, "record in /debug/pprof/block one goroutine blocking event per this much `time` spent blocked (0: off)")
	webhookPrivate := fs.Bool("webhook-allow-private", false, "let audience webhooks reach loopback, private and link-local addresses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkExposure(*addr, *authFile, *insecure); err != nil {
		return err
	}
	if *backgroundMB < 0 {
		return fmt.Errorf("--background-write-mb: %d is not a rate; give MiB a second, or 0 for no cap", *backgroundMB)
	}
	if err := profileContention(*mutexFraction, *blockRate); err != nil {
		return err
	}
	cs, err := clusterOptions(*clusterSpec, *clusterTopic, *nodeName, *clusterParts)
	if err != nil {
		return err
	}
	if cs.opts != nil && *demo {
		return fmt.Errorf("--demo loads one node's data directory; a cluster's data comes through its log")
	}
	var auth *server.Auth
	if *authFile != "" {
		a, err := server.LoadAuth(*authFile)
		if err != nil {
			return fmt.Errorf("--auth: %w", err)
		}
		auth = a
	}
	allow, err := server.ParsePrefixes(*bidAllow)
	if err != nil {
		return fmt.Errorf("--bid-allow: %w", err)
	}
	admission, err := admissionOptions(*concurrency, *queueWait, *eventsWait)
	if err != nil {
		return err
	}
	admission.Runnable, admission.RunnableGrace = *runnable, *runnableGrace
	if admission.Runnable <= 0 {
		admission.Runnable = -1
	}
	bidder, bidding, err := bidderOptions(*publicURL, *addr, *rates, *margin, *seat, *vendor)
	if err != nil {
		return err
	}
	rankerOpts, err := rankerOptions(*rankerJSON)
	if err != nil {
		return err
	}
	learnOpts := service.LearningOptions{Disabled: !*learning, Options: learn.Options{Window: *window, HandSet: *handSet}}
	if *experiments != "" {
		if learnOpts.Experiments, err = learn.ReadExperiments(*experiments); err != nil {
			return err
		}
	}
	logger := log.New(os.Stderr, "tailor: ", log.LstdFlags)
	if *noticeKeyFile != "" {
		key, err := os.ReadFile(*noticeKeyFile)
		if err != nil {
			return fmt.Errorf("--notice-key-file: %w", err)
		}
		if len(key) < 16 {
			return fmt.Errorf("--notice-key-file: the key has %d bytes; use at least 16 random ones", len(key))
		}
		bidding.NoticeKey = key
	} else if cs.opts != nil {
		logger.Printf("--cluster without --notice-key-file: a bid's notices are verified only by the node that bid")
	}
	shared, closeRedis, err := sharedState(cs, *nodeName, *bankReplicas)
	if err != nil {
		return err
	}
	defer closeRedis()
	bidding.Ledger.Shared = shared.budgets
	bidding.Auction.Node = *nodeName
	if cs.opts != nil && shared.budgets.Bank == nil {
		logger.Printf("--cluster without redis://: each node spends the campaigns' budgets on its own, and makes and POSTs its own trigger records, as if it were alone")
	}
	profileCache, blockCache := int64(*cacheMB)<<20, int64(0)
	if *memoryLimit != "" {
		n, err := parseBytes(*memoryLimit)
		if err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
		b, err := budgetFor(n)
		if err != nil {
			return err
		}
		if !flagSet(fs, "cache-mb") {
			profileCache = b.profiles
		}
		blockCache = b.blockCache
		debug.SetMemoryLimit(b.goLimit)
		gc := "GOGC from the environment"
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(gcPercentWithLimit)
			gc = fmt.Sprintf("GOGC %d", gcPercentWithLimit)
		}
		logger.Printf("memory limit %s: profile cache %s, block cache %s, the rest for the heap (Go's soft limit %s, %s)",
			formatBytes(b.limit), formatBytes(profileCache), formatBytes(blockCache), formatBytes(b.goLimit), gc)
	}
	minFree := int64(*minFreeMB) << 20
	if minFree <= 0 {
		minFree = -1
	}
	walSyncInterval := *walSync
	if walSyncInterval <= 0 {
		walSyncInterval = -1 // the service's "none"; its zero is the default
	}
	srv, err := server.Open(*data, server.Options{
		Service: service.Options{
			CacheBytes:      profileCache,
			BlockCacheBytes: blockCache,
			Storage: service.StorageOptions{MinFreeBytes: minFree, Unpaced: *unpaced, BackgroundWriteRate: backgroundWriteRate(*backgroundMB), WALSyncInterval: walSyncInterval, OnFailure: func(err error) {
				// Pebble cannot go on past this in this process; a restart
				// replays the write-ahead log, which holds every acknowledged
				// write and no other.
				logger.Printf("storage failed: %v; exiting (status %d) so that a restart recovers", err, exitStorageFailed)
				os.Exit(exitStorageFailed)
			}},
			Webhooks:     trigger.DeliveryOptions{AllowPrivate: *webhookPrivate},
			Triggers:     shared.triggers,
			Logger:       logger,
			Bidding:      bidding,
			Ranker:       rankerOpts,
			Learning:     learnOpts,
			Tuning:       service.TuningOptions{Disabled: *fixedWeights, Reset: *resetWeights},
			SegmentEvery: *segmentEvery,
			Lifecycle: features.Rules{
				Window: time.Duration(*rfmWindow) * 24 * time.Hour,
				AtRisk: time.Duration(*atRisk) * 24 * time.Hour,
				Lapsed: time.Duration(*lapsed) * 24 * time.Hour,
			},
		},
		MaxBodyBytes:     *maxBodyMB << 20,
		MaxInflightBytes: int64(*maxInflightMB) << 20,
		Auth:             auth,
		BidAllow:         allow,
		SeparateAdmin:    *adminAddr != "",
		Admission:        admission,
		Bidder:           bidder,
		CORSOrigins:      splitList(*corsOrigins),
		BackupDir:        *backupDir,
		Cluster:          cs.opts,
	})
	if err != nil {
		return err
	}
	if *demo {
		loaded, err := srv.LoadDemo()
		if err != nil {
			srv.Close()
			return fmt.Errorf("cannot load the demo: %w", err)
		}
		if loaded {
			printDemo(*addr)
		} else {
			logger.Printf("the catalog is not empty: demo data not loaded")
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		return err
	}
	logger.Printf("serving on http://%s with data in %s", ln.Addr(), *data)
	if n := srv.Node(); n != nil {
		logger.Printf("cluster node %s of the log on %s", n.Name(), *clusterSpec)
	}
	done := make(chan error, 2)
	if *adminAddr != "" {
		aln, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			ln.Close()
			srv.Close()
			return fmt.Errorf("--admin-addr: %w", err)
		}
		logger.Printf("admin routes, /metrics and the profiler (/debug/pprof/) on http://%s", aln.Addr())
		go func() { done <- srv.ServeAdmin(aln) }()
	}
	if auth == nil {
		logger.Printf("no --auth: every route is open to whoever reaches %s", ln.Addr())
	} else {
		logger.Printf("--auth: %d tokens from %s (SIGHUP reads it again)", auth.Len(), *authFile)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() { done <- srv.Serve(ln) }()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			srv.Close()
			return err
		case <-hup:
			reloadAuth(srv, *authFile, logger)
		case <-ctx.Done():
			waiting = false
		}
	}
	return shutdown(srv, *drain, logger)
}

// exitStorageFailed is the exit status after a storage failure: EX_TEMPFAIL,
// "try again", for a supervisor that restarts on failure.
const exitStorageFailed = 75

// shutdown stops the server within drain: requests in flight may finish
// until closeGrace before its end (half of it for a short drain), then the
// data directory is closed. Should closing not be done by the end (a request
// or background job stuck on a failing disk), it gives up: a signal to stop
// always stops the process in time, and the write-ahead log keeps every
// acknowledged write.
func shutdown(srv *server.Server, drain time.Duration, logger *log.Logger) error {
	wait := max(drain-closeGrace, drain/2)
	logger.Printf("shutting down: draining requests (up to %v)", wait)
	sctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	finished := make(chan error, 1)
	go func() { finished <- srv.Shutdown(sctx) }()
	select {
	case err := <-finished:
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		logger.Printf("stopped")
		return nil
	case <-time.After(drain):
		return fmt.Errorf("closing did not finish within --drain %v; exiting without closing the data directory (the write-ahead log keeps every acknowledged write)", drain)
	}
}

// closeGrace is the part of the drain kept for closing the data directory.
const closeGrace = 5 * time.Second

// reloadAuth reads the tokens file again, keeping the old tokens if it is
// wrong.
func reloadAuth(srv *server.Server, path string, logger *log.Logger) {
	if path == "" {
		logger.Printf("SIGHUP: no --auth file to read again")
		return
	}
	a, err := server.LoadAuth(path)
	if err != nil {
		logger.Printf("SIGHUP: keeping the current tokens: %v", err)
		return
	}
	srv.SetAuth(a)
	logger.Printf("SIGHUP: %d tokens from %s", a.Len(), path)
}

// checkExposure refuses to serve a non-loopback address without tokens,
// unless told to.
func checkExposure(addr, authFile string, insecure bool) error {
	if authFile != "" || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--addr %s is reachable from other machines and there is no --auth: anyone could read profiles and change campaigns. "+
		"Give --auth FILE (see the README, Running it in production), listen on 127.0.0.1, or pass --insecure to serve it open anyway", addr)
}

// admissionOptions parses --max-concurrent and takes --queue-wait and
// --events-wait.
func admissionOptions(list string, wait, eventsWait time.Duration) (server.AdmissionOptions, error) {
	o := server.AdmissionOptions{Wait: wait, EventsWait: eventsWait}
	for _, kv := range strings.Split(list, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		name, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return o, fmt.Errorf("--max-concurrent: %q is not KIND=N with N at least 1", kv)
		}
		switch strings.TrimSpace(name) {
		case "recommend":
			o.Recommend = n
		case "bid":
			o.Bid = n
		case "events":
			o.Events = n
		case "other":
			o.Other = n
		default:
			return o, fmt.Errorf("--max-concurrent: unknown kind %q (recommend, bid, events, other)", name)
		}
	}
	return o, nil
}

// bidderOptions turns the bidder's flags into the options of its endpoint
// and of its auction.
func bidderOptions(publicURL, addr, rates string, margin time.Duration, seat string, vendor uint) (o server.BidderOptions, b service.BiddingOptions, err error) {
	if publicURL == "" {
		publicURL = "http://" + addr
	}
	table := map[string]float64{}
	for _, kv := range strings.Split(rates, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		cur, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			return o, b, fmt.Errorf("--currency-rates: %q is not CUR=units-per-USD", kv)
		}
		table[strings.TrimSpace(cur)] = f
	}
	r, err := auction.NewRates(table)
	if err != nil {
		return o, b, fmt.Errorf("--currency-rates: %w", err)
	}
	if vendor > 65535 {
		return o, b, fmt.Errorf("--gdpr-vendor-id: %d is not a vendor id", vendor)
	}
	o.PublicURL, o.NetworkMargin, o.GDPRVendorID = publicURL, margin, uint16(vendor)
	b.Auction.Rates, b.Auction.Seat = r, seat
	return o, b, nil
}

func printDemo(addr string) {
	fmt.Printf(`Demo data loaded: 30 items, 8 users. Try:

  curl -s localhost%[1]s/v1/recommend -d '{"user":"runner-ana","n":5}'
  curl -s localhost%[1]s/v1/recommend -d '{"user":"cook-ben","n":5}'
  curl -s localhost%[1]s/v1/events -d '[{"user":"runner-ana","type":"search","query":"跑步鞋"}]'
  curl -s localhost%[1]s/v1/recommend -d '{"n":5,"context":{"item":"kit-001"}}'
  curl -s localhost%[1]s/v1/users/runner-ana

`, portOf(addr))
}

func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return ":" + port
	}
	return addr
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// flagSet reports whether the command line gave the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// backgroundWriteRate turns --background-write-mb into
// StorageOptions.BackgroundWriteRate: 0 is no cap.
func backgroundWriteRate(mb int) int64 {
	if mb == 0 {
		return -1
	}
	return int64(mb) << 20
}

// rankerOptions decodes a --ranker flag: an experiment arm's ranker settings
// as JSON (learn.RankerConfig), applied to the defaults. An empty flag gives
// the defaults. Its weights are where the learned weights start from, and it
// may not set "model": whether users outside experiments rank with the click
// model is --hand-set's to say.
func rankerOptions(spec string) (ranker.Options, error) {
	if spec == "" {
		return ranker.Options{}, nil
	}
	var rc learn.RankerConfig
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rc); err != nil {
		return ranker.Options{}, fmt.Errorf("--ranker: %w", err)
	}
	if dec.More() {
		return ranker.Options{}, errors.New("--ranker: more than one JSON object")
	}
	if rc.Model != nil {
		return ranker.Options{}, errors.New(`--ranker: "model" is for experiment arms ` +
			"(outside them the click model ranks once it is warm, unless serve's --hand-set is given)")
	}
	o, err := rc.Apply(ranker.Options{})
	if err != nil {
		return ranker.Options{}, fmt.Errorf("--ranker: %w", err)
	}
	return o, nil
}
