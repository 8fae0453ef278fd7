package server

import (
	"strings"

	"github.com/prebid/openrtb/v20/openrtb2"

	"github.com/tailor-dev/tailor/features"
)

// Segment names campaigns target (targeting.segments), and how a bid request
// puts a user in them:
//
//	new, active, loyal, at_risk, lapsed, prospect   the lifecycle stage (also as "lifecycle:<stage>")
//	tier:<name>                                    the RFM value tier ("tier:champions")
//	price:<band>                                   the price band ("price:premium")
//	audience:<name>                                membership of a stored audience
//	<data id>:<segment id>                         a segment the exchange sends in user.data
//
// All of them come from what is known about the user, so none applies when
// privacy signals forbid using it.
const (
	segTier     = "tier:"
	segPrice    = "price:"
	segAudience = "audience:"
	segStage    = "lifecycle:"
)

// bidSegments appends to sc.Segments the segments the user of req is in, among
// those some active campaign targets, and returns them. Only what can matter
// is worked out: nothing when no campaign targets a segment, and audience
// expressions only for targeted audiences.
func (s *Server) bidSegments(sc *bidScratch, req *openrtb2.BidRequest, p *features.Profile, now int64) []string {
	set := s.bid.camps.Snapshot()
	targeted := set.TargetedSegments()
	segs := sc.Segments[:0]
	if len(targeted) == 0 {
		return segs
	}
	if p != nil {
		if sc.subj.Indicators == nil {
			sc.subj.Indicators = &sc.ind
		}
		s.subjectInto(&sc.subj, p, now)
		ind := sc.subj.Indicators
		for _, t := range targeted {
			var in bool
			switch {
			case t == ind.Lifecycle:
				in = true
			case strings.HasPrefix(t, segStage):
				in = t[len(segStage):] == ind.Lifecycle
			case strings.HasPrefix(t, segTier):
				in = sc.subj.Scores.Tier != "" && t[len(segTier):] == sc.subj.Scores.Tier
			case strings.HasPrefix(t, segPrice):
				in = ind.PriceBand != "" && t[len(segPrice):] == ind.PriceBand
			case strings.HasPrefix(t, segAudience):
				if a, err := s.seg.aud.Get(t[len(segAudience):]); err == nil && a.Expr() != nil {
					in = a.Expr().Match(&sc.subj)
				}
			}
			if in {
				segs = append(segs, t)
			}
		}
	}
	if req.User != nil {
		n := 0
		for _, d := range req.User.Data {
			for _, seg := range d.Segment {
				if n++; n > maxDataSegments {
					return segs
				}
				for _, t := range targeted {
					if len(t) == len(d.ID)+1+len(seg.ID) && strings.HasPrefix(t, d.ID) && t[len(d.ID)] == ':' && strings.HasSuffix(t, seg.ID) {
						segs = append(segs, t)
					}
				}
			}
		}
	}
	return segs
}

// maxDataSegments bounds the exchange segments looked at per request.
const maxDataSegments = 256
