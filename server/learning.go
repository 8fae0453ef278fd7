package server

import (
	"errors"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/ident"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/model"
)

// LearningOptions configure the decision log, the click models and the
// experiments (package learn). The ranker settings, clock and logger of
// learn.Options are the server's.
type LearningOptions struct {
	// Disabled turns it all off: answers carry no rec_id, impressions are
	// accepted and ignored, and the ranker keeps its hand-set weights.
	Disabled bool
	learn.Options
}

// openLearning starts the decision log, the click models and the
// experiments, unless learning is disabled.
func (s *Server) openLearning() error {
	o := s.opts.Learning
	if o.Disabled {
		return nil
	}
	lo := o.Options
	lo.Ranker, lo.Now, lo.Logger = s.opts.Ranker, s.opts.Now, s.opts.Logger
	l, err := learn.Open(s.db, s.idx, lo, s.reg)
	if err != nil {
		return err
	}
	s.learn = l
	return nil
}

// closeLearning learns the labels collected so far and checkpoints the
// models.
func (s *Server) closeLearning() error {
	if s.learn == nil {
		return nil
	}
	return s.learn.Close()
}

// Model returns the click model, nil when learning is disabled.
func (s *Server) Model() *model.Model {
	if s.learn == nil {
		return nil
	}
	return s.learn.Model()
}

// AdModel returns the bidder's click model, nil when learning is disabled.
// Ad labels built with auction.CTRVector teach it.
func (s *Server) AdModel() *model.Model {
	if s.learn == nil {
		return nil
	}
	return s.learn.AdModel()
}

// adCTR is the bidder's pCTR: the ads model once warm, the hand-set model
// before, and always when learning is disabled.
func (s *Server) adCTR() auction.CTRModel {
	if s.learn == nil {
		return auction.DefaultCTRModel
	}
	return &auction.LearnedCTR{Model: s.learn.AdModel(), Fallback: auction.DefaultCTRModel}
}

// SetExperiments validates, stores and applies an experiments
// configuration. Arms that keep their experiment id and name keep their
// counters.
func (s *Server) SetExperiments(c *learn.ExperimentsConfig) error {
	if s.learn == nil {
		return errors.New("server: learning is disabled")
	}
	return s.learn.SetExperiments(c)
}

// Limits of attribution fields.
const maxImpressionItems = 100

// decodeAttribution reads the rec_id of an event and the items of an
// impression; decodeEvent has read the rest.
func decodeAttribution(f *fields, t features.EventType, ev *features.Event) {
	if f.err != nil {
		return
	}
	if ev.RecID != "" {
		if _, ok := learn.ParseRecID(ev.RecID); !ok {
			f.fail("rec_id", "must be the rec_id of a recommend answer (16 hexadecimal digits)")
			return
		}
	}
	if t != features.Impression {
		if v := f.v.Get("items"); v != nil && v.Type() != fastjson.TypeNull {
			f.fail("items", "is only for an impression")
		}
		return
	}
	if ev.RecID == "" {
		f.fail("rec_id", "is required for an impression")
		return
	}
	ev.Item = ""
	ev.Items = f.strs(f.v.Get("items"), "items", maxImpressionItems, ident.MaxBytes)
	if f.err == nil && len(ev.Items) == 0 {
		f.fail("items", "is required for an impression: the ids of the items shown")
	}
}

// handleExperiments answers GET (the configuration and every arm's
// counters) and PUT or POST (replace the configuration) on /v1/experiments.
func (s *Server) handleExperiments(ctx *fasthttp.RequestCtx, method string) {
	if s.learn == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "learning is disabled", index: -1})
		return
	}
	switch method {
	case "GET":
	case "PUT", "POST":
		c, err := learn.ParseExperiments(ctx.PostBody())
		if err != nil {
			writeError(ctx, badRequest(codeInvalidRequest, "", err.Error()))
			return
		}
		if err := s.SetExperiments(c); err != nil {
			s.opts.Logger.Printf("experiments: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
				message: "the configuration could not be stored, retry", index: -1})
			return
		}
	default:
		methodNotAllowed(ctx, "GET, PUT, POST")
		return
	}
	cfg, arms := s.learn.Experiments()
	snap := s.learn.Model().Snapshot()
	writeJSON(ctx, struct {
		Experiments []learn.ExperimentConfig `json:"experiments"`
		Arms        []learn.ArmStats         `json:"arms"`
		Model       modelJSON                `json:"model"`
	}{Experiments: nonNil(cfg.Experiments), Arms: arms,
		Model: modelJSON{Version: snap.Version, Labels: snap.Labels, Clicks: snap.Clicks, Warm: snap.Warm()}})
}

type modelJSON struct {
	Version uint64 `json:"version"`
	Labels  uint64 `json:"labels"`
	Clicks  uint64 `json:"clicks"`
	Warm    bool   `json:"warm"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// handleExperiment answers GET /v1/experiments/{id}: each arm's counters and
// rates, and each arm's difference from the first with its interval.
func (s *Server) handleExperiment(ctx *fasthttp.RequestCtx, id string) {
	if s.learn == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "learning is disabled", index: -1})
		return
	}
	r, ok := s.learn.Report(id)
	if !ok {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no such experiment: " + id, index: -1})
		return
	}
	writeJSON(ctx, r)
}
