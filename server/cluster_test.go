package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/internal/kafkatest"
	"github.com/tailor-dev/tailor/internal/redistest"
	"github.com/tailor-dev/tailor/trigger"
)

// startNodes starts n servers as nodes of one cluster over an in-process
// Kafka, all on the same clock.
func startNodes(t *testing.T, n int) []*testServer {
	nodes, _ := startNodesWith(t, n, Options{})
	return nodes
}

// startNodesWith is startNodes with base options for every node; it also
// returns what starts one more node of the cluster.
func startNodesWith(t *testing.T, n int, base Options) ([]*testServer, func() *testServer) {
	t.Helper()
	_, brokers := kafkatest.Start(t, 1)
	c := newClock()
	started := 0
	add := func() *testServer {
		opts := base
		name := fmt.Sprintf("node-%d", started)
		opts.Cluster = &cluster.Options{Log: cluster.LogOptions{Brokers: brokers, Node: name, Partitions: 4}}
		if opts.Service.Triggers.Store != nil {
			opts.Service.Triggers.Outbox.Node = name
		}
		started++
		return startServer(t, t.TempDir(), c, opts)
	}
	var nodes []*testServer
	for range n {
		nodes = append(nodes, add())
	}
	return nodes, add
}

// awaitToken asks ts for a recommendation after tok until ts has applied
// it: a node that has just started reads the whole log first, which may take
// longer than one request's wait.
func (ts *testServer) awaitToken(tok string) {
	ts.t.Helper()
	body := fmt.Sprintf(`{"after":%q}`, tok)
	for range 30 {
		code, out := ts.post("/v1/recommend", body)
		switch {
		case code == 200:
			return
		case code != 503:
			ts.t.Fatalf("recommend after %s = %d %s", tok, code, out)
		}
	}
	ts.t.Fatalf("the node never applied %s", tok)
}

// write sends a write and returns the status, the body and the token header.
func (ts *testServer) write(method, path, body string) (int, string, string) {
	ts.t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	return ts.doHeader(method, path, contentType, body, TokenHeader)
}

// TestClusterReadYourWrites: writes taken by one node are read on another
// with the token the events answer carries; the catalog written on one node
// is on all of them.
func TestClusterReadYourWrites(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	code, out, catalogTok := a.write("POST", "/v1/items", testCatalog)
	if code != 200 || catalogTok == "" {
		t.Fatalf("POST /v1/items = %d %s, token %q; want 200 with a token", code, out, catalogTok)
	}
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
	b.recommend(fmt.Sprintf(`{"after":%q}`, catalogTok))
	if _, ok := b.srv.Service().Index().Get("shoe-trail-2"); !ok {
		t.Error("node b lacks the catalog written on node a")
	}
	_, metrics := b.do("GET", "/metrics", "", "")
	for _, want := range []string{"tailor_cluster_ready 1", "tailor_cluster_lag_records 0", "tailor_cluster_waits_total{result="} {
		if !strings.Contains(metrics, want) {
			t.Errorf("node b's /metrics lacks %q", want)
		}
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

// TestClusterBidsAlike: campaigns written on one node and shoppers' events
// written on another reach both; once they have applied the same log, the
// same bid requests get the same bids from each (bid ids aside), and from a
// third node started afterwards, which reads the whole log as a single node
// fed it would. Deleting a campaign on one node stops its bids on both.
func TestClusterBidsAlike(t *testing.T) {
	nodes, add := startNodesWith(t, 2, bidOptions(t, nil))
	a, b := nodes[0], nodes[1]
	a.shoppers()
	b.campaigns(shoeAndPanCampaigns)
	tok := b.mustPost("/v1/events", "["+event("late", "view", "pan-2", b.clock.Stamp(0))+"]")
	var ans struct{ Token string }
	if err := json.Unmarshal([]byte(tok), &ans); err != nil {
		t.Fatal(err)
	}
	late := add()
	a.recommend(fmt.Sprintf(`{"after":%q}`, ans.Token))
	late.awaitToken(ans.Token)
	for i, user := range []string{"runner", "cook", "stranger"} {
		want := a.bid(banner(fmt.Sprintf("a%d", i), user, 0.5))
		for name, n := range map[string]*testServer{"b": b, "late": late} {
			got := n.bid(banner(fmt.Sprintf("a%d", i), user, 0.5))
			if (want == nil) != (got == nil) {
				t.Fatalf("%s: node a bids %v, node %s %v", user, want != nil, name, got != nil)
			}
			if want == nil {
				continue
			}
			ba, bb := onlyBid(t, want), onlyBid(t, got)
			if ba.CID != bb.CID || ba.CrID != bb.CrID || ba.Price != bb.Price {
				t.Errorf("%s: node a bids %s/%s at %v, node %s %s/%s at %v", user, ba.CID, ba.CrID, ba.Price, name, bb.CID, bb.CrID, bb.Price)
			}
		}
	}
	code, out, deleted := a.write("DELETE", "/v1/campaigns/cookware", "")
	if code != 200 || deleted == "" {
		t.Fatalf("DELETE /v1/campaigns/cookware = %d %s, token %q; want 200 with a token", code, out, deleted)
	}
	if code, _ := a.do("DELETE", "/v1/campaigns/cookware", "", ""); code != 404 {
		t.Errorf("a second DELETE of the campaign = %d, want 404", code)
	}
	b.recommend(fmt.Sprintf(`{"after":%q}`, deleted))
	if resp := b.bid(banner("a9", "cook", 0.5)); resp != nil {
		t.Errorf("node b still bids for the deleted campaign: %+v", resp.SeatBid)
	}
}

// TestClusterUsersAttributesAndErasure: attributes set and a user erased
// through one node are so on the other.
func TestClusterUsersAttributesAndErasure(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	a.mustPost("/v1/events", "["+event("ana", "view", "x1", a.clock.Stamp(0))+"]")
	code, out, tok := b.write("POST", "/v1/users", `{"id":"ana","region":"north"}`)
	if code != 200 || tok == "" {
		t.Fatalf("POST /v1/users = %d %s, token %q", code, out, tok)
	}
	a.recommend(fmt.Sprintf(`{"after":%q}`, tok))
	if _, prof := a.do("GET", "/v1/users/ana", "", ""); !strings.Contains(prof, `"region":"north"`) {
		t.Errorf("node a's profile of ana after node b set her region: %s", prof)
	}
	code, out, tok = a.write("DELETE", "/v1/users/ana", "")
	if code != 200 || tok == "" {
		t.Fatalf("DELETE /v1/users/ana = %d %s, token %q", code, out, tok)
	}
	b.recommend(fmt.Sprintf(`{"after":%q}`, tok))
	if code, _ := b.do("GET", "/v1/users/ana", "", ""); code != 404 {
		t.Errorf("node b still has ana after node a erased her: %d", code)
	}
	if code, _, _ := a.write("DELETE", "/v1/users/ana", ""); code != 404 {
		t.Errorf("a second erasure = %d, want 404", code)
	}
}

// TestClusterErasureReachesNodesAhead: a node asked to erase a user it has
// not seen (yet) logs the erasure all the same, so that a node holding the
// user's events erases them.
func TestClusterErasureReachesNodesAhead(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	code, out, tok := b.write("DELETE", "/v1/users/nobody", "")
	if code != 404 || tok == "" {
		t.Fatalf("DELETE of a user no node knows = %d %s, token %q; want 404 with the erasure's token", code, out, tok)
	}
	// Node b may or may not have applied ben's events when it is asked to
	// erase him: either way node a, which took them, erases him.
	a.mustPost("/v1/events", "["+event("ben", "view", "x1", a.clock.Stamp(0))+"]")
	code, out, tok = b.write("DELETE", "/v1/users/ben", "")
	if (code != 200 && code != 404) || tok == "" {
		t.Fatalf("DELETE /v1/users/ben on node b = %d %s, token %q", code, out, tok)
	}
	a.recommend(fmt.Sprintf(`{"after":%q}`, tok))
	if code, prof := a.do("GET", "/v1/users/ben", "", ""); code != 404 {
		t.Errorf("node a still has ben after node b logged his erasure: %d %s", code, prof)
	}
}

// TestClusterNoticesReachEveryNode: a billing notice for node a's bid, sent
// to node b, reaches node a through the log: a releases the bid's
// reservation and counts the impression, and a campaign capped at one
// impression a user no longer bids for that user on either node.
func TestClusterNoticesReachEveryNode(t *testing.T) {
	nodes, _ := startNodesWith(t, 2, bidOptions(t, nil))
	a, b := nodes[0], nodes[1]
	a.shoppers()
	capped := strings.Replace(shoeAndPanCampaigns, `"pacing":"asap",`, `"pacing":"asap","frequency_cap":{"impressions":1,"per":"24h"},`, 1)
	_, _, tok := a.write("POST", "/v1/campaigns", capped)
	b.recommend(fmt.Sprintf(`{"after":%q}`, tok))

	req := banner("n1", "runner", 0.5)
	bid := onlyBid(t, a.bid(req))
	if st := a.stats(bid.CID); st.Reserved == 0 {
		t.Fatalf("node a holds nothing for its bid: %+v", st)
	}
	code, _, noticeTok := b.write("GET", strings.NewReplacer("${AUCTION_ID}", req.ID, "${AUCTION_IMP_ID}", "1",
		"${AUCTION_PRICE}", "1.5").Replace(strings.TrimPrefix(bid.BURL, testPublicURL)), "")
	if code != 200 || noticeTok == "" {
		t.Fatalf("billing notice on node b = %d, token %q", code, noticeTok)
	}
	a.recommend(fmt.Sprintf(`{"after":%q}`, noticeTok))
	for name, n := range map[string]*testServer{"a": a, "b": b} {
		st := n.stats(bid.CID)
		if st.Impressions != 1 || st.Reserved != 0 {
			t.Errorf("node %s's stats after the notice: %+v; want one impression and nothing reserved", name, st)
		}
		if resp := n.bid(banner("n2-"+name, "runner", 0.5)); resp != nil {
			for _, bb := range resp.SeatBid[0].Bid {
				if bb.CID == bid.CID {
					t.Errorf("node %s bids again for the capped campaign %s", name, bid.CID)
				}
			}
		}
	}
	// The same notice again, to node a: a duplicate, logged again, changing nothing.
	a.mustNotice(bid.BURL, req, "1", "1.5", "duplicate")
	if st := b.stats(bid.CID); st.Impressions != 1 {
		t.Errorf("node b counts %d impressions after a duplicate notice", st.Impressions)
	}
}

// TestClusterTriggersFireOnce: an audience defined on one node reaches every
// node as it was defined; users entering it through events taken by any
// node make one record each, read alike on every node, and its webhook
// receives each record once, from whichever node holds its queue.
func TestClusterTriggersFireOnce(t *testing.T) {
	rc := redistest.Start(t, redistest.Options{Masters: 3})
	base := webhookOptions()
	base.Service.Triggers.Store = trigger.NewRedis(rc.Client(t), "t:")
	nodes, _ := startNodesWith(t, 3, base)
	hook, got := recordHook(t, 200)

	code, out, tok := nodes[0].write("POST", "/v1/items", testCatalog)
	if code != 200 {
		t.Fatalf("POST /v1/items = %d %s", code, out)
	}
	code, out, audTok := nodes[1].write("PUT", "/v1/audiences/buyers",
		fmt.Sprintf(`{"expression":"purchases > 0","trigger":{"webhook":%q,"secret":%q}}`, hook.URL, webhookSecret))
	if code != 200 || audTok == "" {
		t.Fatalf("PUT /v1/audiences/buyers = %d %s, token %q; want 200 with a token", code, out, audTok)
	}
	for _, n := range nodes {
		n.awaitToken(tok)
		n.awaitToken(audTok)
	}
	first, err := nodes[1].srv.Service().Audiences().Get("buyers")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		a, err := n.srv.Service().Audiences().Get("buyers")
		if err != nil || a.Incarnation() != first.Incarnation() || a.Updated != first.Updated || a.Trigger.Secret != webhookSecret {
			t.Fatalf("node %d's audience = %+v, %v; want node 1's, incarnation %d, with its secret", i, a, err, first.Incarnation())
		}
	}

	// Each user buys twice, through two different nodes; every node applies
	// every purchase.
	var users, last []string
	for i := range 12 {
		u := fmt.Sprintf("buyer-%02d", i%6)
		if i < 6 {
			users = append(users, u)
		}
		code, out, tok := nodes[i%3].write("POST", "/v1/events", "["+event(u, "purchase", "pan-1", nodes[0].clock.Stamp(0))+"]")
		if code != 200 {
			t.Fatalf("POST /v1/events = %d %s", code, out)
		}
		last = append(last, tok)
	}
	for _, n := range nodes {
		for _, tok := range last {
			n.awaitToken(tok)
		}
	}
	var posted []string
	for range users {
		posted = append(posted, nextUser(t, got))
	}
	slices.Sort(posted)
	if !slices.Equal(posted, users) {
		t.Errorf("webhook received %v, want each of %v once", posted, users)
	}
	for i, n := range nodes {
		var page struct{ Records []trigger.Record }
		if code := n.getJSON("/v1/triggers", &page); code != 200 || len(page.Records) != len(users) {
			t.Errorf("GET /v1/triggers on node %d = %d, %d records; want %d", i, code, len(page.Records), len(users))
		}
	}
	// Once the node delivering has passed the last record, nothing more is
	// POSTed: the other nodes never held the queue.
	waitForQueue(t, nodes, "buyers", uint64(len(users)))
	select {
	case rec := <-got:
		t.Errorf("webhook received %+v again", rec)
	default:
	}

	// A deletion on another node reaches every node.
	code, out, delTok := nodes[2].write("DELETE", "/v1/audiences/buyers", "")
	if code != 200 || delTok == "" {
		t.Fatalf("DELETE /v1/audiences/buyers = %d %s, token %q", code, out, delTok)
	}
	for i, n := range nodes {
		n.awaitToken(delTok)
		if _, err := n.srv.Service().Audiences().Get("buyers"); err == nil {
			t.Errorf("node %d still has the deleted audience", i)
		}
	}
}

// waitForQueue waits until exactly one of nodes delivers the audience's
// queue, with its cursor at seq.
func waitForQueue(t *testing.T, nodes []*testServer, aud string, seq uint64) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		delivering, at := 0, uint64(0)
		for _, n := range nodes {
			for _, q := range n.srv.Service().Outbox().Queues() {
				if q.Audience == aud && q.Delivering {
					delivering, at = delivering+1, q.Cursor
				}
			}
		}
		if delivering == 1 && at == seq {
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%d nodes deliver %s, cursor %d; want one, at %d", delivering, aud, at, seq)
		}
	}
}

// TestClusterExperimentsReachEveryNode: PUT /v1/experiments on one node
// answers with a token and sets the configuration on every node; a
// configuration the node refuses is a 400 naming the field, logged nowhere.
func TestClusterExperimentsReachEveryNode(t *testing.T) {
	nodes := startNodes(t, 2)
	code, out, tok := nodes[0].write("PUT", "/v1/experiments", `{"experiments":[{"id":"e1","arms":[{"name":"x"},{"name":"y"}]}]}`)
	if code != 200 || tok == "" {
		t.Fatalf("PUT /v1/experiments = %d %s, token %q; want 200 with a token", code, out, tok)
	}
	nodes[1].awaitToken(tok)
	var got struct {
		Experiments []struct{ ID string }
	}
	if code := nodes[1].getJSON("/v1/experiments", &got); code != 200 || len(got.Experiments) != 1 || got.Experiments[0].ID != "e1" {
		t.Errorf("GET /v1/experiments on the other node = %d %+v; want e1", code, got)
	}
	code, out, tok = nodes[0].write("PUT", "/v1/experiments", `{"experiments":[{"id":"e2","arms":[{"name":"x","ranker":{"sources":["nowhere"]}}]}]}`)
	if code != 400 || tok != "" || !strings.Contains(out, `"field"`) {
		t.Errorf("PUT of a configuration with an unknown source = %d %s, token %q; want 400 naming the field, no token", code, out, tok)
	}
}
