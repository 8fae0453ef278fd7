package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/every"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/service"
)

// Names of the values a node keeps in its service's store.
const (
	appliedMeta = "cluster-applied" // next offset by partition, committed with what was applied
	nodeMeta    = "cluster-node"    // the node's name when none is given
)

// Options configures a Node. Zero fields take their defaults.
type Options struct {
	// Log is the connection to the Kafka log. Log.Node defaults to a name
	// made once and kept in the data directory.
	Log LogOptions
	// ApplyWait bounds how long an append waits for this node to apply its
	// own records before it answers, so that the node that took a write
	// reads it at once. Default 2 s.
	ApplyWait time.Duration
	// RetryEvery is how long the reader waits before it reads records again
	// after it failed to apply them (a full disk, say). Default 1 s.
	RetryEvery time.Duration
	// StatsEvery is how often the node logs its experiment counters, when
	// they changed, so that every node reports the cluster's. Default 10 s.
	StatsEvery time.Duration
}

// Node is one tailor process of a cluster: it logs the writes it takes and
// applies everything in the log, its own writes and every other node's, to
// its local state (Pebble and the caches behind service.Service), in each
// partition's order. Every node holds every user, so any node can serve any
// request; nodes join and leave without the others noticing.
//
// Exactly once: the offsets a node has applied are committed in the same
// Pebble batch as the events they carried (features.Mark), so a node
// restarted after a crash resumes after the last batch it committed, applying
// nothing twice and missing nothing. Catalog records are applied before the
// events of the same read and are idempotent upserts, save click-model
// labels, which the model learns once by their offset (model.LearnFrom).
type Node struct {
	svc   *service.Service
	log   *Log
	cons  *kgo.Client
	opts  Options
	start []int64 // the log's ends when the node started: ready once applied past them

	mu      sync.Mutex
	applied []int64       // next offset to apply, by partition
	changed chan struct{} // closed and replaced when applied moves

	ready  atomic.Bool
	hwm    []atomic.Int64 // the last high watermark seen, by position
	events bool           // reading the events' topic: the catalog has caught up

	cancel context.CancelFunc
	done   chan struct{}
	m      nodeMetrics

	labelsMu     sync.Mutex
	labels       chan []byte   // records of labels this node made, for shareLoop to log
	labelsClosed bool          // labels is closed
	labelsDone   chan struct{} // closed when shareLoop has returned

	statsStop   context.CancelFunc
	statsDone   chan struct{} // closed when the goroutine that calls shareStats has returned
	statsShared []byte        // the counters last logged
}

// Start connects svc to the log: it opens the log, reads where svc's state
// stands in it, and starts applying from there.
func Start(svc *service.Service, opts Options) (_ *Node, err error) {
	if opts.ApplyWait <= 0 {
		opts.ApplyWait = 2 * time.Second
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = time.Second
	}
	if opts.StatsEvery <= 0 {
		opts.StatsEvery = 10 * time.Second
	}
	if opts.Log.Node == "" {
		if opts.Log.Node, err = nodeName(svc); err != nil {
			return nil, err
		}
	}
	n := &Node{svc: svc, opts: opts, changed: make(chan struct{}), done: make(chan struct{})}
	n.m = newNodeMetrics(svc.Registry())
	if n.log, err = openLog(opts.Log, logStats{observeCommit: n.m.observeCommit}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.log.Close()
		}
	}()
	n.opts.Log = n.log.opts
	parts := n.log.Positions()
	v, err := svc.ReadMeta(appliedMeta)
	if err != nil {
		return nil, err
	}
	if n.applied, err = decodeOffsets(v); err != nil {
		return nil, err
	}
	if len(n.applied) != 0 && len(n.applied) != parts {
		return nil, fmt.Errorf("cluster: this data directory applied %d positions of the log, the log has %d", len(n.applied), parts)
	}
	n.applied = append(n.applied, make([]int64, parts-len(n.applied))...)
	n.hwm = make([]atomic.Int64, parts)
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.Log.AppendTimeout)
	n.start, err = n.log.Ends(ctx)
	cancel()
	if err != nil {
		return nil, err
	}
	for p, e := range n.start {
		n.hwm[p].Store(e)
	}
	n.ready.Store(Token{next: n.start}.coveredBy(n.applied))
	n.events = n.catalogCaughtUp(n.applied)
	if n.cons, err = n.log.consumer(n.applied, n.events); err != nil {
		return nil, err
	}
	n.registerGauges(svc.Registry())
	ctx, n.cancel = context.WithCancel(context.Background())
	go n.run(ctx)
	if lr := svc.Learner(); lr != nil {
		n.labels, n.labelsDone = make(chan []byte, 64), make(chan struct{})
		go n.shareLoop()
		lr.ShareLabels(n.shareLabels)
		var sctx context.Context
		sctx, n.statsStop = context.WithCancel(context.Background())
		n.statsDone = make(chan struct{})
		go func() {
			defer close(n.statsDone)
			every.Tick(sctx, n.opts.StatsEvery, n.shareStats)
		}()
	}
	return n, nil
}

// PutExperiments logs an experiments configuration, checked by this node's
// learner, and waits until this node has set it, as AppendItems does.
// Every node sets it, so that a user is in the same arm whichever node
// answers.
func (n *Node) PutExperiments(ctx context.Context, c *learn.ExperimentsConfig) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.appendCatalog(ctx, kindExperiments, c))
}

// shareStats logs this node's experiment counters if they changed since
// they were last logged; every node adds them to its own.
func (n *Node) shareStats() {
	w := wireStats{Node: n.Name(), Arms: n.svc.Learner().OwnStats()}
	v, err := appendRecord(nil, kindStats, w)
	if err != nil || bytes.Equal(v, n.statsShared) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.Log.AppendTimeout)
	defer cancel()
	if _, err := n.log.append(ctx, []*kgo.Record{{Topic: n.log.catalog, Value: v}}); err != nil {
		n.svc.Logger().Printf("cluster: cannot log the experiment counters (the next try is in %v): %v", n.opts.StatsEvery, err)
		return
	}
	n.statsShared = v
}

// errLabelsBehind drops labels while the log is slower to take them than
// the node is to make them.
var errLabelsBehind = errors.New("cluster: the labels waiting for the log are too many; dropped")

// shareLabels logs the labels this node's learner made, so that every
// node's click model learns them from the log in one order (the catalog's
// topic has one partition): the models of every node stay alike. The
// labels are encoded at once and logged in the background; the decisions
// they come from are this node's alone, kept in memory for the attribution
// window, so labels not yet made when a node dies are lost, as on a single
// node.
func (n *Node) shareLabels(labels []model.Label) error {
	v := appendLabels(nil, labels)
	n.labelsMu.Lock()
	defer n.labelsMu.Unlock()
	if n.labelsClosed {
		return ErrClosed
	}
	select {
	case n.labels <- v:
		return nil
	default:
		return errLabelsBehind
	}
}

// shareLoop logs the label records shareLabels queues, those queued
// together in one append, until the queue is closed.
func (n *Node) shareLoop() {
	defer close(n.labelsDone)
	for v := range n.labels {
		recs := []*kgo.Record{{Topic: n.log.catalog, Value: v}}
		for drained := false; !drained && len(recs) < 64; {
			select {
			case v, ok := <-n.labels:
				if !ok {
					drained = true
					break
				}
				recs = append(recs, &kgo.Record{Topic: n.log.catalog, Value: v})
			default:
				drained = true
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.Log.AppendTimeout)
		_, err := n.log.append(ctx, recs)
		cancel()
		if err != nil {
			n.m.labelsLost.Add(float64(len(recs)))
			n.svc.Logger().Printf("cluster: cannot log %d records of click-model labels, which are lost: %v", len(recs), err)
		}
	}
}

// nodeName returns the name kept in svc's store, making one the first time.
func nodeName(svc *service.Service) (string, error) {
	v, err := svc.ReadMeta(nodeMeta)
	if err != nil || v != nil {
		return string(v), err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cluster: cannot name the node: %w", err)
	}
	name := hex.EncodeToString(b[:])
	return name, svc.WriteMeta(nodeMeta, []byte(name))
}

// Name returns the node's name in the cluster.
func (n *Node) Name() string { return n.opts.Log.Node }

// Close stops applying and closes the log. Appends in flight fail with
// ErrClosed unless their transaction is already being committed.
func (n *Node) Close() error {
	if n.cancel == nil {
		return nil
	}
	if n.labels != nil {
		n.statsStop()
		<-n.statsDone
		n.svc.Learner().Flush() // share the labels made so far while they can be logged
		n.shareStats()
		n.labelsMu.Lock()
		n.labelsClosed = true
		close(n.labels)
		n.labelsMu.Unlock()
		<-n.labelsDone
	}
	n.cancel()
	n.cons.Close()
	<-n.done
	n.cancel = nil
	return n.log.Close()
}

// AppendEvents enriches accepted events from this node's catalog, logs them
// and waits, up to ApplyWait, until this node has applied them. It returns
// their token, and whether this node has applied them (false when the wait
// ran out; they are logged all the same).
func (n *Node) AppendEvents(ctx context.Context, events []features.Event) (Token, bool, error) {
	n.svc.Enrich(events)
	tok, err := n.log.AppendEvents(ctx, events)
	if err != nil {
		return Token{}, false, err
	}
	return tok, n.awaitOwn(ctx, tok), nil
}

// AppendItems logs catalog items and waits, up to ApplyWait, until this node
// has applied them, as AppendEvents does.
func (n *Node) AppendItems(ctx context.Context, items []index.Item) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendItems(ctx, items))
}

// AppendCampaigns logs campaigns and waits until this node has applied them,
// as AppendItems does.
func (n *Node) AppendCampaigns(ctx context.Context, list []campaign.Campaign) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendCampaigns(ctx, list))
}

// Erase logs the erasure of a user and waits until this node has applied
// it, as AppendItems does. Every node erases the user when it reads it.
func (n *Node) Erase(ctx context.Context, user string) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendErase(ctx, user))
}

// UpsertAttributes logs user attribute updates and waits until this node has
// applied them, as AppendItems does.
func (n *Node) UpsertAttributes(ctx context.Context, updates []features.AttributesUpdate) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendAttributes(ctx, updates))
}

// AppendNotice logs a notice this node has applied, so that every node
// applies it: the bidding node releases the bid's reservation, and every
// node counts the impression against frequency caps and the campaign's
// figures. A billing notice's spend was booked to the bank by this node;
// the others do not book it again. It does not wait for the others.
func (n *Node) AppendNotice(ctx context.Context, notice *ledger.Notice) (Token, error) {
	return n.log.AppendNotice(ctx, notice)
}

// DeleteItem logs the deletion of an item and waits until this node has
// applied it, as AppendItems does.
func (n *Node) DeleteItem(ctx context.Context, id string) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendItemDelete(ctx, id))
}

// DeleteCampaign logs the deletion of a campaign and waits until this node
// has applied it, as AppendItems does.
func (n *Node) DeleteCampaign(ctx context.Context, id string) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendCampaignDelete(ctx, id))
}

// PutAudience logs an audience, prepared by this node's audience store
// (audience.Store.Prepare), and waits until this node has applied it, as
// AppendItems does. Every node stores it as it is, with its incarnation, so
// that the queues of its webhook agree on every node.
func (n *Node) PutAudience(ctx context.Context, a *audience.Audience) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendAudience(ctx, a))
}

// DeleteAudience logs the deletion of an audience and waits until this node
// has applied it, as AppendItems does.
func (n *Node) DeleteAudience(ctx context.Context, name string) (Token, bool, error) {
	return n.appliedHere(ctx)(n.log.AppendAudienceDelete(ctx, name))
}

// appliedHere returns a function that takes an append's outcome and, when it
// succeeded, waits for this node to apply it.
func (n *Node) appliedHere(ctx context.Context) func(Token, error) (Token, bool, error) {
	return func(tok Token, err error) (Token, bool, error) {
		if err != nil {
			return Token{}, false, err
		}
		return tok, n.awaitOwn(ctx, tok), nil
	}
}

func (n *Node) awaitOwn(ctx context.Context, tok Token) bool {
	ctx, cancel := context.WithTimeout(ctx, n.opts.ApplyWait)
	defer cancel()
	return n.Wait(ctx, tok) == nil
}

// Wait returns once this node has applied everything tok names, or ctx's
// error when ctx ends first.
func (n *Node) Wait(ctx context.Context, tok Token) error {
	waited := false
	for {
		n.mu.Lock()
		ok := tok.coveredBy(n.applied)
		ch := n.changed
		n.mu.Unlock()
		if ok {
			if waited {
				n.m.waits.WithLabelValues("waited").Inc()
			} else {
				n.m.waits.WithLabelValues("fresh").Inc()
			}
			return nil
		}
		waited = true
		select {
		case <-ch:
		case <-ctx.Done():
			n.m.waits.WithLabelValues("timeout").Inc()
			return ctx.Err()
		}
	}
}

// Applied returns the token of everything this node has applied.
func (n *Node) Applied() Token {
	n.mu.Lock()
	defer n.mu.Unlock()
	return Token{next: slices.Clone(n.applied)}
}

// Ready reports whether the node has applied the log as far as it stood when
// the node started; until then its answers would be older than the
// cluster's.
func (n *Node) Ready() bool { return n.ready.Load() }

// Lag returns how many records the node has yet to apply, as of the last
// high watermarks it saw.
func (n *Node) Lag() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	var lag int64
	for p := range n.applied {
		lag += max(0, n.hwm[p].Load()-n.applied[p])
	}
	return lag
}

// run applies what the log holds, read by read, until ctx ends.
func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	for {
		fetches := n.cons.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			n.m.fetchErrors.Inc()
			n.svc.Logger().Printf("cluster: reading the log: %v", err)
		})
		n.mu.Lock()
		next := slices.Clone(n.applied)
		n.mu.Unlock()
		rd := n.read(fetches, slices.Clone(next))
		if slices.Equal(rd.steps[len(rd.steps)-1].mark, next) {
			continue // nothing read, or only what was applied already
		}
		start := time.Now()
		if err := n.apply(rd); err != nil {
			n.m.applyErrors.Inc()
			n.svc.Logger().Printf("cluster: cannot apply the log, retrying: %v", err)
			n.rewind(ctx)
			continue
		}
		n.m.applySeconds.Observe(time.Since(start).Seconds())
		n.m.records.Add(float64(rd.records))
		n.m.skipped.Add(float64(rd.skipped))
		n.mu.Lock()
		n.applied = rd.steps[len(rd.steps)-1].mark
		close(n.changed)
		n.changed = make(chan struct{})
		if !n.ready.Load() && (Token{next: n.start}).coveredBy(n.applied) {
			n.ready.Store(true)
		}
		n.mu.Unlock()
		n.catalogFirst()
	}
}

// aRead is one read of the log, decoded: the catalog's changes, then steps
// of the events' topic in order.
type aRead struct {
	catalog          []decoded
	steps            []step // never empty: the last carries the read's end
	records, skipped int
}

// step is a batch of events, applied with mark, the offsets reached once it
// is applied; or a user's erasure or attributes (op), applied alone, after
// the events before it and before those after it.
type step struct {
	events []features.Event
	op     *decoded
	mark   []int64
}

// read decodes fetches from next, the offsets applied so far, the catalog's
// topic first.
func (n *Node) read(fetches kgo.Fetches, next []int64) aRead {
	var rd aRead
	var cur step
	visit := func(fp kgo.FetchTopicPartition) {
		pos, ok := n.log.position(fp.Topic, fp.Partition)
		if !ok {
			return
		}
		n.hwm[pos].Store(fp.HighWatermark)
		for _, r := range fp.Records {
			if r.Offset < next[pos] {
				continue
			}
			next[pos] = r.Offset + 1
			if r.Attrs.IsControl() {
				continue
			}
			d, evs, err := decodeRecord(r.Value, cur.events)
			if err != nil {
				rd.skipped++
				n.svc.Logger().Printf("cluster: skipping record %d of partition %d: %v", r.Offset, r.Partition, err)
				continue
			}
			rd.records++
			switch d.kind {
			case kindEvents:
				cur.events = evs
			case kindErase, kindAttributes, kindNotice:
				cur.mark = slices.Clone(next)
				cur.mark[pos] = r.Offset // the op is not applied yet
				rd.steps = append(rd.steps, cur, step{op: &d})
				cur = step{}
			default:
				d.offset = r.Offset
				rd.catalog = append(rd.catalog, d)
			}
		}
	}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic == n.log.catalog {
			visit(fp)
		}
	})
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic != n.log.catalog {
			visit(fp)
		}
	})
	cur.mark = next
	rd.steps = append(rd.steps, cur)
	return rd
}

// apply applies one read: catalog changes first, in order, then its steps,
// each batch of events with the offsets it reaches committed alongside it.
// Catalog changes, erasures and attributes are upserts and deletions, which
// leave the same state when applied again after a crash.
func (n *Node) apply(rd aRead) error {
	for _, d := range rd.catalog {
		var err error
		switch d.kind {
		case kindItems:
			err = n.svc.Index().Upsert(d.items)
		case kindItemDelete:
			if err = n.svc.Index().Delete(d.id); errors.Is(err, index.ErrNotFound) {
				err = nil
			}
		case kindCampaigns:
			err = n.svc.Campaigns().Upsert(d.campaigns)
		case kindCampaignDelete:
			if err = n.svc.Campaigns().Delete(d.id); errors.Is(err, campaign.ErrNotFound) {
				err = nil
			}
		case kindLabels:
			if m := n.svc.Model(); m != nil {
				_, err = m.LearnFrom(d.labels, uint64(d.offset)+1)
			}
		case kindExperiments:
			err = n.setExperiments(d.experiments, d.offset)
		case kindStats:
			if lr := n.svc.Learner(); lr != nil && d.stats.Node != n.Name() {
				err = lr.MergeStats(d.stats.Node, d.stats.Arms)
			}
		case kindAudience:
			err = n.svc.Audiences().Restore(d.audience)
		case kindAudienceDelete:
			if err = n.svc.Audiences().Delete(d.id); errors.Is(err, audience.ErrNotFound) {
				err = nil
			}
		}
		if err != nil {
			return err
		}
	}
	for _, st := range rd.steps {
		var err error
		switch {
		case st.op == nil:
			mark := features.Mark{Key: service.MetaKey(appliedMeta), Value: encodeOffsets(st.mark)}
			_, err = n.svc.IngestEnriched(st.events, mark)
		case st.op.kind == kindErase:
			if err = n.svc.Erase(st.op.id); errors.Is(err, features.ErrNotFound) {
				err = nil
			}
		case st.op.kind == kindAttributes:
			err = n.svc.UpsertAttributes(st.op.attributes)
		case st.op.kind == kindNotice:
			err = n.applyNotice(&st.op.notice)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// setExperiments sets a configuration read from the log. One this node's
// learner refuses (the node that logged it checked it with its own) is
// passed over, with a message, rather than held up in front of the log.
func (n *Node) setExperiments(c *learn.ExperimentsConfig, offset int64) error {
	lr := n.svc.Learner()
	if lr == nil {
		return nil
	}
	if err := lr.CheckExperiments(c); err != nil {
		n.svc.Logger().Printf("cluster: passing over the experiments of catalog record %d, which this node refuses: %v", offset, err)
		return nil
	}
	return lr.SetExperiments(c)
}

// catalogCaughtUp reports whether applied, offsets by position, has reached
// the catalog's end as it stood when the node started.
func (n *Node) catalogCaughtUp(applied []int64) bool {
	cat := len(applied) - 1
	return applied[cat] >= n.start[cat]
}

// catalogFirst starts reading the events once the catalog has been applied
// as far as it stood when the node started, so that a node that starts
// afresh gives the catalog's items their places in the order the catalog
// was written, whatever the events name, as the nodes that saw it live did.
func (n *Node) catalogFirst() {
	if n.events {
		return
	}
	n.mu.Lock()
	next := slices.Clone(n.applied)
	n.mu.Unlock()
	if n.catalogCaughtUp(next) {
		n.log.consumeEvents(n.cons, next)
		n.events = true
	}
}

// applyNotice applies a notice another node took (or this one, which then
// finds it applied), under the campaign's limits as this node knows them.
func (n *Node) applyNotice(w *wireNotice) error {
	notice := ledger.Notice{Kind: w.Kind, Campaign: w.Campaign, Bid: w.Bid, Auction: w.Auction, BidAt: w.BidAt,
		User: w.User, Price: w.Price, Booked: true}
	if c, ok := n.svc.Campaigns().Get(w.Campaign); ok {
		notice.Limits = auction.Limits(c)
	}
	_, err := n.svc.Ledger().Apply(&notice)
	if errors.Is(err, ledger.ErrBadNotice) {
		n.svc.Logger().Printf("cluster: skipping a malformed notice of campaign %q", w.Campaign)
		return nil
	}
	return err
}

// rewind waits RetryEvery and sets the reader back to what was applied, so
// that the read that failed is read again.
func (n *Node) rewind(ctx context.Context) {
	t := time.NewTimer(n.opts.RetryEvery)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return
	}
	n.mu.Lock()
	cat := len(n.applied) - 1
	set := map[string]map[int32]kgo.EpochOffset{n.log.catalog: {0: {Epoch: -1, Offset: n.applied[cat]}}}
	if n.events {
		events := make(map[int32]kgo.EpochOffset, cat)
		for p, o := range n.applied[:cat] {
			events[int32(p)] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		set[n.opts.Log.Topic] = events
	}
	n.mu.Unlock()
	n.cons.SetOffsets(set)
}

// encodeOffsets writes offsets as a count and one uvarint each.
func encodeOffsets(offsets []int64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(offsets)))
	for _, o := range offsets {
		b = binary.AppendUvarint(b, uint64(o))
	}
	return b
}

func decodeOffsets(b []byte) ([]int64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	bad := errors.New("cluster: the applied offsets in the data directory are corrupt")
	n, k := binary.Uvarint(b)
	if k <= 0 || n > MaxPartitions {
		return nil, bad
	}
	b = b[k:]
	out := make([]int64, n)
	for i := range out {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, bad
		}
		out[i], b = int64(v), b[k:]
	}
	return out, nil
}

// nodeMetrics are a node's Prometheus metrics.
type nodeMetrics struct {
	waits                               *prometheus.CounterVec
	records, skipped                    prometheus.Counter
	applyErrors, fetchErrors            prometheus.Counter
	labelsLost                          prometheus.Counter
	applySeconds, commitSeconds, groups prometheus.Histogram
}

func newNodeMetrics(reg prometheus.Registerer) nodeMetrics {
	m := nodeMetrics{
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_cluster_waits_total",
			Help: "Requests that named a token: fresh (already applied), waited, or timeout."}, []string{"result"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_cluster_records_applied_total",
			Help: "Log records this node applied."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_cluster_records_skipped_total",
			Help: "Log records this node could not read and skipped."}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_cluster_apply_errors_total",
			Help: "Reads of the log this node failed to apply and read again."}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_cluster_fetch_errors_total",
			Help: "Errors reading the log."}),
		labelsLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "tailor_cluster_label_records_lost_total",
			Help: "Records of click-model labels this node made but could not log (the learner counts those it could not queue in tailor_labels_dropped_total)."}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tailor_cluster_apply_seconds",
			Help: "Time to apply one read of the log.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tailor_cluster_append_seconds",
			Help: "Time to commit one transaction of appends to the log.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		groups: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tailor_cluster_append_group_size",
			Help: "Appends committed per transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 9)}),
	}
	for _, c := range []prometheus.Collector{m.waits, m.records, m.skipped, m.applyErrors, m.fetchErrors, m.labelsLost,
		m.applySeconds, m.commitSeconds, m.groups} {
		_ = reg.Register(c)
	}
	return m
}

// registerGauges registers the gauges read from the node when scraped,
// once the node is set up.
func (n *Node) registerGauges(reg prometheus.Registerer) {
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_cluster_lag_records",
		Help: "Records of the log this node has yet to apply."}, func() float64 { return float64(n.Lag()) })
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tailor_cluster_ready",
		Help: "1 once this node has applied the log as it stood at start."}, func() float64 {
		if n.Ready() {
			return 1
		}
		return 0
	})
	_ = reg.Register(lag)
	_ = reg.Register(ready)
}

func (m nodeMetrics) observeCommit(d time.Duration, calls int) {
	m.commitSeconds.Observe(d.Seconds())
	m.groups.Observe(float64(calls))
}
