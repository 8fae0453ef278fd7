package trigger

import (
	"encoding/json"
	"testing"
)

func TestSignature(t *testing.T) {
	// The HMAC-SHA256 example of Wikipedia's HMAC article: a value computed
	// elsewhere.
	got := Signature("key", []byte("The quick brown fox jumps over the lazy dog"))
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Errorf("Signature = %s, want %s", got, want)
	}
}

func TestDeliverSignsTheExactBody(t *testing.T) {
	e := newEnv(t)
	h := newHook(t, secret, 200)
	wrong := newHook(t, "not-the-secret-of-a", 200)
	e.put("a", h.URL, secret)
	e.put("b", wrong.URL, secret) // the receiver holds another secret
	e.enter("a", 2000, "u1")
	e.enter("b", 2000, "u1")
	e.deliver(DeliveryOptions{AllowPrivate: true})
	wantUsers(t, "hook", h.receive(t, 1), "u1")
	waitFor(t, "the receiver with the wrong secret to refuse twice", func() bool { return wrong.badSig.Load() >= 2 })
	if n := h.badSig.Load(); n != 0 {
		t.Errorf("%d POSTs with a signature the receiver could not verify", n)
	}
	// The body is the record's JSON, as documented.
	body, _ := json.Marshal(Record{Seq: 1, TS: 2000, User: "u1", Audience: "a", Event: "enter"})
	if !validSignature(secret, body, Signature(secret, body)) {
		t.Error("Signature does not verify with hmac.Equal")
	}
}
