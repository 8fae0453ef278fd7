package audience

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

const secret = "0123456789abcdef" // 16 bytes, the least allowed

func openStore(t *testing.T, db *pebble.DB) *Store {
	t.Helper()
	s, err := Open(db, func() time.Time { return time.UnixMilli(1000) })
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func openDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := kv.Open(t.TempDir(), kv.Options{CacheBytes: 1 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTriggerSecretRules(t *testing.T) {
	s := openStore(t, openDB(t))
	for _, tt := range []struct {
		trigger *Trigger
		field   string // "" when accepted
	}{
		{nil, ""},
		{&Trigger{}, ""},
		{&Trigger{Webhook: "https://hooks.example.com/x", Secret: secret}, ""},
		{&Trigger{Webhook: "https://hooks.example.com/x", Secret: strings.Repeat("s", MaxSecret)}, ""},
		{&Trigger{Webhook: "https://hooks.example.com/x"}, "trigger.secret"},
		{&Trigger{Webhook: "https://hooks.example.com/x", Secret: secret[:15]}, "trigger.secret"},
		{&Trigger{Webhook: "https://hooks.example.com/x", Secret: strings.Repeat("s", MaxSecret+1)}, "trigger.secret"},
		{&Trigger{Secret: "short"}, "trigger.secret"},
		{&Trigger{Webhook: "gopher://x", Secret: secret}, "trigger.webhook"},
	} {
		err := s.Put(&Audience{Name: "a", Expression: "purchases > 0", Trigger: tt.trigger})
		var fe *FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Put(trigger %+v) = %v, want accepted", tt.trigger, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("Put(trigger %+v) = %v, want a *FieldError for %s", tt.trigger, err, tt.field)
		}
	}
}

func TestSecretIsStoredNotShown(t *testing.T) {
	db := openDB(t)
	s := openStore(t, db)
	a := &Audience{Name: "a", Expression: "purchases > 0", Trigger: &Trigger{Webhook: "https://hooks.example.com/x", Secret: secret}}
	if err := s.Put(a); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) || !strings.Contains(string(b), `"trigger":{"webhook":"https://hooks.example.com/x","secret_set":true}`) {
		t.Errorf("API form = %s, want the webhook and secret_set, not the secret", b)
	}
	if b, _ := json.Marshal(Trigger{}); string(b) != `{}` {
		t.Errorf("API form of an outbox-only trigger = %s, want {}", b)
	}
	// The secret survives a restart.
	got, err := openStore(t, db).Get("a")
	if err != nil || got.Trigger == nil || got.Trigger.Secret != secret {
		t.Fatalf("after reopening: %+v, %v; want the secret kept", got, err)
	}
	if got.Incarnation() != a.Incarnation() {
		t.Errorf("incarnation after reopening = %d, want %d", got.Incarnation(), a.Incarnation())
	}
}

func TestOpenReadsDefinitionsWithoutSecret(t *testing.T) {
	db := openDB(t)
	old := `{"name":"old","expression":"purchases > 0","trigger":{"webhook":"https://hooks.example.com/x"},"updated":500}`
	if err := db.Set(kv.Key(kv.PrefixAudience, "old"), []byte(old), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, db)
	a, err := s.Get("old")
	if err != nil {
		t.Fatalf("Get(old) = %v", err)
	}
	if a.Trigger.Webhook != "https://hooks.example.com/x" || a.Trigger.Secret != "" || a.Incarnation() != 0 || a.Updated != 500 {
		t.Errorf("old definition read as %+v, incarnation %d", a, a.Incarnation())
	}
	if b, _ := json.Marshal(a.Trigger); string(b) != `{"webhook":"https://hooks.example.com/x","secret_set":false}` {
		t.Errorf("API form = %s, want secret_set false", b)
	}
	// Updating it keeps its incarnation; the update needs a secret.
	if err := s.Put(&Audience{Name: "old", Expression: "purchases > 1", Trigger: &Trigger{Webhook: a.Trigger.Webhook}}); err == nil {
		t.Error("an update without a secret was accepted")
	}
	b := &Audience{Name: "old", Expression: "purchases > 1", Trigger: &Trigger{Webhook: a.Trigger.Webhook, Secret: secret}}
	if err := s.Put(b); err != nil {
		t.Fatal(err)
	}
	if b.Incarnation() != 0 {
		t.Errorf("incarnation after an update = %d, want 0 kept", b.Incarnation())
	}
}

func TestIncarnation(t *testing.T) {
	s := openStore(t, openDB(t))
	put := func(expr string) *Audience {
		a := &Audience{Name: "a", Expression: expr}
		if err := s.Put(a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	first := put("purchases > 0")
	if first.Incarnation() == 0 {
		t.Error("a new audience has incarnation 0")
	}
	if updated := put("purchases > 1"); updated.Incarnation() != first.Incarnation() {
		t.Errorf("update changed the incarnation: %d, was %d", updated.Incarnation(), first.Incarnation())
	}
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if again := put("purchases > 0"); again.Incarnation() == first.Incarnation() {
		t.Errorf("re-created audience kept incarnation %d", again.Incarnation())
	}
}

func TestChanged(t *testing.T) {
	s := openStore(t, openDB(t))
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	c := s.Changed()
	if closed(c) {
		t.Fatal("Changed() is closed before any change")
	}
	if err := s.Put(&Audience{Name: "a", Expression: "purchases > 0"}); err != nil {
		t.Fatal(err)
	}
	if !closed(c) {
		t.Error("Put did not close Changed()")
	}
	c = s.Changed()
	if closed(c) {
		t.Error("Changed() after a Put is already closed")
	}
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if !closed(c) {
		t.Error("Delete did not close Changed()")
	}
}
