package learn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/fnv"
	"github.com/tailor-dev/tailor/ranker"
)

// ExperimentsConfig splits users into experiment arms, each ranking with its
// own settings. It is the JSON of tailor serve --experiments FILE and of PUT
// /v1/experiments.
//
// Users are hashed (FNV-1a of the user id, a pure function of it, so a user
// keeps their arm across requests and restarts) into 10,000 buckets;
// experiments take consecutive shares of the buckets in the order given, so
// a user is in one experiment at most, and within it a second hash salted
// with the experiment id picks an arm in proportion to the arms' weights.
// Users outside every experiment, and anonymous visitors, get the default
// arm: the server's own ranker settings.
type ExperimentsConfig struct {
	Experiments []ExperimentConfig `json:"experiments"`
}

// ExperimentConfig is one experiment.
type ExperimentConfig struct {
	// ID names the experiment in answers, metrics and GET
	// /v1/experiments/{id}: letters, digits, '-', '_' and '.', at most 64.
	ID string `json:"id"`
	// Traffic is the share of users in the experiment, in (0, 1]. Default 1.
	// The experiments' shares add up to at most 1.
	Traffic *float64 `json:"traffic,omitempty"`
	// Arms are the variants, at least one, at most 16.
	Arms []ArmConfig `json:"arms"`
}

// ArmConfig is one arm of an experiment.
type ArmConfig struct {
	// Name names the arm, as ID names an experiment.
	Name string `json:"name"`
	// Weight is the arm's share of the experiment's users relative to the
	// other arms. Default 1.
	Weight *float64 `json:"weight,omitempty"`
	// Ranker holds the arm's ranker settings; what it leaves out is the
	// server's.
	Ranker RankerConfig `json:"ranker"`
}

// RankerConfig are the ranker settings an arm can change.
type RankerConfig struct {
	// Model scores with the click model (while it is warm) when true, with
	// the hand-set weights when false. Default: as the server does.
	Model *bool `json:"model,omitempty"`
	// Weights overrides hand-set weights by feature name: co_visit, search,
	// category, brand, context, popularity, seen, price, complement,
	// replenish, boost, sessions. An arm that sets any ranks with its
	// weights as set; others rank with the weights the server learns.
	Weights map[string]float64 `json:"weights,omitempty"`
	// Sources lists the candidate sources used: co_visit, search, category,
	// lifecycle, context, trending, sessions. Default all.
	Sources []string `json:"sources,omitempty"`
	// MaxPerLeaf is the diversity cap: the largest share of a slot one leaf
	// category may take, in (0, 1].
	MaxPerLeaf    float64 `json:"max_per_leaf,omitempty"`
	RecentItems   int     `json:"recent_items,omitempty"`
	RecentQueries int     `json:"recent_queries,omitempty"`
	TopCategories int     `json:"top_categories,omitempty"`
	PerSource     int     `json:"per_source,omitempty"`
	// SessionContext, SessionSample, SimilarSessions, SessionDecay and
	// SessionHalfLifeHours set the similar-sessions source (see
	// ranker.Options).
	SessionContext       int     `json:"session_context,omitempty"`
	SessionSample        int     `json:"session_sample,omitempty"`
	SimilarSessions      int     `json:"similar_sessions,omitempty"`
	SessionDecay         float64 `json:"session_decay,omitempty"`
	SessionHalfLifeHours float64 `json:"session_half_life_hours,omitempty"`
}

// Limits of an experiments configuration.
const (
	maxExperiments = 16
	maxArms        = 16
	buckets        = 10000
	defaultArmName = "default"
)

// ParseExperiments decodes and validates an experiments configuration.
func ParseExperiments(b []byte) (*ExperimentsConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c ExperimentsConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if dec.More() {
		return nil, errors.New("experiments: trailing data after the configuration")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ReadExperiments reads and validates an experiments configuration file.
func ReadExperiments(path string) (*ExperimentsConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseExperiments(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// FieldError is a configuration's first fault: the field, as a path such
// as experiments[0].arms[1].weight, and what is wrong with it.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return "experiments: " + e.Field + " " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration and names the first thing wrong, as a
// *FieldError.
func (c *ExperimentsConfig) Validate() error {
	if len(c.Experiments) > maxExperiments {
		return fieldErr("experiments", "holds at most %d experiments", maxExperiments)
	}
	total := 0.0
	ids := map[string]bool{}
	for i, e := range c.Experiments {
		at := fmt.Sprintf("experiments[%d]", i)
		if !validName(e.ID) {
			return fieldErr(at+".id", "must be 1 to 64 letters, digits, '-', '_' or '.', and not \".\" or \"..\"")
		}
		if ids[e.ID] {
			return fieldErr(at+".id", "%q is used twice", e.ID)
		}
		ids[e.ID] = true
		tr := traffic(e)
		if !(tr > 0 && tr <= 1) {
			return fieldErr(at+".traffic", "must be in (0, 1]")
		}
		total += tr
		if len(e.Arms) == 0 || len(e.Arms) > maxArms {
			return fieldErr(at+".arms", "must hold 1 to %d arms", maxArms)
		}
		names := map[string]bool{}
		for j, a := range e.Arms {
			at := fmt.Sprintf("%s.arms[%d]", at, j)
			if !validName(a.Name) {
				return fieldErr(at+".name", "must be 1 to 64 letters, digits, '-', '_' or '.', and not \".\" or \"..\"")
			}
			if names[a.Name] {
				return fieldErr(at+".name", "%q is used twice", a.Name)
			}
			names[a.Name] = true
			if a.Weight != nil && !(*a.Weight > 0 && *a.Weight < 1e9) {
				return fieldErr(at+".weight", "must be positive")
			}
			if _, err := a.Ranker.options(ranker.Options{}, false); err != nil {
				return fieldErr(at+".ranker", "%v", err)
			}
		}
	}
	if total > 1+1e-9 {
		return fieldErr("experiments", "traffic shares add up to %.4g, more than 1", total)
	}
	return nil
}

func traffic(e ExperimentConfig) float64 {
	if e.Traffic == nil {
		return 1
	}
	return *e.Traffic
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Apply returns base with c's settings applied: what an arm with c ranks
// with. c.Model is left to the caller.
func (c *RankerConfig) Apply(base ranker.Options) (ranker.Options, error) {
	return c.options(base, base.Model != nil)
}

// options applies c to base. model is whether base scores with the model.
func (c *RankerConfig) options(base ranker.Options, model bool) (ranker.Options, error) {
	o := base
	if o.Weights == (ranker.Weights{}) {
		o.Weights = ranker.DefaultWeights
	}
	if len(c.Weights) > 0 {
		o.Tuner = nil // an arm that sets weights ranks with them as set
	}
	for name, v := range c.Weights {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return o, fmt.Errorf("weights.%s must be a number", name)
		}
		if !o.Weights.Set(name, v) {
			return o, fmt.Errorf("weights: unknown feature %q (one of %s)", name, strings.Join(ranker.FeatureNames[:], ", "))
		}
	}
	if len(c.Sources) > 0 {
		o.Sources = 0
		for _, s := range c.Sources {
			src, ok := ranker.ParseSource(s)
			if !ok {
				return o, fmt.Errorf("sources: unknown source %q (one of %s)", s, ranker.AllSources)
			}
			o.Sources |= src
		}
	}
	if c.MaxPerLeaf != 0 {
		if !(c.MaxPerLeaf > 0 && c.MaxPerLeaf <= 1) {
			return o, errors.New("max_per_leaf must be in (0, 1]")
		}
		o.MaxPerLeaf = c.MaxPerLeaf
	}
	for _, f := range []struct {
		name string
		v    int
		dst  *int
	}{{"recent_items", c.RecentItems, &o.RecentItems}, {"recent_queries", c.RecentQueries, &o.RecentQueries},
		{"top_categories", c.TopCategories, &o.TopCategories}, {"per_source", c.PerSource, &o.PerSource},
		{"session_context", c.SessionContext, &o.SessionContext}, {"session_sample", c.SessionSample, &o.SessionSample},
		{"similar_sessions", c.SimilarSessions, &o.SimilarSessions}} {
		if f.v < 0 || f.v > 1000 {
			return o, fmt.Errorf("%s must be between 0 and 1000", f.name)
		}
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	if c.SessionDecay < 0 || c.SessionDecay > 1000 {
		return o, errors.New("session_decay must be between 0 and 1000")
	}
	if c.SessionDecay > 0 {
		o.SessionDecay = c.SessionDecay
	}
	if c.SessionHalfLifeHours < 0 || c.SessionHalfLifeHours > 24*365 {
		return o, errors.New("session_half_life_hours must be between 0 and 8760")
	}
	if c.SessionHalfLifeHours > 0 {
		o.SessionHalfLife = time.Duration(c.SessionHalfLifeHours * float64(time.Hour))
	}
	if c.Model != nil {
		model = *c.Model
	}
	if !model {
		o.Model = nil
	}
	return o, nil
}

// Arm is a compiled arm of an experiment, or the default arm: its ranker and
// its counters.
type Arm struct {
	exp, name string // exp is "" for the default arm
	ranker    *ranker.Ranker
	stats     *armStats
	upTo      float64 // cumulative weight share, in (0, 1]
}

// Experiment returns the experiment of the arm, "" for the default arm.
func (a *Arm) Experiment() string { return a.exp }

// Name returns the arm's name.
func (a *Arm) Name() string { return a.name }

// Ranker returns the ranker the arm ranks with.
func (a *Arm) Ranker() *ranker.Ranker { return a.ranker }

// experiment is a compiled experiment.
type experiment struct {
	cfg    ExperimentConfig
	lo, hi uint64 // its buckets
	arms   []*Arm
}

// experimentSet is a compiled configuration, swapped atomically.
type experimentSet struct {
	cfg  ExperimentsConfig
	exps []*experiment
	def  *Arm
}

// compileExperiments builds the rankers of every arm over idx.
func compileExperiments(c *ExperimentsConfig, idx *index.Index, base ranker.Options, model bool, def *Arm, reg *armRegistry) (*experimentSet, error) {
	set := &experimentSet{cfg: *c, def: def}
	from := 0.0
	for _, ec := range c.Experiments {
		e := &experiment{cfg: ec, lo: uint64(math.Round(from * buckets))}
		from += traffic(ec)
		e.hi = uint64(math.Round(math.Min(from, 1) * buckets))
		total := 0.0
		for _, ac := range ec.Arms {
			total += armWeight(ac)
		}
		cum := 0.0
		for _, ac := range ec.Arms {
			o, err := ac.Ranker.options(base, model)
			if err != nil {
				return nil, fmt.Errorf("experiments: %s/%s: %w", ec.ID, ac.Name, err)
			}
			cum += armWeight(ac)
			e.arms = append(e.arms, &Arm{exp: ec.ID, name: ac.Name, ranker: ranker.New(idx, o),
				stats: reg.get(ec.ID, ac.Name), upTo: cum / total})
		}
		e.arms[len(e.arms)-1].upTo = 1
		set.exps = append(set.exps, e)
	}
	return set, nil
}

func armWeight(a ArmConfig) float64 {
	if a.Weight == nil {
		return 1
	}
	return *a.Weight
}

// stableHash is FNV-1a of salt, a separator and s, mixed: the same in every
// process, unlike maphash.
func stableHash(salt, s string) uint64 {
	return fnv.Mix(fnv.String(fnv.Byte(fnv.String(fnv.Offset, salt), 0xff), s))
}

// assign returns user's arm.
func (set *experimentSet) assign(user string) *Arm {
	if user == "" || len(set.exps) == 0 {
		return set.def
	}
	b := stableHash("tailor-experiments", user) % buckets
	for _, e := range set.exps {
		if b < e.lo || b >= e.hi {
			continue
		}
		u := float64(stableHash(e.cfg.ID, user)>>11) / (1 << 53)
		for _, a := range e.arms {
			if u < a.upTo {
				return a
			}
		}
		return e.arms[len(e.arms)-1]
	}
	return set.def
}

func (set *experimentSet) find(id string) *experiment {
	for _, e := range set.exps {
		if e.cfg.ID == id {
			return e
		}
	}
	return nil
}
