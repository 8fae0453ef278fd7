package service

import (
	"errors"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/model"
)

// LearningOptions configure the decision log, the click models and the
// experiments (package learn). The ranker settings, clock and logger of
// learn.Options are the service's.
type LearningOptions struct {
	// Disabled turns it all off: answers carry no rec_id, impressions are
	// accepted and ignored, and the ranker keeps its hand-set weights.
	Disabled bool
	learn.Options
}

// openLearning starts the decision log, the click models and the
// experiments, unless learning is disabled.
func (s *Service) openLearning() error {
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
func (s *Service) closeLearning() error {
	if s.learn == nil {
		return nil
	}
	return s.learn.Close()
}

// Learner returns the decision log and experiments, nil when learning is
// disabled.
func (s *Service) Learner() *learn.Learner { return s.learn }

// Model returns the click model, nil when learning is disabled.
func (s *Service) Model() *model.Model {
	if s.learn == nil {
		return nil
	}
	return s.learn.Model()
}

// AdModel returns the bidder's click model, nil when learning is disabled.
// Ad labels built with auction.CTRVector teach it.
func (s *Service) AdModel() *model.Model {
	if s.learn == nil {
		return nil
	}
	return s.learn.AdModel()
}

// adCTR is the bidder's pCTR: the ads model once warm, the hand-set model
// before, and always when learning is disabled.
func (s *Service) adCTR() auction.CTRModel {
	if s.learn == nil {
		return auction.DefaultCTRModel
	}
	return &auction.LearnedCTR{Model: s.learn.AdModel(), Fallback: auction.DefaultCTRModel}
}

// ErrLearningDisabled is returned by the operations of learning when it is
// turned off.
var ErrLearningDisabled = errors.New("service: learning is disabled")

// SetExperiments validates, stores and applies an experiments
// configuration. Arms that keep their experiment id and name keep their
// counters.
func (s *Service) SetExperiments(c *learn.ExperimentsConfig) error {
	if s.learn == nil {
		return ErrLearningDisabled
	}
	return s.learn.SetExperiments(c)
}
