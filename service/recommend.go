package service

import (
	"errors"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ranker"
)

// Audiences are the audience conditions of a recommend request: the slot is
// only for members of Filter (others get an empty slot), and each boost
// applies when the user is in its audience.
type Audiences struct {
	Filter string
	Boosts []AudienceBoost
}

// AudienceBoost raises a category for the members of an audience.
type AudienceBoost struct {
	Audience string
	Boost    ranker.Boost
}

// Recommend ranks items for user (empty for an anonymous visitor) into res.
// It reads the user's profile, derives their indicators into into (nil:
// Recommend allocates; otherwise its Indicators must be set, and are
// reused), resolves the audience conditions in aud (which may be nil), fills
// req.Indicators, req.Boosts and req.Now, and ranks with the ranker of the
// user's experiment arm; req.Profile and into's Profile are the user's
// profile while it ranks, nil once it returns. An unknown user gets what an
// anonymous one gets. Unless learning is disabled, the answer is logged as
// a decision, which the Decision returned names for the impressions and
// clicks that follow (zero when disabled).
func (s *Service) Recommend(user string, aud *Audiences, into *audience.Subject, req *ranker.Request, res *ranker.Result) (learn.Decision, error) {
	req.Profile, req.Indicators = nil, nil
	req.Now = s.now()
	var subj *audience.Subject
	if user != "" {
		// The profile is read into pooled memory, given back once the slot is
		// ranked: nothing the request leaves behind points to it.
		p, _ := s.profiles.Get().(*features.Profile)
		if p == nil {
			p = new(features.Profile)
		}
		defer func() {
			req.Profile = nil
			if subj != nil {
				subj.Profile = nil
			}
			s.profiles.Put(p)
		}()
		err := s.store.GetInto(user, p)
		switch {
		case err == nil:
			if into == nil {
				into = &audience.Subject{Indicators: new(features.Indicators)}
			}
			req.Profile = p
			s.SubjectInto(into, p, req.Now)
			subj = into
			req.Indicators = subj.Indicators
		case !errors.Is(err, features.ErrNotFound):
			return learn.Decision{}, err
		}
	}
	if aud != nil {
		if aud.Filter != "" && !s.InAudience(aud.Filter, subj) {
			res.Items = res.Items[:0]
			return learn.Decision{}, nil
		}
		for _, b := range aud.Boosts {
			if s.InAudience(b.Audience, subj) {
				req.Boosts = append(req.Boosts, b.Boost)
			}
		}
	}
	if s.learn == nil {
		s.rank.Rank(req, res)
		return learn.Decision{}, nil
	}
	a := s.learn.Arm(user)
	req.Features = true
	a.Ranker().Rank(req, res)
	return s.learn.Record(user, a, req.Now, res), nil
}
