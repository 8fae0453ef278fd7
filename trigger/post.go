package trigger

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// SignatureHeader is the header of each webhook POST that holds
// Signature(secret, body).
const SignatureHeader = "X-Tailor-Signature"

// Signature returns "sha256=" followed by the lowercase hexadecimal
// HMAC-SHA256 of body keyed with secret: the value of SignatureHeader. A
// receiver recomputes it over the exact bytes of the body it received and
// compares the two with hmac.Equal.
func Signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// newClient returns the client of opts, or builds one that refuses internal
// addresses unless opts.AllowPrivate, and the function that releases what it
// built.
func newClient(opts DeliveryOptions) (*http.Client, func()) {
	if opts.Client != nil {
		c := *opts.Client
		if c.CheckRedirect == nil {
			c.CheckRedirect = noRedirect
		}
		return &c, func() {}
	}
	d := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		d.Control = checkDial
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect on our behalf, to an address checkDial never sees
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, Timeout: opts.Timeout, CheckRedirect: noRedirect}, tr.CloseIdleConnections
}

// noRedirect makes a client return a redirect as the answer: a webhook is
// POSTed where it was configured and nowhere else, and a 3xx is a failure.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// post sends r until it is accepted; false when ctx ended first. failures
// counts the failed attempts.
func (w *worker) post(ctx context.Context, r Record, opts DeliveryOptions) bool {
	body, _ := json.Marshal(r)
	sig := Signature(w.secret, body)
	wait := opts.MinBackoff
	defer w.failures.Store(0)
	for attempt := 1; ; attempt++ {
		err := postOnce(ctx, w.client, w.webhook, body, sig)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.failures.Add(1)
		opts.Logger.Printf("trigger: webhook for audience %s, record %d, attempt %d: %v; retrying in %v", r.Audience, r.Seq, attempt, err, wait)
		if !sleep(ctx, wait, nil) {
			return false
		}
		wait = min(2*wait, opts.MaxBackoff)
	}
}

func postOnce(ctx context.Context, c *http.Client, webhook string, body []byte, sig string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	resp, err := c.Do(req)
	if err != nil {
		// The URL may hold a token: leave it out of the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
