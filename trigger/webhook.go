package trigger

import (
	"context"
	"log"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tailor-dev/tailor/audience"
)

// DeliveryOptions configures webhook delivery. Zero fields take defaults.
type DeliveryOptions struct {
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles after each failure. Defaults 1 s and 5 min.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one POST. Default 10 s.
	Timeout time.Duration
	// Poll is how often an idle queue checks the outbox besides when records
	// are appended, and how often the queues are reconciled with the audience
	// list besides at each change of it: a safety net, delivery does not wait
	// for it. Default 1 s.
	Poll time.Duration
	// AllowPrivate lets webhooks reach internal addresses: loopback, private
	// (RFC 1918, fc00::/7), link-local (169.254.0.0/16, where cloud metadata
	// services answer, and fe80::/10), unspecified, multicast and
	// carrier-grade NAT (100.64.0.0/10). Default false: CheckWebhookURL
	// refuses such a hook when it is stored, and the default Client refuses to
	// connect to such an address, which catches a name that resolves to one.
	// Set it for hooks on the same host or network, as in development.
	AllowPrivate bool
	// Client sends the requests. Default: a client with Timeout that refuses
	// internal addresses (unless AllowPrivate), uses no proxy (a proxy would
	// connect on its behalf, to an address it cannot check) and does not
	// follow redirects.
	//
	// A Client given is used with its own transport, dialer and proxy:
	// refusing internal addresses when connecting is then its business
	// (CheckWebhookURL still applies when hooks are stored). Deliver only
	// keeps it from following redirects when its CheckRedirect is nil, by
	// using a copy with one set; a CheckRedirect given is kept.
	Client *http.Client
	// Logger receives the failures of delivery. Default log.Default().
	Logger *log.Logger
}

func (opts DeliveryOptions) withDefaults() DeliveryOptions {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = log.Default()
	}
	return opts
}

// Audiences is the audience list Deliver follows; *audience.Store is one.
type Audiences interface {
	// Triggered returns the audiences with a trigger.
	Triggered() []*audience.Audience
	// Changed returns a channel closed at the next change of the list.
	Changed() <-chan struct{}
}

// Deliver POSTs the outbox records of every audience with a webhook to that
// webhook, until ctx ends.
//
// Each such audience has its own queue: a goroutine that reads the outbox
// after its own stored cursor, passes over other audiences' records and POSTs
// its own in order, each signed (see Signature) with the audience's secret,
// retrying a failed POST (an error, or an answer other than 2xx, a redirect
// included) with exponential backoff until it is accepted. A dead hook thus
// holds up only its own audience. A record is POSTed again when the queue
// stops after the POST but before its cursor is stored: delivery is
// at-least-once, in order within an audience and in no set order across
// audiences.
//
// The queues follow src: at each change of it, and every Poll, a queue starts
// for each new hook, and the queue of an audience deleted, or whose webhook
// or secret changed, is stopped at once, even in the middle of a POST or of a
// backoff wait. A queue restarted for a new webhook or secret keeps its
// cursor, so the records still pending go to the new hook; the cursor of an
// audience deleted, or left without a webhook, is deleted.
//
// A queue without a cursor of its own (a new hook, or the first run after an
// upgrade from the single cursor of earlier versions) starts from that
// earlier cursor if one is stored, else from the start of the outbox, and
// passes over the records stamped before the audience's Updated time: a new
// or re-created audience never receives the records from before it had its
// hook.
//
// An audience with a webhook but no secret (stored before secrets existed)
// is not delivered: its queue logs once that a secret must be set, and its
// records wait, kept by its cursor, until one is.
//
// Deliver returns when ctx ends, once every queue has stopped. It must not
// run more than once at a time on one Outbox.
func (o *Outbox) Deliver(ctx context.Context, src Audiences, opts DeliveryOptions) {
	opts = opts.withDefaults()
	client, release := newClient(opts)
	defer release()
	queues := map[string]*worker{}
	o.qmu.Lock()
	if o.queues != nil {
		o.qmu.Unlock()
		panic("trigger: Deliver is already running on this outbox")
	}
	o.queues = queues
	o.qmu.Unlock()
	defer func() {
		o.stop(queues, func(*worker) bool { return true })
		o.qmu.Lock()
		o.queues = nil
		o.qmu.Unlock()
	}()
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	for {
		changed := src.Changed() // before the list, so no change goes unseen
		o.reconcile(ctx, queues, src.Triggered(), client, opts)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
		}
	}
}

// reconcile makes queues hold one worker per audience of list with a
// webhook, and deletes the cursors of the audiences without one.
func (o *Outbox) reconcile(ctx context.Context, queues map[string]*worker, list []*audience.Audience, client *http.Client, opts DeliveryOptions) {
	want := make(map[string]*audience.Audience, len(list))
	for _, a := range list {
		if a.Trigger != nil && a.Trigger.Webhook != "" {
			want[a.Name] = a
		}
	}
	o.stop(queues, func(w *worker) bool {
		a, ok := want[w.name]
		return !ok || !w.serves(a)
	})
	for name, a := range want {
		if queues[name] != nil {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &worker{
			name:        name,
			webhook:     a.Trigger.Webhook,
			secret:      a.Trigger.Secret,
			incarnation: a.Incarnation(),
			updated:     a.Updated,
			client:      client,
			cancel:      cancel,
			done:        make(chan struct{}),
		}
		o.qmu.Lock()
		queues[name] = w
		o.qmu.Unlock()
		go func() {
			defer close(w.done)
			o.run(wctx, w, opts)
		}()
	}
	if err := o.store.DropCursors(ctx, func(name string) bool { return queues[name] != nil }); err != nil && ctx.Err() == nil {
		opts.Logger.Printf("trigger: cannot delete the cursors of audiences without a webhook: %v", err)
	}
}

// stop cancels the workers of queues that match, waits for them to return and
// removes them.
func (o *Outbox) stop(queues map[string]*worker, match func(*worker) bool) {
	var stopped []*worker
	for _, w := range queues {
		if match(w) {
			w.cancel()
			stopped = append(stopped, w)
		}
	}
	for _, w := range stopped {
		<-w.done
	}
	o.qmu.Lock()
	for _, w := range stopped {
		delete(queues, w.name)
	}
	o.qmu.Unlock()
}

// QueueStatus is the state of one audience's delivery queue.
type QueueStatus struct {
	Audience string
	// Cursor is the sequence number of the last record delivered or passed
	// over.
	Cursor uint64
	// Failures counts the failed attempts at the record being POSTed; 0 when
	// the queue is not retrying.
	Failures int
	// Delivering is true while this node POSTs the queue's records: always
	// on a single node; where nodes share the store, on the node that holds
	// the queue's claim.
	Delivering bool
}

// Queues returns the queues running, sorted by audience: while Deliver runs,
// one per audience with a webhook and a secret. A queue is listed until its
// goroutine has returned, so once an audience is missing from the list, no
// POST for it is sent until its queue starts again.
func (o *Outbox) Queues() []QueueStatus {
	o.qmu.Lock()
	defer o.qmu.Unlock()
	out := make([]QueueStatus, 0, len(o.queues))
	for _, w := range o.queues {
		select {
		case <-w.done:
			continue
		default:
		}
		out = append(out, QueueStatus{Audience: w.name, Cursor: w.cursor.Load(), Failures: int(w.failures.Load()), Delivering: w.claimed.Load()})
	}
	slices.SortFunc(out, func(a, b QueueStatus) int { return strings.Compare(a.Audience, b.Audience) })
	return out
}
