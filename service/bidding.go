package service

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prebid/openrtb/v20/openrtb2"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/ledger"
)

// BiddingOptions configure the bidder's campaigns and money. Zero fields
// take their defaults.
type BiddingOptions struct {
	// NoticeKey signs the notice URLs of bids, so that notices cannot be
	// forged. Default: a random key made on first start and kept in the data
	// directory.
	NoticeKey []byte
	// Auction configures currency rates, the seat, bid shading and the click
	// model. The seat defaults to "tailor"; the click model to the ads model
	// of learning once warm, the hand-set one before.
	Auction auction.Options
	// Ledger configures budget reservations, pacing and notice memory. Its
	// clock defaults to the service's.
	Ledger ledger.Options
}

func (o *BiddingOptions) setDefaults(now func() time.Time) {
	if o.Ledger.Now == nil {
		o.Ledger.Now = now
	}
	if o.Auction.Seat == "" {
		o.Auction.Seat = "tailor"
	}
}

// bidding holds the bidder's stores and its auction.
type bidding struct {
	camps     *campaign.Store
	ledger    *ledger.Ledger
	auction   *auction.Auction
	noticeKey []byte
}

// noticeKeyName is the meta key the generated notice key is kept under.
const noticeKeyName = "server/notice-key"

func (s *Service) openBidding() error {
	o := &s.opts.Bidding
	camps, err := campaign.Open(s.db, campaign.Options{Value: o.Auction.Rates.CampaignValue}, s.reg)
	if err != nil {
		return err
	}
	l, err := ledger.Open(s.db, o.Ledger)
	if err != nil {
		return err
	}
	key := o.NoticeKey
	if len(key) == 0 {
		if key, err = loadNoticeKey(s.db); err != nil {
			l.Close()
			return err
		}
	}
	if o.Auction.Model == nil {
		o.Auction.Model = s.adCTR()
	}
	s.bid = bidding{camps: camps, ledger: l, noticeKey: key, auction: auction.New(s.idx, camps, l, o.Auction)}
	registerBankMetrics(s.reg, l)
	return nil
}

func (s *Service) closeBidding() error {
	if s.bid.ledger == nil {
		return nil
	}
	return s.bid.ledger.Close()
}

// loadNoticeKey returns the notice signing key kept in db, making one on
// first use.
func loadNoticeKey(db *pebble.DB) ([]byte, error) {
	k := kv.Key(kv.PrefixMeta, noticeKeyName)
	v, closer, err := db.Get(k)
	if err == nil {
		key := bytes.Clone(v)
		closer.Close()
		return key, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("service: cannot read the notice key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := db.Set(k, key, pebble.Sync); err != nil {
		return nil, fmt.Errorf("service: cannot store the notice key: %w", err)
	}
	return key, nil
}

// Campaigns returns the campaign store.
func (s *Service) Campaigns() *campaign.Store { return s.bid.camps }

// Ledger returns the budgets, holds and notices of the campaigns.
func (s *Service) Ledger() *ledger.Ledger { return s.bid.ledger }

// Auction returns the ad auction.
func (s *Service) Auction() *auction.Auction { return s.bid.auction }

// NoticeKey returns the key that signs the notice URLs of bids.
func (s *Service) NoticeKey() []byte { return s.bid.noticeKey }

// Seat returns the bidder's seat in bid responses.
func (s *Service) Seat() string { return s.opts.Bidding.Auction.Seat }

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

// maxDataSegments bounds the exchange segments looked at per request.
const maxDataSegments = 256

// BidSegments appends to dst the segments a bid request's user is in, among
// those some active campaign targets, and returns them: from the profile p
// (nil when unknown; into, whose Indicators must be set, is the memory for
// what audiences see of it as of now) and from the exchange's data about the
// user. Only what can matter is worked out: nothing when no campaign targets
// a segment, and audience expressions only for targeted audiences.
func (s *Service) BidSegments(dst []string, into *audience.Subject, p *features.Profile, data []openrtb2.Data, now int64) []string {
	targeted := s.bid.camps.Snapshot().TargetedSegments()
	if len(targeted) == 0 {
		return dst
	}
	if p != nil {
		s.SubjectInto(into, p, now)
		ind := into.Indicators
		for _, t := range targeted {
			var in bool
			switch {
			case t == ind.Lifecycle:
				in = true
			case strings.HasPrefix(t, segStage):
				in = t[len(segStage):] == ind.Lifecycle
			case strings.HasPrefix(t, segTier):
				in = into.Scores.Tier != "" && t[len(segTier):] == into.Scores.Tier
			case strings.HasPrefix(t, segPrice):
				in = ind.PriceBand != "" && t[len(segPrice):] == ind.PriceBand
			case strings.HasPrefix(t, segAudience):
				in = s.InAudience(t[len(segAudience):], into)
			}
			if in {
				dst = append(dst, t)
			}
		}
	}
	n := 0
	for _, d := range data {
		for _, seg := range d.Segment {
			if n++; n > maxDataSegments {
				return dst
			}
			for _, t := range targeted {
				if len(t) == len(d.ID)+1+len(seg.ID) && strings.HasPrefix(t, d.ID) && t[len(d.ID)] == ':' && strings.HasSuffix(t, seg.ID) {
					dst = append(dst, t)
				}
			}
		}
	}
	return dst
}
