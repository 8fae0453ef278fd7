package service

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/every"
	"github.com/tailor-dev/tailor/trigger"
)

// segments wires RFM segmentation, audiences and triggers together.
type segments struct {
	current atomic.Pointer[features.Segmentation]
	aud     *audience.Store
	out     *trigger.Outbox
	refresh sync.Mutex // one refresh at a time
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// openSegments loads the last segmentation, opens the audiences and the
// trigger outbox, and starts webhook delivery and, with SegmentEvery, the
// periodic refresh.
func (s *Service) openSegments() error {
	g, err := s.store.LoadSegmentation()
	if err != nil {
		return err
	}
	s.seg.current.Store(g)
	if s.seg.aud, err = audience.Open(s.db, s.opts.Now); err != nil {
		return err
	}
	if st := s.opts.Triggers; st.Store != nil {
		s.seg.out = trigger.OpenOutbox(st.Store, st.Outbox)
	} else {
		local, err := trigger.OpenPebble(s.db)
		if err != nil {
			return err
		}
		s.seg.out = trigger.OpenOutbox(local, trigger.OutboxOptions{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.seg.cancel = cancel
	wh := s.opts.Webhooks
	if wh.Logger == nil {
		wh.Logger = s.opts.Logger
	}
	s.seg.done.Add(1)
	go func() {
		defer s.seg.done.Done()
		s.seg.out.Deliver(ctx, s.seg.aud, wh)
	}()
	if interval := s.opts.SegmentEvery; interval > 0 {
		s.seg.done.Add(1)
		go func() {
			defer s.seg.done.Done()
			every.Tick(ctx, interval, func() {
				// Every node keeps its own segmentation; where nodes share
				// trigger state, one of them sweeps it (a little over two
				// periods: the holder renews it at each of its sweeps).
				sweep := s.seg.out.ClaimSweep(2*interval + time.Minute)
				if _, _, err := s.RefreshSegments(s.now(), sweep); err != nil {
					s.opts.Logger.Printf("segments: %v", err)
				}
			})
		}()
	}
	return nil
}

func (s *Service) stopSegments() {
	if s.seg.cancel != nil {
		s.seg.cancel()
		s.seg.done.Wait()
	}
}

// Audiences returns the stored audiences.
func (s *Service) Audiences() *audience.Store { return s.seg.aud }

// Outbox returns the trigger records awaiting their readers and webhooks.
func (s *Service) Outbox() *trigger.Outbox { return s.seg.out }

// Segmentation returns the latest RFM segmentation, nil before the first.
func (s *Service) Segmentation() *features.Segmentation { return s.seg.current.Load() }

// Subject returns what audience expressions see of p as of now.
func (s *Service) Subject(p *features.Profile, now int64) *audience.Subject {
	subj := &audience.Subject{Indicators: new(features.Indicators)}
	s.SubjectInto(subj, p, now)
	return subj
}

// SubjectInto is Subject into the caller's memory: subj.Indicators must be
// set, and is reused.
func (s *Service) SubjectInto(subj *audience.Subject, p *features.Profile, now int64) {
	features.ComputeInto(subj.Indicators, p, now, s.opts.Lifecycle)
	subj.Profile = p
	subj.Scores = s.seg.current.Load().Score(subj.Indicators)
}

// InAudience reports whether subj (nil for an unknown user) is in the
// named audience; an unknown audience has no members.
func (s *Service) InAudience(name string, subj *audience.Subject) bool {
	if subj == nil {
		return false
	}
	a, err := s.seg.aud.Get(name)
	return err == nil && a.Expr() != nil && a.Expr().Match(subj)
}

// RefreshSegments recomputes the RFM segmentation over every profile as of
// now, stores it and, when sweep is set, evaluates every user against the
// audiences with triggers. It returns the segmentation and the number of
// trigger records appended. A segmentation as of another time than now,
// for analysing historical data, should not sweep.
func (s *Service) RefreshSegments(now int64, sweep bool) (*features.Segmentation, int, error) {
	s.seg.refresh.Lock()
	defer s.seg.refresh.Unlock()
	g, err := s.store.Segment(now, s.opts.Lifecycle, s.opts.Tiers)
	if err != nil {
		return nil, 0, err
	}
	if err := s.store.SaveSegmentation(g); err != nil {
		return nil, 0, err
	}
	s.seg.current.Store(g)
	if !sweep {
		return g, 0, nil
	}
	n, err := s.sweepTriggers(now)
	return g, n, err
}

// sweepTriggers evaluates every profile against the triggered audiences as
// of now. An audience stored after now (during a long refresh) waits for the
// next sweep: its webhook queue passes over records stamped before it.
func (s *Service) sweepTriggers(now int64) (int, error) {
	triggered := slices.DeleteFunc(slices.Clone(s.seg.aud.Triggered()), func(a *audience.Audience) bool { return a.Updated > now })
	if len(triggered) == 0 {
		return 0, nil
	}
	var evals []trigger.Evaluation
	appended := 0
	flush := func() error {
		recs, err := s.seg.out.Apply(triggered, evals, now)
		appended += len(recs)
		evals = evals[:0]
		return err
	}
	var ferr error
	err := s.store.EachProfile("", func(p *features.Profile) bool {
		evals = append(evals, s.evaluation(p, now))
		if len(evals) == 1000 {
			ferr = flush()
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		err = flush()
	}
	return appended, err
}

func (s *Service) evaluation(p *features.Profile, now int64) trigger.Evaluation {
	subj := s.Subject(p, now)
	return trigger.Evaluation{User: p.User, Version: p.Version, Member: func(a *audience.Audience) bool { return a.Expr().Match(subj) }}
}

// checkTriggers evaluates the users just changed against the triggered
// audiences, so that transitions caused by events show at once rather than
// at the next sweep.
func (s *Service) checkTriggers(users []string) error {
	triggered := s.seg.aud.Triggered()
	if len(triggered) == 0 || len(users) == 0 {
		return nil
	}
	now := s.now()
	evals := make([]trigger.Evaluation, 0, len(users))
	for _, u := range users {
		p, err := s.store.Get(u)
		if err != nil {
			if errors.Is(err, features.ErrNotFound) {
				continue
			}
			return err
		}
		evals = append(evals, s.evaluation(p, now))
	}
	_, err := s.seg.out.Apply(triggered, evals, now)
	if errors.Is(err, trigger.ErrPaused) {
		return nil // the failure that paused it was reported
	}
	return err
}

// MembersPage is one page of an audience's members.
type MembersPage struct {
	// Users are the members found, in user id order.
	Users []string
	// Next is the cursor to continue from; empty on the last page.
	Next string
	// Scanned is the number of profiles looked at.
	Scanned int
}

// Members lists the members of a, as of now, among the profiles after
// cursor in user id order: at most limit of them, scanning at most maxScan
// profiles, so a page may hold fewer than limit members and still not be
// the last.
func (s *Service) Members(a *audience.Audience, cursor string, limit, maxScan int, now int64) (MembersPage, error) {
	page := MembersPage{Users: []string{}}
	last := ""
	finished := true
	err := s.store.EachProfile(cursor, func(p *features.Profile) bool {
		if len(page.Users) == limit || page.Scanned == maxScan {
			finished = false
			return false
		}
		page.Scanned++
		last = p.User
		if a.Expr().Match(s.Subject(p, now)) {
			page.Users = append(page.Users, p.User)
		}
		return true
	})
	if !finished {
		page.Next = last
	}
	return page, err
}

// Erase deletes everything known of a user: the profile, the history, the
// sessions the index keeps for session neighbours and the user's place in
// trigger state, so that a user who comes back is new. It returns
// features.ErrNotFound for an unknown user.
func (s *Service) Erase(user string) error {
	s.idx.ForgetUser(user)
	if err := s.store.Delete(user); err != nil {
		return err
	}
	return s.seg.out.ForgetUser(s.seg.aud.Triggered(), user)
}

// UpsertAttributes stores validated attribute updates, all or none, then
// evaluates the users against the triggered audiences, as Ingest does.
func (s *Service) UpsertAttributes(updates []features.AttributesUpdate) error {
	if err := s.store.UpdateAttributes(updates); err != nil {
		return err
	}
	users := make([]string, 0, len(updates))
	for _, u := range updates {
		users = append(users, u.User)
	}
	if err := s.checkTriggers(users); err != nil {
		// The attributes are stored; the next sweep catches the transition.
		s.opts.Logger.Printf("triggers: %v", err)
	}
	return nil
}
