package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// LoadOptions configure Load. Zero fields take their defaults.
type LoadOptions struct {
	// Target is the server's base URL, http://HOST:PORT. Required.
	Target string
	// AdminTarget is the base URL the catalog and the campaigns are sent
	// to, for a server whose admin routes have a listener of their own
	// (serve --admin-addr). Default Target.
	AdminTarget string
	// Conns is the number of requests in flight at once. Default 4.
	Conns int
	// ItemsBatch, EventsBatch and CampaignsBatch are the records per
	// request. Defaults 5,000, 2,000 and 500. An events batch is cut only
	// between users, so that one user's history arrives in order.
	ItemsBatch, EventsBatch, CampaignsBatch int
	// Attempts bounds the tries of one request answered 503 or 429 or cut by
	// a connection error, with exponential backoff from 50 ms to 2 s.
	// Default 10.
	Attempts int
	// Timeout bounds one request. Default 2 minutes.
	Timeout time.Duration
	// Token, if set, is sent as a bearer token with every request: loading
	// needs the admin and ingest scopes.
	Token string
	// Progress, if not nil, receives a progress bar per file.
	Progress io.Writer
}

func (o *LoadOptions) setDefaults() {
	if o.Conns <= 0 {
		o.Conns = 4
	}
	if o.ItemsBatch <= 0 {
		o.ItemsBatch = 5000
	}
	if o.EventsBatch <= 0 {
		o.EventsBatch = 2000
	}
	if o.CampaignsBatch <= 0 {
		o.CampaignsBatch = 500
	}
	if o.Attempts <= 0 {
		o.Attempts = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
}

// LoadStats is what Load sent.
type LoadStats struct {
	Items, Campaigns, Events int64
	// Duplicates counts events the server already had (a world loaded
	// twice).
	Duplicates int64
	// Retries counts requests sent again after a 503, 429 or connection
	// error.
	Retries int64
	// CampaignsSkipped says why campaigns were not loaded, if they were not:
	// the server has no /v1/campaigns, or refused them. Items and events are
	// loaded regardless.
	CampaignsSkipped string
	Elapsed          time.Duration
}

// Load streams the world into the server at opts.Target: the catalog, then
// the campaigns, then the event history, as NDJSON batches sent by
// opts.Conns concurrent requests.
func Load(ctx context.Context, w *World, opts LoadOptions) (*LoadStats, error) {
	opts.setDefaults()
	if opts.AdminTarget == "" {
		opts.AdminTarget = opts.Target
	}
	for _, t := range []string{opts.Target, opts.AdminTarget} {
		if _, _, err := parseTarget(t); err != nil {
			return nil, err
		}
	}
	l := &loader{opts: opts, client: &fasthttp.Client{
		Name: "tailor-bench-load", MaxConnsPerHost: opts.Conns,
		ReadTimeout: opts.Timeout, WriteTimeout: opts.Timeout,
	}}
	start := time.Now()
	st := &LoadStats{}
	m := w.Manifest
	var err error
	if st.Items, err = l.file(ctx, w, ItemsFile, opts.AdminTarget, "/v1/items", "items", int64(m.Items), opts.ItemsBatch, nil); err != nil {
		return nil, err
	}
	st.Campaigns, err = l.file(ctx, w, CampaignsFile, opts.AdminTarget, "/v1/campaigns", "campaigns", int64(m.Campaigns), opts.CampaignsBatch, nil)
	var refused *refusedError
	switch {
	case errors.As(err, &refused) && refused.status == fasthttp.StatusNotFound:
		st.CampaignsSkipped = "the server has no /v1/campaigns"
	case errors.As(err, &refused):
		st.CampaignsSkipped = fmt.Sprintf("the server refused them: %d %s", refused.status, refused.body)
	case err != nil:
		return nil, err
	}
	if st.Events, err = l.file(ctx, w, EventsFile, opts.Target, "/v1/events", "events", m.Events, opts.EventsBatch, userOf); err != nil {
		return nil, err
	}
	st.Duplicates, st.Retries = l.duplicates.Load(), l.retries.Load()
	st.Elapsed = time.Since(start)
	return st, nil
}

type loader struct {
	opts                LoadOptions
	client              *fasthttp.Client
	duplicates, retries atomic.Int64
}

// refusedError is a 4xx answer: retrying will not help.
type refusedError struct {
	path   string
	status int
	body   string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("bench: POST %s: %d %s", e.path, e.status, e.body)
}

// file sends the lines of one NDJSON file to base+path in batches of about batch
// lines; if key is not nil a batch ends only where key changes. It returns
// the number of lines sent.
func (l *loader) file(ctx context.Context, w *World, name, base, path, label string, total int64, batch int, key func([]byte) []byte) (int64, error) {
	f, err := os.Open(filepath.Join(w.Dir, name))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bar := startProgress(l.opts.Progress, label, total)
	type chunk struct {
		body []byte
		n    int64
	}
	chunks := make(chan chunk, l.opts.Conns)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range l.opts.Conns {
		wg.Go(func() {
			for c := range chunks {
				if ctx.Err() != nil {
					continue
				}
				if err := l.post(ctx, base, path, c.body); err != nil {
					cancel(err)
					continue
				}
				sent.Add(c.n)
				bar.add(c.n)
			}
		})
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	var n int64
	var last []byte
	flush := func() {
		if n > 0 {
			select {
			case chunks <- chunk{buf, n}:
			case <-ctx.Done():
			}
		}
		buf, n = nil, 0
	}
	for ctx.Err() == nil {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if int(n) >= batch && (key == nil || !bytes.Equal(key(line), last)) {
				flush()
			}
			if key != nil {
				last = append(last[:0], key(line)...)
			}
			buf = append(buf, line...)
			if line[len(line)-1] != '\n' {
				buf = append(buf, '\n')
			}
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			cancel(fmt.Errorf("bench: cannot read %s: %w", name, err))
			break
		}
	}
	flush()
	close(chunks)
	wg.Wait()
	bar.finish()
	if err := context.Cause(ctx); err != nil {
		return sent.Load(), err
	}
	return sent.Load(), nil
}

// post sends one NDJSON batch, retrying on 503, 429 and connection errors.
func (l *loader) post(ctx context.Context, base, path string, body []byte) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		req.Reset()
		req.SetRequestURI(base + path)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/x-ndjson")
		if l.opts.Token != "" {
			req.Header.Set("Authorization", "Bearer "+l.opts.Token)
		}
		req.SetBodyRaw(body)
		err := l.client.DoTimeout(req, resp, l.opts.Timeout)
		status := resp.StatusCode()
		switch {
		case err == nil && status >= 200 && status < 300:
			var ack struct {
				Duplicates int64 `json:"duplicates"`
			}
			if json.Unmarshal(resp.Body(), &ack) == nil {
				l.duplicates.Add(ack.Duplicates)
			}
			return nil
		case err == nil && status != fasthttp.StatusServiceUnavailable && status != fasthttp.StatusTooManyRequests:
			msg := bytes.TrimSpace(resp.Body())
			if len(msg) > 500 {
				msg = msg[:500]
			}
			return &refusedError{path: path, status: status, body: string(msg)}
		case attempt >= l.opts.Attempts:
			if err == nil {
				err = fmt.Errorf("%d %s", status, bytes.TrimSpace(resp.Body()))
			}
			return fmt.Errorf("bench: POST %s failed %d times, last: %w", path, attempt, err)
		}
		l.retries.Add(1)
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// userOf returns the user id of an NDJSON event line, or nil.
func userOf(line []byte) []byte {
	const key = `"user":"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return nil
	}
	rest := line[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return nil
}
