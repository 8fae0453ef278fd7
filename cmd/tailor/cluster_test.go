package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tailor-dev/tailor/cluster"
)

func TestClusterOptions(t *testing.T) {
	o, err := clusterOptions("kafka://k1:9092,k2:9093, kafka://k3:9094", "events", "n1", 24)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k1:9092", "k2:9093", "k3:9094"}; !slices.Equal(o.Log.Brokers, want) || o.Log.Topic != "events" ||
		o.Log.Node != "n1" || o.Log.Partitions != 24 {
		t.Errorf("clusterOptions = %+v, want brokers %v, topic events, node n1, 24 partitions", o.Log, want)
	}
	if o, err := clusterOptions("", "", "", 0); o != nil || err != nil {
		t.Errorf("clusterOptions(\"\") = %v, %v; want a single node", o, err)
	}
	for _, bad := range []string{"redis://r1:6379", "kafka://", "k1", "kafka://k1:9092,,k2:9092"} {
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
	k, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	broker := "kafka://" + k.ListenAddrs()[0]
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
