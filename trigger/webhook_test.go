package trigger

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/kv"
)

// deadline bounds every wait for a condition: generous, so a slow machine
// never fails a test that would pass.
const deadline = 30 * time.Second

const secret = "0123456789abcdef-test-secret"

// env is an outbox and an audience store on a real Pebble, with a clock the
// test sets.
type env struct {
	t     *testing.T
	db    *pebble.DB
	store *Pebble
	out   *Outbox
	aud   *audience.Store
	now   atomic.Int64 // Unix ms, the audience store's clock
	log   logLines
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := kv.Open(t.TempDir(), kv.Options{CacheBytes: 1 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing Pebble: %v", err)
		}
	})
	e := &env{t: t, db: db}
	e.now.Store(1000)
	if e.store, err = OpenPebble(db); err != nil {
		t.Fatal(err)
	}
	e.out = OpenOutbox(e.store, OutboxOptions{})
	e.openAudiences()
	return e
}

func (e *env) openAudiences() {
	e.t.Helper()
	var err error
	if e.aud, err = audience.Open(e.db, func() time.Time { return time.UnixMilli(e.now.Load()) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) put(name, webhook, secret string) {
	e.t.Helper()
	a := &audience.Audience{Name: name, Expression: "purchases > 0", Trigger: &audience.Trigger{Webhook: webhook, Secret: secret}}
	if err := e.aud.Put(a); err != nil {
		e.t.Fatalf("Put(%s) = %v", name, err)
	}
}

// enter appends a record, stamped ts, for each user entering the audience
// called name (which need not exist).
func (e *env) enter(name string, ts int64, users ...string) {
	e.t.Helper()
	evals := make([]Evaluation, len(users))
	for i, u := range users {
		evals[i] = Evaluation{User: u, Member: func(*audience.Audience) bool { return true }}
	}
	recs, err := e.out.Apply([]*audience.Audience{{Name: name}}, evals, ts)
	if err != nil || len(recs) != len(users) {
		e.t.Fatalf("Apply(%s, %v) = %d records, %v", name, users, len(recs), err)
	}
}

// deliver runs Deliver until the returned function, or the end of the test,
// stops it; either waits for Deliver to return.
func (e *env) deliver(opts DeliveryOptions) (stop func()) {
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 2*time.Millisecond
	}
	if opts.Poll == 0 {
		opts.Poll = time.Millisecond
	}
	opts.Logger = log.New(&e.log, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.out.Deliver(ctx, e.aud, opts)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			if q := e.out.Queues(); len(q) != 0 {
				e.t.Errorf("Queues() after Deliver returned = %v, want none", q)
			}
		})
	}
	e.t.Cleanup(stop) // before Pebble closes
	return stop
}

func (e *env) queue(name string) (QueueStatus, bool) {
	for _, q := range e.out.Queues() {
		if q.Audience == name {
			return q, true
		}
	}
	return QueueStatus{}, false
}

func (e *env) cursorStored(name string) bool {
	_, ok, err := e.store.getMeta(cursorKey(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// waitFor waits until cond holds, failing the test after deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", deadline, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logLines collects what a log.Logger writes.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// hook is a webhook receiver that checks each POST's signature with its
// secret. It answers status (200 when 0) and, on 2xx, passes the record on.
type hook struct {
	*httptest.Server
	secret string
	status atomic.Int32
	calls  atomic.Int32
	badSig atomic.Int32
	got    chan Record
}

func newHook(t *testing.T, secret string, status int) *hook {
	h := &hook{secret: secret, got: make(chan Record, 100)}
	h.status.Store(int32(status))
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if !validSignature(h.secret, body, r.Header.Get("X-Tailor-Signature")) {
			h.badSig.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if s := int(h.status.Load()); s != 0 && s != 200 {
			http.Error(w, "no", s)
			return
		}
		var rec Record
		if err := json.Unmarshal(body, &rec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.got <- rec
	}))
	t.Cleanup(h.Close)
	return h
}

// validSignature recomputes the signature as a receiver would.
func validSignature(secret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || hexSig != strings.ToLower(hexSig) {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// receive returns the users of the next n records h accepts, failing the
// test after deadline.
func (h *hook) receive(t *testing.T, n int) []string {
	t.Helper()
	var users []string
	timeout := time.After(deadline)
	for len(users) < n {
		select {
		case r := <-h.got:
			users = append(users, r.User)
		case <-timeout:
			t.Fatalf("hook received %v, want %d records", users, n)
		}
	}
	return users
}

func wantUsers(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s received %v, want %v", who, got, want)
	}
}

// countingTransport counts the requests sent to each host, in the sending
// goroutine: once a queue has stopped, no request of its can be counted.
type countingTransport struct {
	mu   sync.Mutex
	sent map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.sent == nil {
		c.sent = map[string]int{}
	}
	c.sent[r.URL.Host]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[host]
}

func TestDeliverDeadHookHoldsUpOnlyItsAudience(t *testing.T) {
	e := newEnv(t)
	dead := newHook(t, secret, 500)
	live := newHook(t, secret, 200)
	// "a-dead" sorts first: with one loop over the outbox, its first record
	// would hold up every other.
	e.put("a-dead", dead.URL, secret)
	e.put("b-live", live.URL, secret)
	for _, u := range []string{"u1", "u2", "u3"} {
		e.enter("a-dead", 2000, u)
		e.enter("b-live", 2000, u)
	}
	e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "live hook", live.receive(t, 3), "u1", "u2", "u3")
	waitFor(t, "the dead hook's queue to retry", func() bool {
		q, _ := e.queue("a-dead")
		return q.Failures >= 2
	})
	if q, _ := e.queue("a-dead"); q.Cursor != 0 {
		t.Errorf("dead queue cursor = %d, want 0 (its first record is not delivered)", q.Cursor)
	}
	if n := dead.badSig.Load() + live.badSig.Load(); n != 0 {
		t.Errorf("%d POSTs with a bad signature", n)
	}
}

func TestDeliverDeleteStopsQueue(t *testing.T) {
	for _, tt := range []struct {
		name     string
		min, max time.Duration
		attempts int // seen before the deletion
	}{
		{"while retrying", time.Millisecond, 2 * time.Millisecond, 3},
		{"in a backoff wait", time.Hour, time.Hour, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			dead := newHook(t, secret, 500)
			live := newHook(t, secret, 200)
			e.put("a-dead", dead.URL, secret)
			e.put("b-live", live.URL, secret)
			e.enter("a-dead", 2000, "u1")
			e.enter("b-live", 2000, "u1")
			sent := &countingTransport{}
			// Poll is an hour: only the deletion itself can wake the supervisor.
			e.deliver(DeliveryOptions{AllowPrivate: true, MinBackoff: tt.min, MaxBackoff: tt.max,
				Poll: time.Hour, Client: &http.Client{Transport: sent}})
			wantUsers(t, "live hook", live.receive(t, 1), "u1")
			deadHost := strings.TrimPrefix(dead.URL, "http://")
			waitFor(t, "the dead hook to be tried", func() bool { return sent.count(deadHost) >= tt.attempts })

			if err := e.aud.Delete("a-dead"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the dead queue to stop", func() bool { _, ok := e.queue("a-dead"); return !ok })
			stopped := sent.count(deadHost)
			waitFor(t, "the dead queue's cursor to be deleted", func() bool { return !e.cursorStored("a-dead") })

			// The live hook keeps receiving; the dead one gets nothing more.
			for _, u := range []string{"u2", "u3", "u4"} {
				e.enter("b-live", 3000, u)
				wantUsers(t, "live hook", live.receive(t, 1), u)
			}
			if n := sent.count(deadHost); n != stopped {
				t.Errorf("%d POSTs to the deleted audience's hook after its queue stopped", n-stopped)
			}
			if !e.cursorStored("b-live") {
				t.Error("the live queue's cursor is gone")
			}
		})
	}
}

func TestDeliverHookChangeStopsAPostInFlight(t *testing.T) {
	e := newEnv(t)
	arrived, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	got := make(chan string, 1)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/new" {
			var rec Record
			json.NewDecoder(r.Body).Decode(&rec)
			got <- rec.User
			return
		}
		io.ReadAll(r.Body) // then the server watches the connection, to cancel r's context
		arrived <- struct{}{}
		<-r.Context().Done() // the old hook answers nothing: the client must give up
		cancelled <- struct{}{}
	}))
	t.Cleanup(h.Close) // after Deliver stops
	e.put("a", h.URL+"/old", secret)
	e.enter("a", 2000, "u1")
	e.deliver(DeliveryOptions{AllowPrivate: true, Timeout: time.Hour, Poll: time.Hour})
	wait := func(c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(deadline):
			t.Fatalf("waited %v for %s", deadline, what)
		}
	}
	wait(arrived, "the POST to the old hook")
	e.put("a", h.URL+"/new", secret)
	wait(cancelled, "the POST to the old hook to be abandoned")
	select {
	case u := <-got:
		if u != "u1" {
			t.Errorf("new hook received %s, want u1", u)
		}
	case <-time.After(deadline):
		t.Fatal("the new hook received nothing")
	}
}

func TestDeliverHookChangeKeepsPendingRecords(t *testing.T) {
	e := newEnv(t)
	dead := newHook(t, secret, 503)
	live := newHook(t, "another-secret-of-16+", 200)
	e.put("a", dead.URL, secret)
	e.enter("a", 2000, "u1", "u2")
	e.deliver(DeliveryOptions{AllowPrivate: true})
	waitFor(t, "the dead hook to be retried", func() bool { return dead.calls.Load() >= 2 })
	e.now.Store(5000) // the records predate the change: they are still delivered
	e.put("a", live.URL, "another-secret-of-16+")
	e.enter("a", 6000, "u3")
	wantUsers(t, "new hook", live.receive(t, 3), "u1", "u2", "u3")
	if n := live.badSig.Load(); n != 0 {
		t.Errorf("%d POSTs signed with the old secret", n)
	}
}

func TestDeliverMigratesLegacyCursor(t *testing.T) {
	e := newEnv(t)
	h := newHook(t, secret, 200)
	e.put("a", h.URL, secret)       // Updated 1000
	e.enter("a", 2000, "u1")        // seq 1: delivered by the old loop
	e.enter("a", 2000, "u2")        // seq 2
	e.enter("a", 900, "u3")         // seq 3: stamped before the audience was updated
	e.enter("elsewhere", 2000, "x") // seq 4: another audience's
	e.enter("a", 2000, "u4")        // seq 5
	if err := e.db.Set(legacyKey, binary.BigEndian.AppendUint64(nil, 1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "hook", h.receive(t, 2), "u2", "u4")
	waitFor(t, "the cursor to pass the last record", func() bool { q, _ := e.queue("a"); return q.Cursor == 5 })
}

func TestDeliverNewAudienceGetsNoEarlierRecords(t *testing.T) {
	e := newEnv(t)
	h := newHook(t, secret, 200)
	e.enter("a", 500, "u0") // before the audience exists; no legacy cursor
	e.put("a", h.URL, secret)
	e.enter("a", 1000, "u1")
	stop := e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "hook", h.receive(t, 1), "u1")
	waitFor(t, "the cursor to be stored", func() bool { q, _ := e.queue("a"); return q.Cursor == 2 })
	stop()

	// Deleted and created again while no Deliver watches: the cursor left
	// behind belongs to the former audience and must not be followed.
	if err := e.aud.Delete("a"); err != nil {
		t.Fatal(err)
	}
	e.enter("a", 1500, "u2") // an evaluation that still saw the former audience
	e.now.Store(2000)
	e.put("a", h.URL, secret)
	e.enter("a", 2000, "u3")
	e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "hook", h.receive(t, 1), "u3")
}

func TestDeliverResumesAfterRestart(t *testing.T) {
	e := newEnv(t)
	h := newHook(t, secret, 200)
	e.put("a", h.URL, secret)
	e.enter("a", 2000, "u1", "u2")
	stop := e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "hook", h.receive(t, 2), "u1", "u2")
	waitFor(t, "the cursor to be stored", func() bool { q, _ := e.queue("a"); return q.Cursor == 2 })
	stop()
	e.enter("a", 3000, "u3")
	e.openAudiences()
	e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "hook after a restart", h.receive(t, 1), "u3")
}

func TestDeliverWithoutSecretWaitsForOne(t *testing.T) {
	e := newEnv(t)
	h := newHook(t, secret, 200)
	// An audience stored before secrets existed.
	old := fmt.Sprintf(`{"name":"old","expression":"purchases > 0","trigger":{"webhook":%q},"updated":1000}`, h.URL)
	if err := e.db.Set(kv.Key(kv.PrefixAudience, "old"), []byte(old), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	e.openAudiences()
	e.enter("old", 2000, "u1")
	e.deliver(DeliveryOptions{AllowPrivate: true})
	waitFor(t, "the missing secret to be logged", func() bool { return e.log.count("no secret") > 0 })
	// Another audience's record goes through: the supervisor has run again
	// since, and the old audience was left alone.
	e.put("other", h.URL, secret)
	e.enter("other", 2000, "v1")
	wantUsers(t, "hook", h.receive(t, 1), "v1")
	if n := e.log.count("no secret"); n != 1 {
		t.Errorf("the missing secret was logged %d times, want once", n)
	}
	if _, ok := e.queue("old"); ok {
		t.Error("the queue of an audience without a secret is listed as running")
	}
	// Setting the secret delivers what waited.
	e.now.Store(3000)
	e.put("old", h.URL, secret)
	wantUsers(t, "hook", h.receive(t, 1), "u1")
}

func TestDeliverRefusesInternalAddresses(t *testing.T) {
	e := newEnv(t)
	h := newHook(t, secret, 200)
	port := h.URL[strings.LastIndexByte(h.URL, ':'):]
	// "localhost" resolves (from /etc/hosts) to a loopback address: the check
	// is on the address dialled, after resolution.
	e.put("by-name", "http://localhost"+port+"/hook", secret)
	e.put("by-address", h.URL, secret)
	e.enter("by-name", 2000, "u1")
	e.enter("by-address", 2000, "u1")
	e.deliver(DeliveryOptions{})
	waitFor(t, "both queues to fail twice", func() bool {
		a, _ := e.queue("by-name")
		b, _ := e.queue("by-address")
		return a.Failures >= 2 && b.Failures >= 2
	})
	if n := h.calls.Load(); n != 0 {
		t.Errorf("the loopback hook was reached %d times", n)
	}
	if e.log.count("refusing to connect") == 0 {
		t.Errorf("the log does not say why: %q", e.log.lines)
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client *http.Client
	}{
		{"default client", nil},
		{"client given", &http.Client{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			target := newHook(t, secret, 200)
			redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
			defer redirect.Close()
			e.put("a", redirect.URL, secret)
			e.enter("a", 2000, "u1")
			e.deliver(DeliveryOptions{AllowPrivate: true, Client: tt.client})
			waitFor(t, "the redirect to count as a failure twice", func() bool { q, _ := e.queue("a"); return q.Failures >= 2 })
			if n := target.calls.Load(); n != 0 {
				t.Errorf("the redirect was followed %d times", n)
			}
		})
	}
}
