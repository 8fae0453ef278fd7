package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/kafkatest"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/model"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/service"
)

// TestClickModelLearnsEveryNodesLabels: recommendations answered by two
// nodes, shown and clicked through the other node, make labels on the node
// that answered; every node's click model learns all of them, in one order,
// so the models are the same to the bit, on a node started afterwards too,
// and a node restarted learns none of them twice.
func TestClickModelLearnsEveryNodesLabels(t *testing.T) {
	_, brokers := kafkatest.Start(t, 1)
	var clock atomic.Int64
	clock.Store(testNow.UnixMilli())
	set := func(o *service.Options) {
		o.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
		o.Learning.Window = 10 * time.Minute
	}
	dirB := t.TempDir()
	a := startNode(t, brokers, t.TempDir(), "a", set)
	b := startNode(t, brokers, dirB, "b", set)
	ctx := context.Background()
	if _, _, err := a.node.AppendItems(ctx, testCatalog()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.node.AppendEvents(ctx, testEvents(1, 200, 12)); err != nil {
		t.Fatal(err)
	}
	catchUp(t, a, b)

	nodes := []*testNode{a, b}
	shown, clicks := 0, 0
	for i := range 12 {
		user := fmt.Sprintf("user-%02d", i)
		answering, other := nodes[i%2], nodes[(i+1)%2]
		var res ranker.Result
		dec, err := answering.svc.Recommend(user, nil, nil, &ranker.Request{N: 5}, &res)
		if err != nil || len(res.Items) == 0 {
			// What the answering node held, to tell a missing catalog from
			// missing events.
			p, perr := answering.svc.Store().Get(user)
			recent := 0
			if perr == nil {
				recent = len(p.Recent)
			}
			t.Fatalf("recommend for %s = %d items, %v (node %s: %d items of %d ordinals, %d popular, profile with %d recent (%v), applied %s)%s",
				user, len(res.Items), err, answering.node.Name(), answering.svc.Index().Len(), answering.svc.Index().Ordinals(),
				len(answering.svc.Index().Popular(-1, 50, clock.Load(), nil)), recent, perr, answering.node.Applied(),
				logReport(t, answering))
		}
		items := make([]string, len(res.Items))
		for j, it := range res.Items {
			items[j] = it.Doc.Item.ID
		}
		now := clock.Load()
		events := []features.Event{{User: user, Type: features.Impression, RecID: dec.RecID.String(), Items: items, TS: now}}
		shown += len(items)
		if i%3 != 0 {
			events = append(events, features.Event{User: user, Type: features.Click, Item: items[i%len(items)], RecID: dec.RecID.String(), TS: now})
			clicks++
		}
		if _, _, err := other.node.AppendEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	catchUp(t, a, b)
	// Past the window, the items shown and not clicked are labelled too.
	clock.Add((11 * time.Minute).Milliseconds())
	for _, n := range nodes {
		n.svc.Learner().Flush()
	}
	learned := func(n *testNode) model.Stats { return n.svc.Model().Stats() }
	waitLearned := func(n *testNode) {
		t.Helper()
		for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
			catchUp(t, n)
			st := learned(n)
			if st.Labels == uint64(shown) && st.Clicks == uint64(clicks) {
				return
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("node %s's model learned %d labels with %d clicks up to the log's position %d; want %d with %d%s",
					n.node.Name(), st.Labels, st.Clicks, n.svc.Model().Source(), shown, clicks,
					logReport(t, n))
			}
		}
	}
	waitLearned(a)
	waitLearned(b)
	sameModel := func(what string, x, y *testNode) {
		t.Helper()
		sx, sy := x.svc.Model().Publish(), y.svc.Model().Publish()
		if sx.Labels != sy.Labels || sx.Clicks != sy.Clicks {
			t.Fatalf("%s: %d/%d labels/clicks against %d/%d", what, sx.Labels, sx.Clicks, sy.Labels, sy.Clicks)
		}
		for k := uint32(0); k < 1<<x.svc.Model().Options().Bits; k++ {
			if wx, wy := sx.Weight(k), sy.Weight(k); wx != wy {
				t.Fatalf("%s: weight %d is %v against %v", what, k, wx, wy)
			}
		}
	}
	sameModel("nodes a and b", a, b)

	late := startNode(t, brokers, t.TempDir(), "late", set)
	waitLearned(late)
	sameModel("a node started afterwards", late, a)

	b.stop()
	b = startNode(t, brokers, dirB, "b", set)
	catchUp(t, a, b)
	if st := learned(b); st.Labels != uint64(shown) {
		t.Errorf("after a restart node b's model has %d labels, want %d", st.Labels, shown)
	}
	sameModel("node b restarted", b, a)
}

// TestExperimentsAgreeAcrossNodes: a configuration set through one node is
// set on every node, so a user is in the same arm whichever node answers;
// each node's counters reach the others, so every node reports the
// cluster's.
func TestExperimentsAgreeAcrossNodes(t *testing.T) {
	_, brokers := kafkatest.Start(t, 1)
	a := startNode(t, brokers, t.TempDir(), "a")
	b := startNode(t, brokers, t.TempDir(), "b")
	ctx := context.Background()
	if _, _, err := a.node.AppendItems(ctx, testCatalog()); err != nil {
		t.Fatal(err)
	}
	cfg, err := learn.ParseExperiments([]byte(`{"experiments":[{"id":"e1","arms":[{"name":"x"},{"name":"y","ranker":{"model":false}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.node.PutExperiments(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	catchUp(t, a, b)
	for i, n := range []*testNode{a, b} {
		got, _ := n.svc.Learner().Experiments()
		if len(got.Experiments) != 1 || got.Experiments[0].ID != "e1" {
			t.Fatalf("node %d's experiments = %+v, want e1", i, got)
		}
	}
	decisions := map[string]uint64{}
	for i := range 20 {
		user := fmt.Sprintf("user-%02d", i)
		armA, armB := a.svc.Learner().Arm(user), b.svc.Learner().Arm(user)
		if armA.Experiment() != "e1" || armA.Name() != armB.Name() {
			t.Fatalf("%s is in arm %s/%s on node a, %s/%s on node b", user, armA.Experiment(), armA.Name(), armB.Experiment(), armB.Name())
		}
		var res ranker.Result
		if _, err := []*testNode{a, b}[i%2].svc.Recommend(user, nil, nil, &ranker.Request{N: 5}, &res); err != nil {
			t.Fatal(err)
		}
		decisions[armA.Name()]++
	}
	a.node.shareStats()
	b.node.shareStats()
	catchUp(t, a, b)
	for i, n := range []*testNode{a, b} {
		_, arms := n.svc.Learner().Experiments()
		got := map[string]uint64{}
		for _, s := range arms {
			if s.Experiment == "e1" {
				got[s.Arm] = s.Decisions
			}
		}
		if got["x"] != decisions["x"] || got["y"] != decisions["y"] {
			t.Errorf("node %d counts decisions %v, want the cluster's %v", i, got, decisions)
		}
		if r, ok := n.svc.Learner().Report("e1"); !ok || r.Arms[0].Decisions+r.Arms[1].Decisions != 20 {
			t.Errorf("node %d's report of e1 = %+v, want 20 decisions in all", i, r)
		}
	}
}

// logReport lists the log's records, as readers of committed records and of
// all of them see them (describeLog), for a failure's message.
func logReport(t *testing.T, n *testNode) string {
	t.Helper()
	return "\nthe log, committed:" + describeLog(t, n, kgo.ReadCommitted()) + "\nall of it:" + describeLog(t, n, kgo.ReadUncommitted())
}

// describeLog lists the log's records as a consumer at isolation level iso
// reads them, every position up to its end: each record's position, offset
// and producer, and what it holds (events, labels and clicks, a transaction
// marker, another kind). When a node misses what was logged, it tells a
// record never logged, or logged in a transaction that did not commit, from
// one the node was given and passed over.
func describeLog(t *testing.T, n *testNode, iso kgo.IsolationLevel) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := n.node.log
	ends, err := l.Ends(ctx)
	if err != nil {
		return err.Error()
	}
	from := map[string]map[int32]kgo.Offset{l.catalog: {0: kgo.NewOffset().AtStart()}, l.opts.Topic: {}}
	for p := range l.partitions {
		from[l.opts.Topic][p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.opts.Brokers...), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	next := make([]int64, len(ends))
	var b strings.Builder
	for !(Token{next: ends}).coveredBy(next) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			pos, _ := l.position(r.Topic, r.Partition)
			next[pos] = r.Offset + 1
			fmt.Fprintf(&b, "\n  position %d, offset %d, producer %d: ", pos, r.Offset, r.ProducerID)
			if r.Attrs.IsControl() {
				b.WriteString("transaction marker")
				return
			}
			d, evs, err := decodeRecord(r.Value, nil)
			switch {
			case err != nil:
				b.WriteString(err.Error())
			case d.kind == kindEvents:
				fmt.Fprintf(&b, "%d events", len(evs))
			case d.kind == kindLabels:
				clicks := 0
				for _, l := range d.labels {
					if l.Click {
						clicks++
					}
				}
				fmt.Fprintf(&b, "%d labels, %d clicks", len(d.labels), clicks)
			default:
				fmt.Fprintf(&b, "kind %q", d.kind)
			}
		})
	}
	return b.String()
}
