package audience

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

// Audience is a named, stored expression.
type Audience struct {
	Name        string   `json:"name"`
	Expression  string   `json:"expression"`
	Description string   `json:"description,omitempty"`
	Trigger     *Trigger `json:"trigger,omitempty"`
	Updated     int64    `json:"updated"` // Unix milliseconds

	expr        *Expr
	incarnation uint64
}

// Trigger asks for an outbox record whenever a user enters the audience, and
// optionally for a webhook POST of each record.
//
// Secret signs the POSTs (package trigger says how). It is required with a
// webhook, from 16 to 256 bytes. It is stored, but never shown: Trigger's
// JSON form, the one the API answers with, has "secret_set" in its place.
// An audience stored before secrets existed loads without one; its records
// are kept but not POSTed until a secret is set.
type Trigger struct {
	Webhook string `json:"webhook,omitempty"`
	Secret  string `json:"secret,omitempty"`
}

// MarshalJSON writes t without its secret: {"webhook":...,"secret_set":true}.
// "secret_set" is present when a webhook or a secret is.
func (t Trigger) MarshalJSON() ([]byte, error) {
	var out struct {
		Webhook   string `json:"webhook,omitempty"`
		SecretSet *bool  `json:"secret_set,omitempty"`
	}
	out.Webhook = t.Webhook
	if t.Webhook != "" || t.Secret != "" {
		set := t.Secret != ""
		out.SecretSet = &set
	}
	return json.Marshal(out)
}

// Expr returns the parsed expression.
func (a *Audience) Expr() *Expr { return a.expr }

// Incarnation identifies the audience from its creation to its deletion: a
// Put that replaces an audience keeps it, a Put that creates one (a new name,
// or a name deleted before) draws a new one. It is 0 for an audience stored
// before incarnations existed and not re-created since. Package trigger uses
// it to tell a re-created audience from an updated one.
func (a *Audience) Incarnation() uint64 { return a.incarnation }

// stored is an audience as kept in Pebble: unlike the API form, it keeps the
// trigger's secret and the incarnation. Definitions stored before either
// existed read into it unchanged.
type stored struct {
	Name        string         `json:"name"`
	Expression  string         `json:"expression"`
	Description string         `json:"description,omitempty"`
	Trigger     *storedTrigger `json:"trigger,omitempty"`
	Updated     int64          `json:"updated"`
	Incarnation uint64         `json:"incarnation,omitempty"`
}

// storedTrigger is a Trigger without its MarshalJSON, so the secret is written.
type storedTrigger Trigger

// ErrNotFound is returned for an audience that does not exist.
var ErrNotFound = errors.New("audience: not found")

// MaxAudiences bounds how many audiences may exist: a profile read lists the
// audiences its user is in, evaluating every one.
const MaxAudiences = 1000

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	webhookRE = regexp.MustCompile(`^https?://[^\s]+$`)
)

// FieldError names the field of an audience definition that is wrong.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Field + " " + e.Message }

// Limits of a trigger's secret, in bytes.
const (
	MinSecret = 16
	MaxSecret = 256
)

// Validate parses a's expression and checks its fields. A trigger with a
// webhook needs a secret.
func (a *Audience) Validate() error { return a.validate(true) }

// validate is Validate, with the secret optional for definitions stored
// before secrets existed.
func (a *Audience) validate(requireSecret bool) error {
	if !nameRE.MatchString(a.Name) {
		return &FieldError{"name", "must be 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"}
	}
	if len(a.Description) > 1024 {
		return &FieldError{"description", "is longer than 1024 bytes"}
	}
	if t := a.Trigger; t != nil {
		if t.Webhook != "" && (!webhookRE.MatchString(t.Webhook) || len(t.Webhook) > 2048) {
			return &FieldError{"trigger.webhook", "must be an http or https URL"}
		}
		switch n := len(t.Secret); {
		case n == 0 && t.Webhook != "" && requireSecret:
			return &FieldError{"trigger.secret", fmt.Sprintf("is required with a webhook: %d to %d bytes, with which the receiver checks the signature of each POST", MinSecret, MaxSecret)}
		case n > 0 && (n < MinSecret || n > MaxSecret):
			return &FieldError{"trigger.secret", fmt.Sprintf("must be %d to %d bytes", MinSecret, MaxSecret)}
		}
	}
	e, err := Parse(a.Expression)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return &FieldError{"expression", se.Error()}
		}
		return &FieldError{"expression", err.Error()}
	}
	a.expr = e
	return nil
}

// Store keeps audience definitions in Pebble and in memory.
type Store struct {
	db  *pebble.DB
	now func() time.Time

	mu      sync.RWMutex
	all     map[string]*Audience
	list    []*Audience   // sorted by name; replaced, never modified in place
	changed chan struct{} // closed, and replaced, at each change
}

// Open loads the stored audiences.
func Open(db *pebble.DB, now func() time.Time) (*Store, error) {
	s := &Store{db: db, now: now, all: map[string]*Audience{}, changed: make(chan struct{})}
	prefix := []byte{kv.PrefixAudience}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		a, err := UnmarshalDefinition(it.Value())
		if err != nil {
			return nil, err
		}
		s.all[a.Name] = a
	}
	s.rebuild()
	return s, it.Error()
}

func (s *Store) rebuild() {
	list := make([]*Audience, 0, len(s.all))
	for _, a := range s.all {
		list = append(list, a)
	}
	slices.SortFunc(list, func(a, b *Audience) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	s.list = list
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel that is closed at the next Put or Delete, for a
// goroutine that follows the audience list (see package trigger).
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// Put validates and stores a, replacing any audience of the same name. It
// sets a's Updated time and its incarnation.
func (s *Store) Put(a *Audience) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepareLocked(a); err != nil {
		return err
	}
	return s.storeLocked(a)
}

// Prepare validates a and sets its Updated time and its incarnation as Put
// would, without storing it: the nodes of a cluster log the audience so
// prepared, and each stores it with Restore.
func (s *Store) Prepare(a *Audience) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.prepareLocked(a)
}

func (s *Store) prepareLocked(a *Audience) error {
	if err := a.Validate(); err != nil {
		return err
	}
	old, ok := s.all[a.Name]
	switch {
	case ok:
		a.incarnation = old.incarnation
	case len(s.all) >= MaxAudiences:
		return &FieldError{"name", fmt.Sprintf("would exceed the limit of %d audiences", MaxAudiences)}
	default:
		a.incarnation = rand.Uint64() | 1 // never 0, which marks the definitions stored before incarnations
	}
	a.Updated = s.now().UnixMilli()
	return nil
}

// Restore stores a as it is, with the Updated time and incarnation it
// carries: an audience another node prepared (see Prepare and
// UnmarshalDefinition). It replaces any audience of the same name.
func (s *Store) Restore(a *Audience) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeLocked(a)
}

func (s *Store) storeLocked(a *Audience) error {
	v, err := a.MarshalDefinition()
	if err != nil {
		return err
	}
	if err := s.db.Set(kv.Key(kv.PrefixAudience, a.Name), v, pebble.Sync); err != nil {
		return fmt.Errorf("audience: cannot store: %w", err)
	}
	s.all[a.Name] = a
	s.rebuild()
	return nil
}

// MarshalDefinition returns a's whole definition in JSON, as it is stored:
// unlike a's API form, with the trigger's secret and the incarnation.
func (a *Audience) MarshalDefinition() ([]byte, error) {
	return json.Marshal(stored{Name: a.Name, Expression: a.Expression, Description: a.Description,
		Trigger: (*storedTrigger)(a.Trigger), Updated: a.Updated, Incarnation: a.incarnation})
}

// UnmarshalDefinition reads a definition that MarshalDefinition wrote, and
// checks it as stored definitions are checked (a webhook without a secret
// is let through, as definitions from before secrets are).
func UnmarshalDefinition(b []byte) (*Audience, error) {
	var st stored
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("audience: corrupt definition: %w", err)
	}
	a := &Audience{Name: st.Name, Expression: st.Expression, Description: st.Description,
		Trigger: (*Trigger)(st.Trigger), Updated: st.Updated, incarnation: st.Incarnation}
	if err := a.validate(false); err != nil {
		return nil, fmt.Errorf("audience: definition %s: %w", a.Name, err)
	}
	return a, nil
}

// Get returns the audience called name.
func (s *Store) Get(name string) (*Audience, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.all[name]
	if !ok {
		return nil, ErrNotFound
	}
	return a, nil
}

// Delete removes the audience called name.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.all[name]; !ok {
		return ErrNotFound
	}
	if err := s.db.Delete(kv.Key(kv.PrefixAudience, name), pebble.Sync); err != nil {
		return fmt.Errorf("audience: cannot delete: %w", err)
	}
	delete(s.all, name)
	s.rebuild()
	return nil
}

// List returns every audience, sorted by name. The slice must not be changed.
func (s *Store) List() []*Audience {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.list
}

// Triggered returns the audiences with a trigger, sorted by name.
func (s *Store) Triggered() []*Audience {
	var out []*Audience
	for _, a := range s.List() {
		if a.Trigger != nil {
			out = append(out, a)
		}
	}
	return out
}

// MemberOf appends to dst the names of the audiences subject is in.
func (s *Store) MemberOf(subject *Subject, dst []string) []string {
	for _, a := range s.List() {
		if a.expr.Match(subject) {
			dst = append(dst, a.Name)
		}
	}
	return dst
}
