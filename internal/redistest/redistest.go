// Package redistest starts a Redis Cluster of real redis-server processes on
// loopback for tests, so that code written for Redis Cluster is tested
// against the real thing: slots spread over masters, MOVED replies, and
// failover when a master is killed.
//
// Every node writes its append-only file with appendfsync always and keeps
// its files and log in the test's temporary directory; the processes are
// killed when the test ends. Without redis-server in PATH, Start skips the
// test, or fails it when TAILOR_REQUIRE_REDIS is set, as CI does.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures the cluster Start makes.
type Options struct {
	// Masters is the number of masters, which share the 16384 slots evenly.
	// Default 3, the fewest that can elect a replica in a master's place.
	Masters int
	// ReplicasPerMaster is the number of replicas of each master. Default 0.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout: how long a node may be unreachable
	// before the others count it failed and one of its replicas takes over.
	// Default 2s.
	NodeTimeout time.Duration
}

// Cluster is a running Redis Cluster. Its methods are safe for concurrent
// use.
type Cluster struct {
	server  string        // path of redis-server
	timeout time.Duration // cluster-node-timeout

	mu     sync.Mutex
	nodes  []*node
	killed map[string]bool // addresses of nodes Kill stopped
}

// node is one redis-server process.
type node struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	rdb  *redis.Client
}

// waitFor is how long Start and WaitHealthy wait for the cluster.
const waitFor = 30 * time.Second

// Start starts a cluster of opts.Masters masters, each with
// opts.ReplicasPerMaster replicas, and returns once the cluster is healthy
// (see WaitHealthy) and every node knows every other. The processes are
// killed when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	server, cli := lookPath(t, "redis-server"), lookPath(t, "redis-cli")
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = 2 * time.Second
	}
	root := t.TempDir() // before Cleanup(c.stop), so that it is removed after the processes die
	c := &Cluster{server: server, timeout: opts.NodeTimeout, killed: make(map[string]bool)}
	t.Cleanup(func() { c.stop() })
	n := opts.Masters * (1 + opts.ReplicasPerMaster)
	args := []string{"--cluster", "create"}
	for i := range n {
		nd, err := startNode(server, filepath.Join(root, strconv.Itoa(i)), opts.NodeTimeout)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		c.mu.Lock()
		c.nodes = append(c.nodes, nd)
		c.mu.Unlock()
		args = append(args, nd.addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.ReplicasPerMaster), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s%s", err, out, c.logs())
	}
	c.wait(t, true)
	return c
}

// lookPath returns the path of the command name, or ends the test without
// it: a skip, unless TAILOR_REQUIRE_REDIS is set.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("TAILOR_REQUIRE_REDIS") == "" {
		t.Skip(name + " not found: this test runs a Redis Cluster of local redis-server processes; install " +
			"Debian's redis-server package to run it (CI does, and sets TAILOR_REQUIRE_REDIS=1 so that a missing server fails)")
	}
	t.Fatal(name + " not found and TAILOR_REQUIRE_REDIS is set: install Debian's redis-server package (apt-get install redis-server)")
	return ""
}

// startNode starts a redis-server in dir on a free port, trying other ports
// when the one it picked was taken in the meantime.
func startNode(server, dir string, timeout time.Duration) (*node, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		var nd *node
		if nd, err = launch(server, dir, port, timeout); err == nil {
			return nd, nil
		}
	}
	return nil, err
}

// freePort returns a loopback port that is free, and whose cluster bus port
// (port+10000) is free too.
func freePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port with a free cluster bus port")
}

// launch starts redis-server on port and waits until it answers PING, or
// fails if the process exits first (its port was taken, say).
func launch(server, dir string, port int, timeout time.Duration) (*node, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(server,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no", "--daemonize", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start redis-server: %w", err)
	}
	nd := &node{addr: addr, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(nd.done)
	}()
	nd.rdb = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := nd.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nd, nil
		}
		select {
		case <-tick.C:
		case <-nd.done:
			nd.rdb.Close()
			return nil, fmt.Errorf("redis-server on %s exited at start:\n%s", addr, tail(dir))
		case <-deadline:
			nd.kill()
			return nil, fmt.Errorf("redis-server on %s does not answer: %v\n%s", addr, err, tail(dir))
		}
	}
}

// kill kills the process and waits for it to exit.
func (nd *node) kill() {
	_ = nd.cmd.Process.Kill()
	<-nd.done
	nd.rdb.Close()
}

// stop kills every node still running.
func (c *Cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range c.nodes {
		if !c.killed[nd.addr] {
			c.killed[nd.addr] = true
			nd.kill()
		}
	}
}

// Addrs returns the host:port addresses of all the nodes Start started, in
// the order they were started, killed ones included.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addrs := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		addrs[i] = nd.addr
	}
	return addrs
}

// Client returns a cluster client that knows all the nodes, closed when the
// test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Kill kills the node at addr with SIGKILL and waits for it to exit. It
// panics if no node of c has that address.
func (c *Cluster) Kill(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range c.nodes {
		if nd.addr == addr {
			if !c.killed[addr] {
				c.killed[addr] = true
				nd.kill()
			}
			return
		}
	}
	panic("redistest: no node at " + addr)
}

// Restart starts the node at addr again after Kill, on the same port and
// with the same files, and waits until it answers. It rejoins the cluster by
// itself, as a replica of the master that took its place if it was failed
// over; WaitHealthy waits until it has. Restart panics if no node of c has
// that address.
func (c *Cluster) Restart(t testing.TB, addr string) {
	t.Helper()
	c.mu.Lock()
	i := slices.IndexFunc(c.nodes, func(nd *node) bool { return nd.addr == addr })
	if i < 0 {
		c.mu.Unlock()
		panic("redistest: no node at " + addr)
	}
	if !c.killed[addr] {
		c.mu.Unlock()
		t.Fatalf("redistest: Restart(%s) of a running node", addr)
	}
	dir := c.nodes[i].dir
	c.mu.Unlock()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	nd, err := launch(c.server, dir, p, c.timeout)
	if err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[i] = nd
	delete(c.killed, addr)
}

// alive returns the nodes that Kill has not stopped.
func (c *Cluster) alive() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []*node
	for _, nd := range c.nodes {
		if !c.killed[nd.addr] {
			live = append(live, nd)
		}
	}
	return live
}

// Masters returns the addresses of the masters that serve slots, as the
// first live node sees them, sorted.
func (c *Cluster) Masters(t testing.TB) []string {
	t.Helper()
	live := c.alive()
	if len(live) == 0 {
		t.Fatal("redistest: every node is killed")
	}
	masters, err := slotMasters(context.Background(), live[0].rdb)
	if err != nil {
		t.Fatalf("redistest: CLUSTER SLOTS: %v", err)
	}
	return masters
}

// slotMasters returns the sorted addresses of the masters CLUSTER SLOTS
// names, and an error unless they serve all 16384 slots.
func slotMasters(ctx context.Context, rdb *redis.Client) ([]string, error) {
	//lint:ignore SA1019 clients, go-redis among them, route by CLUSTER SLOTS: it is the view to wait for.
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	var masters []string
	covered := 0
	for _, s := range slots {
		covered += s.End - s.Start + 1
		if len(s.Nodes) > 0 && !slices.Contains(masters, s.Nodes[0].Addr) {
			masters = append(masters, s.Nodes[0].Addr)
		}
	}
	slices.Sort(masters)
	if covered != 16384 {
		return masters, fmt.Errorf("%d of 16384 slots served", covered)
	}
	return masters, nil
}

// WaitHealthy waits until the cluster is whole again after Kill or Restart:
// every live node reports cluster_state:ok and all slots served by live
// masters, the same masters as the others see, and every live replica is in
// sync with its master.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	c.wait(t, false)
}

// wait polls the live nodes until they are healthy (see WaitHealthy); at
// start, each must also know every node.
func (c *Cluster) wait(t testing.TB, start bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for {
		err := c.healthy(start)
		if err == nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("redistest: cluster not healthy after %v: %v\n%s", waitFor, err, c.logs())
		}
	}
}

// healthy returns why the cluster is not healthy yet, or nil.
func (c *Cluster) healthy(start bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	live := c.alive()
	var agreed []string // the masters of the slots, as the first node sees them
	for _, nd := range live {
		info, err := nd.rdb.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", nd.addr, err)
		}
		want := []string{"cluster_state:ok", "cluster_slots_ok:16384"}
		if start {
			want = append(want, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes)))
		}
		for _, w := range want {
			if !hasLine(info, w) {
				return fmt.Errorf("%s: no %s in CLUSTER INFO", nd.addr, w)
			}
		}
		masters, err := slotMasters(ctx, nd.rdb)
		if err != nil {
			return fmt.Errorf("%s: CLUSTER SLOTS: %w", nd.addr, err)
		}
		for _, m := range masters {
			if !slices.ContainsFunc(live, func(nd *node) bool { return nd.addr == m }) {
				return fmt.Errorf("%s: killed node %s still serves slots", nd.addr, m)
			}
		}
		if agreed == nil {
			agreed = masters
		} else if !slices.Equal(masters, agreed) {
			return fmt.Errorf("%s sees masters %v, %s sees %v", nd.addr, masters, live[0].addr, agreed)
		}
		repl, err := nd.rdb.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("%s: INFO replication: %w", nd.addr, err)
		}
		if hasLine(repl, "role:slave") && !hasLine(repl, "master_link_status:up") {
			return fmt.Errorf("%s: replica not in sync with its master", nd.addr)
		}
	}
	return nil
}

// hasLine reports whether the INFO-style text holds the line.
func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// logs returns the tails of every node's log, for a failure message.
func (c *Cluster) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sb strings.Builder
	for _, nd := range c.nodes {
		fmt.Fprintf(&sb, "--- %s:\n%s", nd.addr, tail(nd.dir))
	}
	return sb.String()
}

// tail returns the last lines of the log in dir.
func tail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return string(bytes.Join(lines, nil))
}
