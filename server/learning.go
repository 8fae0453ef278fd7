package server

import (
	"context"
	"errors"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/ident"
	"github.com/tailor-dev/tailor/learn"
)

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
	l := s.svc.Learner()
	if l == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "learning is disabled", index: -1})
		return
	}
	switch method {
	case "GET":
	case "PUT", "POST":
		c, err := learn.ParseExperiments(ctx.PostBody())
		if err != nil {
			var fe *learn.FieldError
			field := ""
			if errors.As(err, &fe) {
				field = fe.Field
			}
			writeError(ctx, badRequest(codeInvalidRequest, field, err.Error()))
			return
		}
		if err := s.setExperiments(ctx, l, c); err != nil {
			var fe *learn.FieldError
			if errors.As(err, &fe) {
				writeError(ctx, badRequest(codeInvalidRequest, fe.Field, err.Error()))
				return
			}
			s.logger.Printf("experiments: %v", err)
			writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
				message: "the configuration could not be stored, retry", index: -1})
			return
		}
	default:
		methodNotAllowed(ctx, "GET, PUT, POST")
		return
	}
	cfg, arms := l.Experiments()
	snap := l.Model().Snapshot()
	w, learning, steps := s.svc.RankerWeights()
	writeJSON(ctx, struct {
		Experiments []learn.ExperimentConfig `json:"experiments"`
		Arms        []learn.ArmStats         `json:"arms"`
		Model       modelJSON                `json:"model"`
		Weights     weightsJSON              `json:"weights"`
	}{Experiments: nonNil(cfg.Experiments), Arms: arms,
		Model:   modelJSON{Version: snap.Version, Labels: snap.Labels, Clicks: snap.Clicks, Warm: snap.Warm()},
		Weights: weightsJSON{Learning: learning, Steps: steps, Values: w.ByName()}})
}

// weightsJSON is the state of the ranker's weights: whether they learn,
// the steps they took, and their values by feature.
type weightsJSON struct {
	Learning bool               `json:"learning"`
	Steps    uint64             `json:"steps"`
	Values   map[string]float64 `json:"values"`
}

// setExperiments sets c: at once on a single node; through the log on a
// node of a cluster, checked here first, so that every node sets it.
func (s *Server) setExperiments(ctx *fasthttp.RequestCtx, l *learn.Learner, c *learn.ExperimentsConfig) error {
	if s.node == nil {
		return l.SetExperiments(c)
	}
	if err := l.CheckExperiments(c); err != nil {
		return err
	}
	tok, _, err := s.node.PutExperiments(context.Background(), c)
	setToken(ctx, tok)
	return err
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
	l := s.svc.Learner()
	if l == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "learning is disabled", index: -1})
		return
	}
	r, ok := l.Report(id)
	if !ok {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no such experiment: " + id, index: -1})
		return
	}
	writeJSON(ctx, r)
}
