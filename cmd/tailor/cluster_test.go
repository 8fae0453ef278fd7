package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/internal/kafkatest"
	"github.com/tailor-dev/tailor/internal/redistest"
)

func TestClusterOptions(t *testing.T) {
	cs, err := clusterOptions("kafka://k1:9092,k2:9093, kafka://k3:9094,redis://r1:6379,r2:6380", "events", "n1", 24)
	if err != nil {
		t.Fatal(err)
	}
	o := cs.opts
	if want := []string{"k1:9092", "k2:9093", "k3:9094"}; !slices.Equal(o.Log.Brokers, want) || o.Log.Topic != "events" ||
		o.Log.Node != "n1" || o.Log.Partitions != 24 {
		t.Errorf("clusterOptions = %+v, want brokers %v, topic events, node n1, 24 partitions", o.Log, want)
	}
	if want := []string{"r1:6379", "r2:6380"}; !slices.Equal(cs.redis, want) {
		t.Errorf("redis nodes %v, want %v", cs.redis, want)
	}
	if cs, err := clusterOptions("", "", "", 0); cs.opts != nil || err != nil {
		t.Errorf("clusterOptions(\"\") = %v, %v; want a single node", cs.opts, err)
	}
	for _, bad := range []string{"redis://r1:6379", "kafka://", "k1", "kafka://k1:9092,,k2:9092", "http://k1:80",
		"kafka://k1:9092,redis://r1:6379" /* no --node-name */} {
		if _, err := clusterOptions(bad, "", "", 0); err == nil {
			t.Errorf("clusterOptions(%q) = nil error", bad)
		}
	}
	if _, err := clusterOptions("", "", "n1", 0); err == nil {
		t.Error("--node-name without --cluster was accepted")
	}
}

// TestClusterNodeKilledUnderLoad runs three tailor processes as nodes of one
// cluster over an in-process Kafka, writes to all three from several
// clients, and kills one with SIGKILL while they write. The two others hold
// every event any node acknowledged, serve the killed node's users, and the
// killed node, restarted on its data directory, catches up and holds them
// too.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	bin := buildTailor(t)
	_, brokers := kafkatest.Start(t, 1)
	broker := "kafka://" + brokers[0]
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	flags := func(i int) []string {
		return []string{"--cluster", broker, "--node-name", fmt.Sprintf("n%d", i), "--cluster-partitions", "6"}
	}
	var nodes []*process
	for i, dir := range dirs {
		nodes = append(nodes, startTailor(t, bin, dir, flags(i)...))
	}
	nodes[0].post(t, "/v1/items", `[{"id":"a","title":"Trail Shoe","category":["Sports","Running"]},{"id":"b","title":"Road Shoe","category":["Sports","Running"]}]`)

	// Each client writes to one node, as its own users (w<node>-<client>-<n>).
	const clients, batches, perBatch = 6, 30, 5
	type tally struct {
		acked, sent map[string]int
		tokens      []string
	}
	results := make([]tally, clients)
	killAt := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[c%3]
			r := tally{acked: map[string]int{}, sent: map[string]int{}}
			for b := range batches {
				if c%3 == 0 && b == batches/3 {
					once.Do(func() { close(killAt) })
				}
				user := fmt.Sprintf("w%d-%d-%d", c%3, c, b%4)
				evs := make([]string, perBatch)
				for i := range evs {
					evs[i] = fmt.Sprintf(`{"id":"e%d-%d-%d","user":%q,"type":"view","item":"a"}`, c, b, i, user)
				}
				r.sent[user] += perBatch
				resp, err := http.Post(node.base+"/v1/events", "application/json", strings.NewReader("["+strings.Join(evs, ",")+"]"))
				if err != nil {
					continue // the killed node: not acknowledged
				}
				var ans struct{ Token string }
				err = json.NewDecoder(resp.Body).Decode(&ans)
				resp.Body.Close()
				if resp.StatusCode == 200 && err == nil {
					r.acked[user] += perBatch
					r.tokens = append(r.tokens, ans.Token)
				}
			}
			results[c] = r
		}()
	}
	<-killAt
	if err := nodes[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[2].cmd.Wait()
	wg.Wait()

	var all cluster.Token
	acked, sent := map[string]int{}, map[string]int{}
	for _, r := range results {
		for _, text := range r.tokens {
			tok, err := cluster.ParseToken(text)
			if err != nil {
				t.Fatalf("events answer token %q: %v", text, err)
			}
			all = all.Merge(tok)
		}
		maps.Copy(acked, r.acked)
		maps.Copy(sent, r.sent)
	}
	check := func(p *process, name string) {
		t.Helper()
		awaitToken(t, p, all)
		for user, n := range sent {
			got := p.userEvents(t, user)
			if got < acked[user] || got > n {
				t.Errorf("%s holds %d events of %s; %d were acknowledged, %d sent", name, got, user, acked[user], n)
			}
			if !strings.HasPrefix(user, "w2-") && got != acked[user] {
				t.Errorf("%s holds %d events of %s, want the %d acknowledged", name, got, user, acked[user])
			}
		}
	}
	check(nodes[0], "node 0")
	check(nodes[1], "node 1")
	// The killed node's users are served by the others.
	if out := nodes[0].post(t, "/v1/recommend", `{"user":"w2-2-0","n":1}`); !strings.Contains(out, `"items":[{`) {
		t.Errorf("node 0 recommends %s to a user of the killed node", out)
	}

	start := time.Now()
	nodes[2] = startTailor(t, bin, dirs[2], flags(2)...)
	for {
		resp, err := http.Get(nodes[2].base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the restarted node is not ready after a minute: /readyz %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's readiness
	}
	t.Logf("the killed node was ready again %v after its restart", time.Since(start).Round(time.Millisecond))
	check(nodes[2], "the restarted node")
}

// awaitToken asks p for a recommendation after tok until p has applied it.
func awaitToken(t *testing.T, p *process, tok cluster.Token) {
	t.Helper()
	body := fmt.Sprintf(`{"after":%q}`, tok.String())
	for range 60 {
		resp, err := http.Post(p.base+"/v1/recommend", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return
		}
		if resp.StatusCode != 503 {
			t.Fatalf("recommend after %s = %d", tok, resp.StatusCode)
		}
	}
	t.Fatalf("%s never applied %s", p.base, tok)
}

// TestClusterBudgetsHoldAcrossNodes runs three tailor nodes that share a
// campaign's budget through a real Redis Cluster (three masters, a replica
// each, writes acknowledged by a replica) and a Kafka log, bids on all three
// until the budget is spent, sends every billing notice to the node that bid
// and a quarter of them again to another node, and meanwhile kills one node
// and the Redis master that holds the budget. The spend the bank booked is
// the sum of the distinct auctions billed, each once; spent and leased never
// pass the budget, and together they account for all of it (the killed
// node's lease is leased until the others take it back, once its mark of
// life lapses).
func TestClusterBudgetsHoldAcrossNodes(t *testing.T) {
	bin := buildTailor(t)
	rc := redistest.Start(t, redistest.Options{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: 2 * time.Second})
	_, brokers := kafkatest.Start(t, 1)
	keyFile := filepath.Join(t.TempDir(), "notice.key")
	if err := os.WriteFile(keyFile, []byte("a notice key all three nodes share"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := "kafka://" + brokers[0] + ",redis://" + strings.Join(rc.Addrs(), ",")
	var nodes []*process
	for i := range 3 {
		nodes = append(nodes, startTailor(t, bin, t.TempDir(), "--cluster", spec, "--node-name", fmt.Sprintf("b%d", i),
			"--cluster-partitions", "3", "--notice-key-file", keyFile, "--bank-replicas", "1"))
	}
	const budget = 1_000_000 // micros: one dollar
	campaign := `[{"id":"c1","advertiser":"Fellstride","adomain":["fellstride.example"],
	  "budget":{"total":1,"currency":"USD"},"pacing":"asap","bid":{"strategy":"cpm","max_cpm":4},
	  "creatives":[{"id":"cr","format":"banner","w":300,"h":250,"adm":"<b>ad</b>"}]}]`
	resp, err := http.Post(nodes[0].base+"/v1/campaigns", "application/json", strings.NewReader(campaign))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /v1/campaigns = %v, %v", resp, err)
	}
	resp.Body.Close()
	tok, err := cluster.ParseToken(resp.Header.Get("Tailor-Token"))
	if err != nil || tok.IsZero() {
		t.Fatalf("campaign write token %q: %v", resp.Header.Get("Tailor-Token"), err)
	}
	for _, n := range nodes {
		awaitToken(t, n, tok)
	}

	billed := map[string]int64{} // auction -> micros
	live := []int{0, 1, 2}
	idle := 0
	for round := 0; idle < 100 && round < 3000; round++ { // 5 s without a bid: the budget is spent
		switch round {
		case 30:
			nodes[2].cmd.Process.Signal(syscall.SIGKILL)
			nodes[2].cmd.Wait()
			live = []int{0, 1}
		case 60:
			master, err := rc.Client(t).MasterForKey(context.Background(), "{c1/total}")
			if err != nil {
				t.Fatal(err)
			}
			addr := master.Options().Addr
			rc.Kill(addr)
			rc.WaitHealthy(t)
			rc.Restart(t, addr) // back as a replica, so that writes are acknowledged again
			t.Logf("killed the budget's Redis master %s at round %d; failed over", addr, round)
		}
		bids := 0
		for j, i := range live {
			auction := fmt.Sprintf("r%d-n%d", round, i)
			body := fmt.Sprintf(`{"id":%q,"at":1,"cur":["USD"],"tmax":500,"imp":[{"id":"1","banner":{"w":300,"h":250}}],
			  "site":{"domain":"news.example"},"device":{"devicetype":2},"user":{"buyeruid":"u%d"}}`, auction, round%50)
			resp, err := http.Post(nodes[i].base+"/openrtb2/bid", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var br struct {
				SeatBid []struct {
					Bid []struct {
						Price float64
						BURL  string
					}
				}
			}
			err = json.NewDecoder(resp.Body).Decode(&br)
			resp.Body.Close()
			if resp.StatusCode == 204 {
				continue
			}
			if err != nil || resp.StatusCode != 200 || len(br.SeatBid) != 1 || len(br.SeatBid[0].Bid) != 1 {
				t.Fatalf("bid answer %d: %+v, %v", resp.StatusCode, br, err)
			}
			bids++
			b := br.SeatBid[0].Bid[0]
			u, err := url.Parse(b.BURL)
			if err != nil {
				t.Fatal(err)
			}
			q := strings.NewReplacer("${AUCTION_ID}", auction, "${AUCTION_IMP_ID}", "1",
				"${AUCTION_PRICE}", strconv.FormatFloat(b.Price, 'f', -1, 64)).Replace(u.RawQuery)
			notice := u.Path + "?" + q
			billed[auction] = int64(math.Round(b.Price * 1000)) // CPM dollars -> micros per impression
			sendNotice(t, nodes[i], notice)
			if round%4 == 0 {
				sendNotice(t, nodes[live[(j+1)%len(live)]], notice)
			}
		}
		if bids == 0 {
			idle++
			time.Sleep(50 * time.Millisecond) // leases refill off the bid path, in the nodes
		} else {
			idle = 0
		}
	}
	var sum int64
	for _, v := range billed {
		sum += v
	}
	b, err := bank.NewRedis(rc.Client(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.State(context.Background(), bank.Budget{Campaign: "c1", Period: "total", Limit: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d auctions billed, %d micros; the bank: spent %d, leased %d (%v)", len(billed), sum, st.Spent, st.Leased, st.Nodes)
	if st.Spent != sum {
		t.Errorf("the bank booked %d micros, the auctions billed %d: a notice was booked twice or lost", st.Spent, sum)
	}
	if st.Spent > budget || st.Spent+st.Leased > budget {
		t.Errorf("spent %d, leased %d: past the budget %d", st.Spent, st.Leased, budget)
	}
	if st.Spent+st.Leased < budget-3*4000 {
		t.Errorf("spent %d, leased %d: more than a bid per node of the budget %d unaccounted for", st.Spent, st.Leased, budget)
	}
	if st.Spent < budget/2 {
		t.Errorf("only %d of %d spent: the nodes stopped bidding with budget left", st.Spent, budget)
	}
}

// sendNotice sends a notice to p until it is answered applied or duplicate,
// as an exchange retries one that failed.
func sendNotice(t *testing.T, p *process, pathAndQuery string) {
	t.Helper()
	for range 100 {
		resp, err := http.Get(p.base + pathAndQuery)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			if !strings.Contains(string(out), "applied") && !strings.Contains(string(out), "duplicate") {
				t.Fatalf("notice answer %s", out)
			}
			return
		}
		if resp.StatusCode < 500 {
			t.Fatalf("notice %s = %d %s", pathAndQuery, resp.StatusCode, out)
		}
		time.Sleep(100 * time.Millisecond) // the bank is failing over
	}
	t.Fatalf("notice %s never applied", pathAndQuery)
}
