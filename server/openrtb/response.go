package openrtb

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/prebid/openrtb/v20/openrtb2"

	"github.com/tailor-dev/tailor/auction"
	"github.com/tailor-dev/tailor/campaign"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/jsonw"
	"github.com/tailor-dev/tailor/ledger"
)

// AppendResponse encodes the bid response of sc.Result, bidding as seat:
// one seat, one bid per imp won, each with its notice URLs. Nothing the request sent is reflected except its id and imp ids,
// escaped as JSON strings; the markup holds only the campaign's own text and
// the catalog's, escaped for the markup's language.
func (n *Notices) AppendResponse(dst []byte, sc *Request, req *openrtb2.BidRequest, seat string, now time.Time) []byte {
	res := &sc.Result
	br := &sc.Bid
	dst = append(dst, `{"id":`...)
	dst = jsonw.AppendString(dst, req.ID)
	dst = append(dst, `,"bidid":"`...)
	dst = strconv.AppendUint(dst, res.ID, 16)
	dst = append(dst, `","cur":`...)
	dst = jsonw.AppendString(dst, res.Cur)
	dst = append(dst, `,"seatbid":[{"seat":`...)
	dst = jsonw.AppendString(dst, seat)
	dst = append(dst, `,"bid":[`...)
	for i := range res.Bids {
		bid := &res.Bids[i]
		c, cr := bid.Campaign, bid.Creative
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":"`...)
		dst = strconv.AppendUint(dst, bid.ID, 16)
		dst = append(dst, `","impid":`...)
		dst = jsonw.AppendString(dst, br.Imps[bid.Imp].ID)
		dst = append(dst, `,"price":`...)
		dst = strconv.AppendFloat(dst, bid.Price, 'f', -1, 64)
		// A sponsored product's markup differs by item: so does its id.
		sc.crid = append(sc.crid[:0], cr.ID...)
		if bid.Item != nil {
			sc.crid = append(append(sc.crid, ':'), bid.Item.Item.ID...)
		}
		dst = append(dst, `,"adid":`...)
		dst = appendJSONBytes(dst, sc.crid)
		dst = append(dst, `,"crid":`...)
		dst = appendJSONBytes(dst, sc.crid)
		dst = append(dst, `,"cid":`...)
		dst = jsonw.AppendString(dst, c.ID)
		dst = append(dst, `,"adomain":[`...)
		for j, d := range c.ADomains {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = jsonw.AppendString(dst, d)
		}
		dst = append(dst, ']')
		if len(c.Bundle) > 0 {
			dst = append(dst, `,"bundle":`...)
			dst = jsonw.AppendString(dst, c.Bundle)
		}
		if len(cr.Cat) > 0 {
			dst = append(dst, `,"cat":[`...)
			for j, cat := range cr.Cat {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = jsonw.AppendString(dst, cat)
			}
			dst = append(dst, `],"cattax":`...)
			dst = strconv.AppendInt(dst, int64(cr.CatTax), 10)
		}
		if len(cr.Attr) > 0 {
			dst = append(dst, `,"attr":[`...)
			for j, a := range cr.Attr {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendInt(dst, int64(a), 10)
			}
			dst = append(dst, ']')
		}
		if cr.IURL != "" {
			dst = append(dst, `,"iurl":`...)
			dst = jsonw.AppendString(dst, cr.IURL)
		}
		if bid.W > 0 && bid.H > 0 {
			dst = append(dst, `,"w":`...)
			dst = strconv.AppendInt(dst, int64(bid.W), 10)
			dst = append(dst, `,"h":`...)
			dst = strconv.AppendInt(dst, int64(bid.H), 10)
		}
		if bid.Dur > 0 {
			dst = append(dst, `,"dur":`...)
			dst = strconv.AppendInt(dst, int64(bid.Dur), 10)
		}
		dst = append(dst, `,"mtype":`...)
		dst = strconv.AppendInt(dst, int64(cr.Format), 10)
		if bid.DealID != "" {
			dst = append(dst, `,"dealid":`...)
			dst = jsonw.AppendString(dst, bid.DealID)
		}
		// The markup, filled in whole and then escaped into the response.
		sc.adm = appendAdm(sc.adm[:0], bid)
		dst = append(dst, `,"adm":`...)
		dst = appendJSONBytes(dst, sc.adm)
		tok := n.AppendToken(sc.tok[:0], &sc.raw, &Token{
			Test: br.Test, Bid: bid.ID, Auction: auction.HashAuction(req.ID, br.Imps[bid.Imp].ID),
			User: auction.HashUser(br.User), BidAt: now.UnixMilli(),
			PriceResp: int64(bid.Price*1e6 + 0.5), PriceCamp: bid.PriceCampaign,
			RespCur: res.Cur, CampCur: c.Currency, Campaign: c.ID,
		})
		sc.tok = tok
		for _, k := range [...]struct {
			name string
			kind ledger.Kind
		}{{`,"nurl":"`, ledger.Win}, {`,"burl":"`, ledger.Billing}, {`,"lurl":"`, ledger.Loss}} {
			dst = append(dst, k.name...)
			dst = n.AppendNoticeURL(dst, k.kind, tok)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}]}\n"...)
}

// appendAdm fills the creative's markup template for bid.
func appendAdm(dst []byte, bid *auction.Bid) []byte {
	cr := bid.Creative
	esc := appendHTML
	if cr.Format == campaign.FormatNative {
		esc = appendJSONText
	}
	var item *index.Item
	if bid.Item != nil {
		item = &bid.Item.Item
	}
	for _, p := range cr.Adm {
		switch p.Macro {
		case campaign.MacroNone:
			dst = append(dst, p.Literal...)
		case campaign.MacroItemID:
			if item != nil {
				dst = esc(dst, item.ID)
			}
		case campaign.MacroItemTitle:
			if item != nil {
				dst = esc(dst, item.Title)
			}
		case campaign.MacroItemBrand:
			if item != nil {
				dst = esc(dst, item.Brand)
			}
		case campaign.MacroItemPrice:
			if item != nil {
				dst = strconv.AppendFloat(dst, item.Price, 'f', 2, 64)
			}
		case campaign.MacroCampaignID:
			dst = esc(dst, bid.Campaign.ID)
		case campaign.MacroCreativeID:
			dst = esc(dst, cr.ID)
		case campaign.MacroBidID:
			dst = strconv.AppendUint(dst, bid.ID, 16)
		case campaign.MacroWidth:
			dst = strconv.AppendInt(dst, int64(bid.W), 10)
		case campaign.MacroHeight:
			dst = strconv.AppendInt(dst, int64(bid.H), 10)
		}
	}
	return dst
}

// appendHTML appends s escaped for HTML and XML text and attribute values.
func appendHTML(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&#34;"...)
		case '\'':
			dst = append(dst, "&#39;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendJSONText appends s escaped for the inside of a JSON string (native
// markup is JSON).
func appendJSONText(dst []byte, s string) []byte {
	start := len(dst)
	dst = jsonw.AppendString(dst, s)
	// Drop the quotes AppendString adds.
	copy(dst[start:], dst[start+1:len(dst)-1])
	return dst[:len(dst)-2]
}

// appendJSONBytes appends b as a JSON string without copying it first.
func appendJSONBytes(dst, b []byte) []byte {
	return jsonw.AppendString(dst, unsafe.String(unsafe.SliceData(b), len(b))) // AppendString only reads it
}
