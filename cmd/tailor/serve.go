package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // the profiler, served only on --debug-addr
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/server"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` to listen on")
	data := fs.String("data", "./tailor-data", "data `DIR`ectory (created if missing)")
	cacheMB := fs.Int("cache-mb", 256, "memory for cached profiles, in `MiB`")
	maxBodyMB := fs.Int("max-body-mb", 16, "largest request body, in `MiB`; larger ones get 413")
	demo := fs.Bool("demo", false, "load a small demo catalog and users into an empty data directory")
	drain := fs.Duration("drain", 30*time.Second, "how long shutdown waits for requests in flight")
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
	window := fs.Duration("attribution-window", 30*time.Minute, "how long impressions, clicks and purchases count for a recommendation")
	debugAddr := fs.String("debug-addr", "", "`HOST:PORT` for Go's profiler (/debug/pprof/); off when empty, keep it private")
	handSet := fs.Bool("hand-set", false, "keep users outside experiments on the hand-set weights even once the click model is warm")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bidder, err := bidderOptions(*publicURL, *addr, *rates, *margin, *seat, *vendor)
	if err != nil {
		return err
	}
	learn := server.LearningOptions{Disabled: !*learning, Window: *window, HandSet: *handSet}
	if *experiments != "" {
		if learn.Experiments, err = server.ReadExperiments(*experiments); err != nil {
			return err
		}
	}
	logger := log.New(os.Stderr, "tailor: ", log.LstdFlags)
	srv, err := server.Open(*data, server.Options{
		CacheBytes:   int64(*cacheMB) << 20,
		MaxBodyBytes: *maxBodyMB << 20,
		Logger:       logger,
		Bidder:       bidder,
		Learning:     learn,
		SegmentEvery: *segmentEvery,
		Lifecycle: features.Rules{
			Window: time.Duration(*rfmWindow) * 24 * time.Hour,
			AtRisk: time.Duration(*atRisk) * 24 * time.Hour,
			Lapsed: time.Duration(*lapsed) * 24 * time.Hour,
		},
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
	if *debugAddr != "" {
		dln, err := net.Listen("tcp", *debugAddr)
		if err != nil {
			ln.Close()
			srv.Close()
			return fmt.Errorf("--debug-addr: %w", err)
		}
		logger.Printf("profiler on http://%s/debug/pprof/", dln.Addr())
		go http.Serve(dln, http.DefaultServeMux)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	logger.Printf("shutting down: draining requests (up to %v)", *drain)
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	<-done
	logger.Printf("stopped")
	return nil
}

// bidderOptions turns the bidder's flags into its options.
func bidderOptions(publicURL, addr, rates string, margin time.Duration, seat string, vendor uint) (server.BidderOptions, error) {
	var o server.BidderOptions
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
			return o, fmt.Errorf("--currency-rates: %q is not CUR=units-per-USD", kv)
		}
		table[strings.TrimSpace(cur)] = f
	}
	r, err := ranker.NewRates(table)
	if err != nil {
		return o, fmt.Errorf("--currency-rates: %w", err)
	}
	if vendor > 65535 {
		return o, fmt.Errorf("--gdpr-vendor-id: %d is not a vendor id", vendor)
	}
	o.PublicURL, o.NetworkMargin, o.GDPRVendorID = publicURL, margin, uint16(vendor)
	o.Auction.Rates, o.Auction.Seat = r, seat
	return o, nil
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
