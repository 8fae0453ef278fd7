package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/kafkatest"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/service"
)

// testNow is the clock of every node in these tests.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testPartitions is the topic's partition count in these tests.
const testPartitions = 6

type testNode struct {
	svc  *service.Service
	node *Node
}

// startNode opens a service in dir and joins it to the log as name; set
// changes the service's options first.
func startNode(t testing.TB, brokers []string, dir, name string, set ...func(*service.Options)) *testNode {
	t.Helper()
	o := service.Options{Now: func() time.Time { return testNow }, Logger: testLogger(t)}
	o.Storage.MinFreeBytes = -1
	o.Learning.SweepEvery = -1
	for _, f := range set {
		f(&o)
	}
	svc, err := service.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(svc, Options{Log: LogOptions{Brokers: brokers, Node: name, Partitions: testPartitions}})
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	tn := &testNode{svc: svc, node: n}
	t.Cleanup(tn.stop)
	return tn
}

// testLogger returns a logger whose lines go to t's log, which shows them
// when the test fails (or with -v): what a node said, such as labels it could
// not log, tells a rare failure's cause. Lines written after t's cleanups
// (this one is registered before the node's, so it runs after them) are
// dropped, as t must not log once it has ended.
func testLogger(t testing.TB) *log.Logger {
	var mu sync.Mutex
	ended := false
	t.Cleanup(func() {
		mu.Lock()
		ended = true
		mu.Unlock()
	})
	return log.New(logWriter(func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.Logf("%s", bytes.TrimRight(p, "\n"))
		}
	}), "node: ", log.Lmicroseconds)
}

// logWriter is an io.Writer that hands every write to a function.
type logWriter func([]byte)

func (w logWriter) Write(p []byte) (int, error) {
	w(p)
	return len(p), nil
}

func (tn *testNode) stop() {
	tn.node.Close()
	tn.svc.Close()
}

// catchUp waits until every node has applied the whole log.
func catchUp(t *testing.T, nodes ...*testNode) Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := nodes[0].node.log.Ends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := Token{next: ends}
	for i, n := range nodes {
		if err := n.node.Wait(ctx, tok); err != nil {
			t.Fatalf("node %d did not apply the log up to %s: %v (it applied %s)", i, tok, err, n.node.Applied())
		}
	}
	return tok
}

func testCatalog() []index.Item {
	var items []index.Item
	for i := range 40 {
		items = append(items, index.Item{ID: fmt.Sprintf("item-%02d", i), Title: fmt.Sprintf("thing %d", i),
			Category: []string{fmt.Sprintf("cat-%d", i%5)}, Price: float64(10 + i)})
	}
	return items
}

// testEvents returns n seeded events of users user-00 .. user-(users-1).
func testEvents(seed uint64, n, users int) []features.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	types := []features.EventType{features.View, features.View, features.View, features.Cart, features.Purchase}
	var evs []features.Event
	for i := range n {
		evs = append(evs, features.Event{
			User: fmt.Sprintf("user-%02d", r.IntN(users)), Type: types[r.IntN(len(types))],
			Item: fmt.Sprintf("item-%02d", r.IntN(40)), TS: testNow.UnixMilli() - int64(n-i)*60_000,
		})
	}
	return evs
}

// scored is one recommended item and its score.
type scored struct {
	id    string
	score float64
}

func recommend(t *testing.T, svc *service.Service, user string) []scored {
	t.Helper()
	var res ranker.Result
	if _, err := svc.Recommend(user, nil, nil, &ranker.Request{N: 10}, &res); err != nil {
		t.Fatal(err)
	}
	out := make([]scored, len(res.Items))
	for i, it := range res.Items {
		out[i] = scored{it.Doc.Item.ID, it.Score}
	}
	return out
}

// TestAppendAppliesOnTheNodeThatTookIt: an append answers once the node
// that took it has applied it, so that node reads its own write at once.
func TestAppendAppliesOnTheNodeThatTookIt(t *testing.T) {
	_, brokers := kafkatest.Start(t, 1)
	a := startNode(t, brokers, t.TempDir(), "a")
	ctx := context.Background()
	if _, applied, err := a.node.AppendItems(ctx, testCatalog()); err != nil || !applied {
		t.Fatalf("AppendItems = applied %v, %v", applied, err)
	}
	if _, ok := a.svc.Index().Get("item-07"); !ok {
		t.Fatal("the catalog record was not applied")
	}
	evs := []features.Event{{User: "ana", Type: features.View, Item: "item-07", TS: testNow.UnixMilli()}}
	tok, applied, err := a.node.AppendEvents(ctx, evs)
	if err != nil || !applied || tok.IsZero() {
		t.Fatalf("AppendEvents = %s, applied %v, %v", tok, applied, err)
	}
	p, err := a.svc.Store().Get("ana")
	if err != nil || p.Events != 1 || len(p.Categories) == 0 {
		t.Fatalf("profile after the append = %+v, %v; want one event, enriched from the catalog", p, err)
	}
	if !a.node.Ready() {
		t.Error("a node that applied its own writes is not ready")
	}
}

// TestNodesGiveTheSameAnswers: three nodes take writes in turn; once they
// have applied the same offsets they answer seeded recommends alike (see
// sameAnswer), and alike a node that joins later and reads the whole log
// from the start; every user's profile is the same to the byte.
func TestNodesGiveTheSameAnswers(t *testing.T) {
	_, brokers := kafkatest.Start(t, 3)
	nodes := []*testNode{
		startNode(t, brokers, t.TempDir(), "a"),
		startNode(t, brokers, t.TempDir(), "b"),
		startNode(t, brokers, t.TempDir(), "c"),
	}
	ctx := context.Background()
	if _, _, err := nodes[1].node.AppendItems(ctx, testCatalog()); err != nil {
		t.Fatal(err)
	}
	evs := testEvents(7, 600, 30)
	for i := 0; i < len(evs); i += 20 {
		if _, _, err := nodes[(i/20)%3].node.AppendEvents(ctx, evs[i:i+20]); err != nil {
			t.Fatal(err)
		}
	}
	late := startNode(t, brokers, t.TempDir(), "late")
	nodes = append(nodes, late)
	catchUp(t, nodes...)
	for u := range 30 {
		user := fmt.Sprintf("user-%02d", u)
		want := recommend(t, nodes[0].svc, user)
		if len(want) == 0 {
			t.Fatalf("no recommendation for %s", user)
		}
		for i, n := range nodes[1:] {
			if got := recommend(t, n.svc, user); !sameAnswer(got, want) {
				t.Errorf("node %d recommends %v to %s, node 0 %v", i+1, got, user, want)
			}
		}
		pa, _ := nodes[0].svc.Store().Get(user)
		for i, n := range nodes[1:] {
			p, _ := n.svc.Store().Get(user)
			if pa == nil || p == nil || !bytes.Equal(features.AppendEncoded(nil, pa), features.AppendEncoded(nil, p)) {
				t.Errorf("%s: profile on node %d differs from node 0's", user, i+1)
			}
		}
	}
}

// sameAnswer reports whether two recommendations are the same: the same
// items in the same order with the same scores, where scores may differ by
// floating-point rounding (nodes sum the shared counts of different
// partitions in different orders) and items whose scores are equal to that
// rounding may trade places.
func sameAnswer(a, b []scored) bool {
	const tol = 1e-6
	near := func(x, y float64) bool { return math.Abs(x-y) <= tol*math.Max(1, math.Abs(x)) }
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i].score, b[i].score) {
			return false
		}
		if a[i].id == b[i].id {
			continue
		}
		j := slices.IndexFunc(b, func(s scored) bool { return s.id == a[i].id })
		if j >= 0 && !near(a[i].score, b[j].score) || j < 0 && !near(a[i].score, b[len(b)-1].score) {
			return false
		}
	}
	return true
}

// TestReadYourWritesOnAnotherNode: a token from one node's append, waited
// for on another, shows the write there; a token from the future times out.
func TestReadYourWritesOnAnotherNode(t *testing.T) {
	_, brokers := kafkatest.Start(t, 1)
	a := startNode(t, brokers, t.TempDir(), "a")
	b := startNode(t, brokers, t.TempDir(), "b")
	ctx := context.Background()
	for i := range 5 {
		evs := []features.Event{{User: "ana", Type: features.View, Item: fmt.Sprintf("i%d", i), TS: testNow.UnixMilli()}}
		tok, _, err := a.node.AppendEvents(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		text, err := ParseToken(tok.String())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.node.Wait(ctx, text); err != nil {
			t.Fatal(err)
		}
		if p, err := b.svc.Store().Get("ana"); err != nil || p.Events != uint64(i+1) {
			t.Fatalf("after waiting for %s, node b has %+v, %v; want %d events", tok, p, err, i+1)
		}
	}
	future := b.node.Applied()
	future.need(0, future.next[0]+1000)
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.node.Wait(wctx, future); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(a token ahead of the log) = %v, want the deadline", err)
	}
}

// TestRestartAppliesExactlyOnce: a node stopped while others write, and
// restarted, applies what it missed and nothing twice (the events carry no
// ids, so a repeat would show in the counts).
func TestRestartAppliesExactlyOnce(t *testing.T) {
	_, brokers := kafkatest.Start(t, 1)
	a := startNode(t, brokers, t.TempDir(), "a")
	dir := t.TempDir()
	b := startNode(t, brokers, dir, "b")
	ctx := context.Background()
	evs := testEvents(3, 300, 10)
	for i := 0; i < 100; i += 10 {
		if _, _, err := a.node.AppendEvents(ctx, evs[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	catchUp(t, a, b)
	b.stop()
	for i := 100; i < len(evs); i += 10 {
		if _, _, err := a.node.AppendEvents(ctx, evs[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	b = startNode(t, brokers, dir, "b")
	if b.node.Ready() {
		t.Error("a node behind the log says it is ready")
	}
	catchUp(t, a, b)
	if !b.node.Ready() {
		t.Error("a node that caught up is not ready")
	}
	want := map[string]int{}
	for _, e := range evs {
		want[e.User]++
	}
	for user, n := range want {
		p, err := b.svc.Store().Get(user)
		if err != nil || p.Events != uint64(n) {
			t.Errorf("%s after the restart: %v events (%v), want %d", user, p.Events, err, n)
		}
	}
}

// TestBatchAllOrNothing: a batch whose records span partitions, one of which
// refuses its write, is aborted as a whole: no node ever applies any of it.
func TestBatchAllOrNothing(t *testing.T) {
	c, brokers := kafkatest.Start(t, 3)
	a := startNode(t, brokers, t.TempDir(), "a")
	ctx := context.Background()
	var batch []features.Event
	for u := range 24 {
		batch = append(batch, features.Event{User: fmt.Sprintf("user-%02d", u), Type: features.View, Item: "x", TS: testNow.UnixMilli()})
	}
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "tailor-events", Partitions: []int32{2}, Err: kerr.PolicyViolation})
	if _, _, err := a.node.AppendEvents(ctx, batch); err == nil {
		t.Fatal("AppendEvents succeeded with a partition refusing its write")
	}
	ok := []features.Event{{User: "after", Type: features.View, Item: "x", TS: testNow.UnixMilli()}}
	if _, _, err := a.node.AppendEvents(ctx, ok); err != nil {
		t.Fatalf("the append after the failed one: %v", err)
	}
	late := startNode(t, brokers, t.TempDir(), "late")
	catchUp(t, a, late)
	for _, n := range []*testNode{a, late} {
		for _, e := range batch {
			if p, err := n.svc.Store().Get(e.User); !errors.Is(err, features.ErrNotFound) {
				t.Fatalf("%s of the failed batch is visible: %+v, %v", e.User, p, err)
			}
		}
		if _, err := n.svc.Store().Get("after"); err != nil {
			t.Fatalf("the write after the failed batch is missing: %v", err)
		}
	}
}

// TestEraseAndAttributesReachEveryNode: an erasure and attribute updates
// taken by one node are applied by every node, in order with the user's
// events: events logged after the erasure make the user anew.
func TestEraseAndAttributesReachEveryNode(t *testing.T) {
	_, brokers := kafkatest.Start(t, 1)
	a := startNode(t, brokers, t.TempDir(), "a")
	b := startNode(t, brokers, t.TempDir(), "b")
	ctx := context.Background()
	view := func(item string) []features.Event {
		return []features.Event{{User: "ana", Type: features.View, Item: item, TS: testNow.UnixMilli()}}
	}
	if _, _, err := a.node.AppendEvents(ctx, view("i1")); err != nil {
		t.Fatal(err)
	}
	north := "north"
	if _, _, err := b.node.UpsertAttributes(ctx, []features.AttributesUpdate{{User: "ana", Region: &north}}); err != nil {
		t.Fatal(err)
	}
	catchUp(t, a, b)
	for _, n := range []*testNode{a, b} {
		if p, err := n.svc.Store().Get("ana"); err != nil || p.Attrs.Region != "north" || p.Events != 1 {
			t.Fatalf("ana before the erasure: %+v, %v; want one event and region north", p, err)
		}
	}
	if _, _, err := b.node.Erase(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.node.AppendEvents(ctx, view("i2")); err != nil {
		t.Fatal(err)
	}
	late := startNode(t, brokers, t.TempDir(), "late")
	catchUp(t, a, b, late)
	for i, n := range []*testNode{a, b, late} {
		p, err := n.svc.Store().Get("ana")
		if err != nil || p.Events != 1 || p.Attrs.Region != "" {
			t.Errorf("node %d: ana after the erasure and one more event: %+v, %v; want a new user with one event", i, p, err)
		}
	}
}
