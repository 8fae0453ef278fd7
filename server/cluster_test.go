package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tailor-dev/tailor/cluster"
)

// startNodes starts n servers as nodes of one cluster over an in-process
// Kafka, all on the same clock.
func startNodes(t *testing.T, n int) []*testServer {
	t.Helper()
	k, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	c := newClock()
	var nodes []*testServer
	for i := range n {
		opts := Options{Cluster: &cluster.Options{Log: cluster.LogOptions{Brokers: k.ListenAddrs(),
			Node: fmt.Sprintf("node-%d", i), Partitions: 4}}}
		nodes = append(nodes, startServer(t, t.TempDir(), c, opts))
	}
	return nodes
}

// TestClusterReadYourWrites: writes taken by one node are read on another
// with the token the events answer carries; the catalog written on one node
// is on all of them.
func TestClusterReadYourWrites(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	a.loadCatalog()
	if code, out := b.do("GET", "/readyz", "", ""); code != 200 {
		t.Fatalf("GET /readyz on node b = %d %s", code, out)
	}
	for i := range 4 {
		ev := event("ana", "view", []string{"shoe-trail-1", "pan-1", "pan-2", "knife-1"}[i], a.clock.Stamp(0))
		var ans struct {
			Accepted int    `json:"accepted"`
			Token    string `json:"token"`
		}
		if err := json.Unmarshal([]byte(a.mustPost("/v1/events", "["+ev+"]")), &ans); err != nil || ans.Accepted != 1 || ans.Token == "" {
			t.Fatalf("events answer = %+v, %v; want 1 accepted and a token", ans, err)
		}
		rec := b.recommend(fmt.Sprintf(`{"user":"ana","after":%q}`, ans.Token))
		if len(rec.Items) == 0 {
			t.Fatal("no recommendation on node b")
		}
		_, prof := b.do("GET", "/v1/users/ana", "", "")
		if !strings.Contains(prof, fmt.Sprintf(`"events":%d`, i+1)) {
			t.Fatalf("after a recommend with the token, node b's profile of ana is %s; want %d events", prof, i+1)
		}
	}
	if _, ok := b.srv.Service().Index().Get("shoe-trail-2"); !ok {
		t.Error("node b lacks the catalog written on node a")
	}
	recA := a.recommend(`{"user":"ana","n":5}`)
	recB := b.recommend(`{"user":"ana","n":5}`)
	if !slices.Equal(ids(recA), ids(recB)) {
		t.Errorf("node a recommends %v, node b %v", ids(recA), ids(recB))
	}
}

// TestClusterTokenErrors: a malformed token is a 400 naming "after"; a token
// ahead of the log is 503 not_caught_up once FreshWait runs out; a single
// node takes a well-formed token as met.
func TestClusterTokenErrors(t *testing.T) {
	nodes := startNodes(t, 1)
	nodes[0].srv.opts.FreshWait = 1 // a nanosecond: the wait runs out at once
	code, out := nodes[0].post("/v1/recommend", `{"after":"zero"}`)
	if code != 400 || !strings.Contains(out, `"field":"after"`) {
		t.Errorf("recommend with a malformed token = %d %s, want 400 naming after", code, out)
	}
	code, out = nodes[0].post("/v1/recommend", `{"after":"0:999999"}`)
	if code != 503 || !strings.Contains(out, codeNotCaughtUp) {
		t.Errorf("recommend with a token ahead of the log = %d %s, want 503 %s", code, out, codeNotCaughtUp)
	}
	single := newTestServer(t)
	if code, out := single.post("/v1/recommend", `{"after":"0:999999"}`); code != 200 {
		t.Errorf("a single node's recommend with a token = %d %s, want 200", code, out)
	}
}
