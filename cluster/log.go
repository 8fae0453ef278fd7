package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/ledger"
)

// LogOptions configures the connection to the Kafka log. Brokers and Node
// are required; other zero fields take their defaults.
type LogOptions struct {
	// Brokers are seed brokers, host:port.
	Brokers []string
	// Topic is the events' topic. Catalog changes go to a topic of one
	// partition named after it, Topic + "-catalog". Default "tailor-events".
	Topic string
	// Partitions is how many partitions the events' topic gets when this node
	// creates it; an existing topic keeps its own. Default 12.
	Partitions int32
	// ReplicationFactor is the topic's replication factor when this node
	// creates it. Default -1, the brokers' default.
	ReplicationFactor int16
	// Node names this node; it must differ between the nodes of a cluster
	// and stay the same across a node's restarts (it names the node's
	// transactional producer, so that a restarted node fences off its
	// previous life).
	Node string
	// AppendTimeout bounds one append: its transaction's produce and commit.
	// Default 10 s.
	AppendTimeout time.Duration
	// MaxGroup bounds how many appends one transaction carries. Default 256.
	MaxGroup int
}

func (o *LogOptions) setDefaults() error {
	if len(o.Brokers) == 0 {
		return errors.New("cluster: no Kafka brokers given")
	}
	if o.Node == "" {
		return errors.New("cluster: the node has no name")
	}
	if o.Topic == "" {
		o.Topic = "tailor-events"
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = -1
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = 10 * time.Second
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 256
	}
	return nil
}

// Log is the shared, ordered record of every write: events keyed by user (a
// user's events stay in order in one partition of the events' topic) and
// catalog changes in the one partition of the catalog's topic. A position
// in the log names a partition of the events' topic by its number, and the
// catalog's partition by the number after the last of them. An append is all-or-nothing: the records of one
// call, and of the calls grouped with it, are one Kafka transaction, and
// readers see committed transactions only. An append that returns without
// error is durable as the topic's replication makes it (acks from all
// in-sync replicas).
//
// Concurrent appends are grouped: one goroutine commits one transaction for
// everything queued while the previous one committed, so that the
// transaction's round trips are shared.
type Log struct {
	opts       LogOptions
	prod       *kgo.Client
	admin      *kadm.Client
	partitions int32 // of the events' topic
	catalog    string
	queue      chan *appendCall
	stop       chan struct{}
	stopped    chan struct{}
	stats      logStats
}

type appendCall struct {
	recs []*kgo.Record
	tok  Token
	err  error
	done chan struct{}
}

// logStats are what the log's metrics read.
type logStats struct {
	observeCommit func(d time.Duration, calls int)
}

// OpenLog connects to the brokers, creates the topic if it does not exist and
// starts the committer.
func OpenLog(opts LogOptions) (*Log, error) { return openLog(opts, logStats{}) }

func openLog(opts LogOptions, stats logStats) (*Log, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	prod, err := kgo.NewClient(
		kgo.SeedBrokers(opts.Brokers...),
		kgo.DefaultProduceTopic(opts.Topic),
		kgo.TransactionalID("tailor-"+opts.Node),
		kgo.TransactionTimeout(opts.AppendTimeout),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: cannot make a Kafka client: %w", err)
	}
	l := &Log{opts: opts, catalog: opts.Topic + "-catalog", prod: prod, admin: kadm.NewClient(prod), queue: make(chan *appendCall, 4096),
		stop: make(chan struct{}), stopped: make(chan struct{}), stats: stats}
	ctx, cancel := context.WithTimeout(context.Background(), opts.AppendTimeout)
	defer cancel()
	if l.partitions, err = l.ensureTopic(ctx, opts.Topic, opts.Partitions); err == nil {
		var n int32
		if n, err = l.ensureTopic(ctx, l.catalog, 1); err == nil && n != 1 {
			err = fmt.Errorf("cluster: topic %s has %d partitions; the catalog's topic must have one", l.catalog, n)
		}
	}
	if err != nil {
		prod.Close()
		return nil, err
	}
	go l.commitLoop()
	return l, nil
}

// ensureTopic creates topic with partitions partitions unless it exists and
// returns its partition count.
func (l *Log) ensureTopic(ctx context.Context, topic string, partitions int32) (int32, error) {
	_, err := l.admin.CreateTopic(ctx, partitions, l.opts.ReplicationFactor, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("cluster: cannot create topic %s: %w", topic, err)
	}
	topics, err := l.admin.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("cluster: cannot describe topic %s: %w", topic, err)
	}
	td, ok := topics[topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return 0, fmt.Errorf("cluster: topic %s has no partitions: %v", topic, td.Err)
	}
	if len(td.Partitions) >= MaxPartitions {
		return 0, fmt.Errorf("cluster: topic %s has %d partitions, more than %d", topic, len(td.Partitions), MaxPartitions-1)
	}
	return int32(len(td.Partitions)), nil
}

// Positions returns how many positions the log has: the partitions of the
// events' topic and the catalog's.
func (l *Log) Positions() int { return int(l.partitions) + 1 }

// position returns the position of a topic's partition.
func (l *Log) position(topic string, partition int32) (int, bool) {
	switch {
	case topic == l.catalog && partition == 0:
		return int(l.partitions), true
	case topic == l.opts.Topic && partition >= 0 && partition < l.partitions:
		return int(partition), true
	}
	return 0, false
}

// Ends returns the offset after the last record of each position (the high
// watermark).
func (l *Log) Ends(ctx context.Context) ([]int64, error) {
	listed, err := l.admin.ListEndOffsets(ctx, l.opts.Topic, l.catalog)
	if err != nil {
		return nil, fmt.Errorf("cluster: cannot list the log's end offsets: %w", err)
	}
	ends := make([]int64, l.Positions())
	var first error
	listed.Each(func(o kadm.ListedOffset) {
		pos, ok := l.position(o.Topic, o.Partition)
		switch {
		case o.Err != nil:
			if first == nil {
				first = o.Err
			}
		case ok:
			ends[pos] = o.Offset
		}
	})
	if first != nil {
		return nil, fmt.Errorf("cluster: cannot list the log's end offsets: %w", first)
	}
	return ends, nil
}

// AppendEvents logs a batch of accepted events (one record per user, in the
// batch's order) and returns the token of their records. Either every event
// is logged or none is; on an error the events may still have been logged
// only when the error says the outcome is unknown, and a retry with the same
// event ids is then applied once.
func (l *Log) AppendEvents(ctx context.Context, events []features.Event) (Token, error) {
	recs, err := perUser(events, func(e *features.Event) string { return e.User }, appendEvents)
	if err != nil {
		return Token{}, err
	}
	return l.append(ctx, recs)
}

// perUser groups items by their user, in order of first appearance, and
// encodes each group as one record keyed by the user.
func perUser[T any](items []T, user func(*T) string, encode func(dst []byte, group []T) ([]byte, error)) ([]*kgo.Record, error) {
	byUser := make(map[string]int)
	var groups [][]T
	for i := range items {
		g, ok := byUser[user(&items[i])]
		if !ok {
			g = len(groups)
			byUser[user(&items[i])] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], items[i])
	}
	recs := make([]*kgo.Record, 0, len(groups))
	for _, g := range groups {
		v, err := encode(nil, g)
		if err != nil {
			return nil, err
		}
		recs = append(recs, &kgo.Record{Key: []byte(user(&g[0])), Value: v})
	}
	return recs, nil
}

// AppendErase logs the erasure of a user, in the user's partition, after
// the user's events logged before it.
func (l *Log) AppendErase(ctx context.Context, user string) (Token, error) {
	v, err := appendRecord(nil, kindErase, user)
	if err != nil {
		return Token{}, err
	}
	return l.append(ctx, []*kgo.Record{{Key: []byte(user), Value: v}})
}

// AppendAttributes logs attribute updates, one record per user in the users'
// partitions, all or none.
func (l *Log) AppendAttributes(ctx context.Context, updates []features.AttributesUpdate) (Token, error) {
	recs, err := perUser(updates, func(u *features.AttributesUpdate) string { return u.User },
		func(dst []byte, g []features.AttributesUpdate) ([]byte, error) {
			return appendRecord(dst, kindAttributes, g)
		})
	if err != nil {
		return Token{}, err
	}
	return l.append(ctx, recs)
}

// AppendNotice logs a notice this node applied, keyed by its auction, for
// the other nodes to apply too.
func (l *Log) AppendNotice(ctx context.Context, n *ledger.Notice) (Token, error) {
	w := wireNotice{Kind: n.Kind, Campaign: n.Campaign, Bid: n.Bid, Auction: n.Auction, BidAt: n.BidAt, User: n.User, Price: n.Price}
	v, err := appendRecord(nil, kindNotice, w)
	if err != nil {
		return Token{}, err
	}
	return l.append(ctx, []*kgo.Record{{Key: strconv.AppendUint(nil, n.Auction, 16), Value: v}})
}

// AppendItems logs catalog items to upsert as one record of the catalog's
// topic.
func (l *Log) AppendItems(ctx context.Context, items []index.Item) (Token, error) {
	return l.appendCatalog(ctx, kindItems, items)
}

// AppendCampaigns logs campaigns to upsert as one record of the catalog's
// topic.
func (l *Log) AppendCampaigns(ctx context.Context, list []campaign.Campaign) (Token, error) {
	return l.appendCatalog(ctx, kindCampaigns, list)
}

// AppendItemDelete logs the deletion of an item.
func (l *Log) AppendItemDelete(ctx context.Context, id string) (Token, error) {
	return l.appendCatalog(ctx, kindItemDelete, id)
}

// AppendCampaignDelete logs the deletion of a campaign.
func (l *Log) AppendCampaignDelete(ctx context.Context, id string) (Token, error) {
	return l.appendCatalog(ctx, kindCampaignDelete, id)
}

// AppendAudience logs an audience's whole definition, as
// audience.Store.Prepare made it: with its trigger's secret.
func (l *Log) AppendAudience(ctx context.Context, a *audience.Audience) (Token, error) {
	def, err := a.MarshalDefinition()
	if err != nil {
		return Token{}, err
	}
	return l.appendCatalog(ctx, kindAudience, json.RawMessage(def))
}

// AppendAudienceDelete logs the deletion of an audience.
func (l *Log) AppendAudienceDelete(ctx context.Context, name string) (Token, error) {
	return l.appendCatalog(ctx, kindAudienceDelete, name)
}

func (l *Log) appendCatalog(ctx context.Context, kind byte, body any) (Token, error) {
	v, err := appendRecord(nil, kind, body)
	if err != nil {
		return Token{}, err
	}
	return l.append(ctx, []*kgo.Record{{Topic: l.catalog, Value: v}})
}

// ErrUnknownOutcome is wrapped by the error of an append whose transaction's
// commit was not confirmed: its records may or may not be in the log.
var ErrUnknownOutcome = errors.New("cluster: the log did not confirm the commit; the records may or may not be logged")

// ErrClosed is returned by appends after Close.
var ErrClosed = errors.New("cluster: log closed")

func (l *Log) append(ctx context.Context, recs []*kgo.Record) (Token, error) {
	c := &appendCall{recs: recs, done: make(chan struct{})}
	select {
	case l.queue <- c:
	case <-l.stop:
		return Token{}, ErrClosed
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
	// Once queued, the call's outcome is awaited whatever ctx does: an
	// answer must not claim failure for records that were committed.
	<-c.done
	return c.tok, c.err
}

// commitLoop commits queued appends, grouped, one transaction at a time.
func (l *Log) commitLoop() {
	defer close(l.stopped)
	group := make([]*appendCall, 0, l.opts.MaxGroup)
	for {
		select {
		case c := <-l.queue:
			group = append(group[:0], c)
		case <-l.stop:
			l.failQueued()
			return
		}
	more:
		for len(group) < l.opts.MaxGroup {
			select {
			case c := <-l.queue:
				group = append(group, c)
			default:
				break more
			}
		}
		start := time.Now()
		err := l.commit(group)
		if l.stats.observeCommit != nil {
			l.stats.observeCommit(time.Since(start), len(group))
		}
		for _, c := range group {
			if err != nil {
				c.err = err
			} else {
				for _, r := range c.recs {
					if pos, ok := l.position(r.Topic, r.Partition); ok {
						c.tok.need(int32(pos), r.Offset+1)
					}
				}
			}
			close(c.done)
		}
	}
}

func (l *Log) failQueued() {
	for {
		select {
		case c := <-l.queue:
			c.err = ErrClosed
			close(c.done)
		default:
			return
		}
	}
}

// commit writes the records of group as one transaction.
func (l *Log) commit(group []*appendCall) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.AppendTimeout)
	defer cancel()
	if err := l.prod.BeginTransaction(); err != nil {
		return fmt.Errorf("cluster: cannot begin a transaction: %w", err)
	}
	var recs []*kgo.Record
	for _, c := range group {
		recs = append(recs, c.recs...)
	}
	err := l.prod.ProduceSync(ctx, recs...).FirstErr()
	if err == nil {
		err = awaitPartitions(ctx, l.prod, recs)
	}
	if err != nil {
		_ = l.prod.AbortBufferedRecords(ctx)
		if aerr := l.prod.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			return fmt.Errorf("%w: %v (abort: %v)", ErrUnknownOutcome, err, aerr)
		}
		return fmt.Errorf("cluster: cannot log the records: %w", err)
	}
	if err := l.prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		_ = l.prod.EndTransaction(ctx, kgo.TryAbort)
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	return nil
}

// awaitPartitions waits until the view of the topics of prod, a producer,
// holds the partition of every record in recs. The Kafka client (franz-go 1.22.3)
// sends the records buffered for a topic's first metadata load before it
// stores the topic's partitions, and EndTransaction only commits partitions
// it finds there: one that runs first returns without error yet leaves the
// transaction open, unseen by readers of committed records until a later
// commit or the transaction's timeout, which aborts it. The wait is over at
// once except on a producer's first records to a topic. A partition whose
// metadata holds an error is waited for too (the client gives a topic's
// earlier load error while its partitions are not stored yet, and the two
// cannot be told apart), until ctx ends and the append fails.
func awaitPartitions(ctx context.Context, prod *kgo.Client, recs []*kgo.Record) error {
	pause := 50 * time.Microsecond
	for _, r := range recs {
		for {
			leader, _, err := prod.PartitionLeader(r.Topic, r.Partition)
			if err == nil && leader >= 0 {
				break
			}
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return fmt.Errorf("cluster: the client never loaded partition %d of %s: %w", r.Partition, r.Topic, ctx.Err())
			}
			pause = min(2*pause, 10*time.Millisecond)
		}
	}
	return nil
}

// Close stops the committer, failing appends still queued, and closes the
// connection.
func (l *Log) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.stopped
	l.prod.Close()
	return nil
}

// consumer returns a client reading the log from next (the next offset to
// read, by position), committed transactions only, with the transactions'
// markers kept so that a reader can count its position past them. It reads
// the catalog's topic, and the events' topic too when events is set;
// otherwise consumeEvents adds it later.
//
// A client that is to read the events at once is given them here rather
// than by consumeEvents: partitions added while the client's first metadata
// load is under way are assigned with no leader known, and the Kafka client
// (franz-go 1.22.3) then retries their offsets a second later, a second in
// which a node that has just started applies no events.
func (l *Log) consumer(next []int64, events bool) (*kgo.Client, error) {
	parts := map[string]map[int32]kgo.Offset{l.catalog: {0: kgo.NewOffset().At(next[l.partitions])}}
	if events {
		parts[l.opts.Topic] = l.eventOffsets(next)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(l.opts.Brokers...),
		kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond), // how soon a partition added by consumeEvents is read
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: cannot make a Kafka consumer: %w", err)
	}
	return cl, nil
}

// consumeEvents makes cl, a client from consumer, read the events' topic too,
// from next.
func (l *Log) consumeEvents(cl *kgo.Client, next []int64) {
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{l.opts.Topic: l.eventOffsets(next)})
}

// eventOffsets returns where to start reading each partition of the events'
// topic, from next.
func (l *Log) eventOffsets(next []int64) map[int32]kgo.Offset {
	parts := make(map[int32]kgo.Offset, l.partitions)
	for p := int32(0); p < l.partitions; p++ {
		parts[p] = kgo.NewOffset().At(next[p])
	}
	return parts
}
