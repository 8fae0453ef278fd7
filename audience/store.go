package audience

import (
	"encoding/json"
	"errors"
	"fmt"
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

	expr *Expr
}

// Trigger asks for an outbox record whenever a user enters the audience, and
// optionally for a webhook POST of each record.
type Trigger struct {
	Webhook string `json:"webhook,omitempty"`
}

// Expr returns the parsed expression.
func (a *Audience) Expr() *Expr { return a.expr }

// ErrNotFound is returned for an audience that does not exist.
var ErrNotFound = errors.New("audience: not found")

// MaxAudiences bounds how many audiences may exist: a profile read lists the
// audiences its user is in, evaluating every one.
const MaxAudiences = 1000

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// FieldError names the field of an audience definition that is wrong.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Field + " " + e.Message }

// Validate parses a's expression and checks its fields.
func (a *Audience) Validate() error {
	if !nameRE.MatchString(a.Name) {
		return &FieldError{"name", "must be 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"}
	}
	if len(a.Description) > 1024 {
		return &FieldError{"description", "is longer than 1024 bytes"}
	}
	if a.Trigger != nil && a.Trigger.Webhook != "" {
		if !regexp.MustCompile(`^https?://[^\s]+$`).MatchString(a.Trigger.Webhook) || len(a.Trigger.Webhook) > 2048 {
			return &FieldError{"trigger.webhook", "must be an http or https URL"}
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

	mu   sync.RWMutex
	all  map[string]*Audience
	list []*Audience // sorted by name; replaced, never modified in place
}

// Open loads the stored audiences.
func Open(db *pebble.DB, now func() time.Time) (*Store, error) {
	s := &Store{db: db, now: now, all: map[string]*Audience{}}
	prefix := []byte{kv.PrefixAudience}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		a := &Audience{}
		if err := json.Unmarshal(it.Value(), a); err != nil {
			return nil, fmt.Errorf("audience: corrupt definition: %w", err)
		}
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("audience: stored definition %s: %w", a.Name, err)
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
}

// Put validates and stores a, replacing any audience of the same name.
func (s *Store) Put(a *Audience) error {
	if err := a.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.all[a.Name]; !ok && len(s.all) >= MaxAudiences {
		return &FieldError{"name", fmt.Sprintf("would exceed the limit of %d audiences", MaxAudiences)}
	}
	a.Updated = s.now().UnixMilli()
	v, err := json.Marshal(a)
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
