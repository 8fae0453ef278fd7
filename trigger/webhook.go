package trigger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/internal/kv"
)

// DeliveryOptions configures webhook delivery. Zero fields take defaults.
type DeliveryOptions struct {
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles after each failure. Defaults 1 s and 5 min.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one POST. Default 10 s.
	Timeout time.Duration
	// Poll is how often the outbox is checked for new records. Default 1 s.
	Poll time.Duration
	// Client sends the requests; default an http.Client with Timeout.
	Client *http.Client
	Logger *log.Logger
}

var deliveredKey = kv.Key(kv.PrefixMeta, "trigger-delivered")

// Deliver POSTs, in order, every outbox record of an audience with a webhook
// to that webhook, retrying a failed POST (error or non-2xx answer) with
// exponential backoff until it succeeds or ctx ends. Its progress is stored,
// so a restart resumes after the last record delivered: delivery is
// at-least-once. It returns when ctx ends.
func (o *Outbox) Deliver(ctx context.Context, audiences func() []*audience.Audience, opts DeliveryOptions) {
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
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	if opts.Logger == nil {
		opts.Logger = log.Default()
	}
	done := o.delivered()
	for {
		recs, err := o.Read(done, 100)
		if err != nil {
			opts.Logger.Printf("trigger: %v", err)
		}
		for _, r := range recs {
			a := find(audiences(), r.Audience)
			if a != nil && a.Trigger != nil && a.Trigger.Webhook != "" {
				if !post(ctx, a.Trigger.Webhook, r, opts) {
					return // ctx ended
				}
			}
			done = r.Seq
			if err := o.db.Set(deliveredKey, binary.BigEndian.AppendUint64(nil, done), pebble.NoSync); err != nil {
				opts.Logger.Printf("trigger: cannot record delivery: %v", err)
			}
		}
		if len(recs) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(opts.Poll):
		}
	}
}

func (o *Outbox) delivered() uint64 {
	v, closer, err := o.db.Get(deliveredKey)
	if err != nil {
		return 0
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func find(list []*audience.Audience, name string) *audience.Audience {
	for _, a := range list {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// post sends r until it is accepted; false when ctx ended first.
func post(ctx context.Context, url string, r Record, opts DeliveryOptions) bool {
	body, _ := json.Marshal(r)
	wait := opts.MinBackoff
	for attempt := 1; ; attempt++ {
		err := postOnce(ctx, opts.Client, url, body)
		if err == nil {
			return true
		}
		if errors.Is(ctx.Err(), context.Canceled) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return false
		}
		opts.Logger.Printf("trigger: webhook for audience %s, record %d, attempt %d: %v; retrying in %v", r.Audience, r.Seq, attempt, err, wait)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, opts.MaxBackoff)
	}
}

func postOnce(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
