package openrtb

import (
	"encoding/json"
	"strconv"

	tcf2 "github.com/prebid/go-gdpr/consentconstants/tcf2"
	"github.com/prebid/go-gdpr/vendorconsent"
	gpp "github.com/prebid/go-gpp"
	gppconst "github.com/prebid/go-gpp/constants"
	"github.com/prebid/go-gpp/sections"
	"github.com/prebid/go-gpp/sections/uspca"
	"github.com/prebid/go-gpp/sections/uspco"
	"github.com/prebid/go-gpp/sections/uspct"
	"github.com/prebid/go-gpp/sections/uspnat"
	"github.com/prebid/go-gpp/sections/usput"
	"github.com/prebid/go-gpp/sections/uspva"
	"github.com/prebid/openrtb/v20/openrtb2"
	"github.com/valyala/fastjson"
)

// Signals are a request's privacy and supply-chain signals, taken from
// their OpenRTB 2.6 places or, when those are empty, from the 2.5 ext places
// Prebid Server and older exchanges use (regs.ext.gdpr, regs.ext.us_privacy,
// regs.ext.gpp, regs.ext.gpp_sid, user.ext.consent, user.ext.eids,
// source.ext.schain).
type Signals struct {
	coppa     bool
	gdpr      int // -1 when the request does not say
	consent   string
	usPrivacy string
	gpp       string
	gppSID    []int8
	schain    *openrtb2.SupplyChain
	eids      int
	p         fastjson.Parser
}

// SupplyChain returns the request's supply chain, nil when it has none.
func (e *Signals) SupplyChain() *openrtb2.SupplyChain { return e.schain }

// EIDs returns how many extended user ids the request carries.
func (e *Signals) EIDs() int { return e.eids }

func (e *Signals) read(req *openrtb2.BidRequest) {
	e.coppa, e.gdpr, e.consent, e.usPrivacy, e.gpp, e.gppSID, e.schain, e.eids = false, -1, "", "", "", e.gppSID[:0], nil, 0
	if r := req.Regs; r != nil {
		e.coppa = r.COPPA == 1
		if r.GDPR != nil {
			e.gdpr = int(*r.GDPR)
		}
		e.usPrivacy, e.gpp = r.USPrivacy, r.GPP
		e.gppSID = append(e.gppSID, r.GPPSID...)
		if v := e.object(r.Ext); v != nil {
			if e.gdpr < 0 {
				e.gdpr = lenientInt(v.Get("gdpr"), -1)
			}
			if e.usPrivacy == "" {
				e.usPrivacy = lenientString(v.Get("us_privacy"))
			}
			if e.gpp == "" {
				e.gpp = lenientString(v.Get("gpp"))
			}
			if len(e.gppSID) == 0 {
				for _, sid := range v.GetArray("gpp_sid") {
					if n := lenientInt(sid, -1); n >= 0 && n < 128 {
						e.gppSID = append(e.gppSID, int8(n))
					}
				}
			}
			if !e.coppa {
				e.coppa = lenientInt(v.Get("coppa"), 0) == 1
			}
		}
	}
	if u := req.User; u != nil {
		e.consent = u.Consent
		e.eids = len(u.EIDs)
		if v := e.object(u.Ext); v != nil {
			if e.consent == "" {
				e.consent = lenientString(v.Get("consent"))
			}
			if e.eids == 0 {
				e.eids = len(v.GetArray("eids"))
			}
		}
	}
	if s := req.Source; s != nil {
		e.schain = s.SChain
		if e.schain == nil {
			if v := e.object(s.Ext); v != nil {
				if sc := v.Get("schain"); sc != nil && sc.Type() == fastjson.TypeObject {
					var chain openrtb2.SupplyChain
					if json.Unmarshal(sc.MarshalTo(nil), &chain) == nil {
						e.schain = &chain
					}
				}
			}
		}
	}
}

// object parses an ext; nil unless it is a JSON object. Values are valid
// until the next call.
func (e *Signals) object(ext json.RawMessage) *fastjson.Value {
	if len(ext) == 0 {
		return nil
	}
	v, err := e.p.ParseBytes(ext)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// lenientInt reads a number or a numeric string.
func lenientInt(v *fastjson.Value, def int) int {
	if v == nil {
		return def
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		if n, err := v.Int(); err == nil {
			return n
		}
	case fastjson.TypeString:
		if n, err := strconv.Atoi(string(v.GetStringBytes())); err == nil {
			return n
		}
	}
	return def
}

// lenientString copies a string value; "" for anything else.
func lenientString(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	return string(v.GetStringBytes())
}

// gdprCountries are the countries whose users GDPR (or the UK's and Swiss
// equivalents) protects: the EEA, the United Kingdom and Switzerland. A
// request from one of them that does not say whether GDPR applies is taken
// to say that it does.
var gdprCountries = map[string]bool{
	"AUT": true, "BEL": true, "BGR": true, "HRV": true, "CYP": true, "CZE": true, "DNK": true, "EST": true,
	"FIN": true, "FRA": true, "DEU": true, "GRC": true, "HUN": true, "IRL": true, "ITA": true, "LVA": true,
	"LTU": true, "LUX": true, "MLT": true, "NLD": true, "POL": true, "PRT": true, "ROU": true, "SVK": true,
	"SVN": true, "ESP": true, "SWE": true, "ISL": true, "LIE": true, "NOR": true, "GBR": true, "CHE": true,
}

// Personal reports whether the request's privacy signals allow using what
// tailor knows about the user. Any of these forbids it: COPPA; GDPR applying
// without a TCF v2 consent string that grants purposes 1 (store and access
// information on a device), 3 (create a personalised ads profile) and 4
// (select personalised ads) (and vendor, when not 0); a US
// Privacy string opting out of sale; a GPP string that cannot be read or
// whose applicable US sections opt out of sale, sharing or targeted
// advertising, signal Global Privacy Control, or lack consent for a known
// child's data.
func Personal(e *Signals, country string, vendor uint16) bool {
	if e.coppa {
		return false
	}
	if usPrivacyOptOut(e.usPrivacy) {
		return false
	}
	gppConsent := ""
	if e.gpp != "" {
		optOut, tcf := gppSignals(e.gpp, e.gppSID)
		if optOut {
			return false
		}
		gppConsent = tcf
	}
	if e.gdpr == 1 || e.gdpr < 0 && gdprCountries[country] {
		consent := e.consent
		if consent == "" {
			consent = gppConsent
		}
		return tcfConsent(consent, vendor)
	}
	return true
}

// usPrivacyOptOut reads an IAB US Privacy string ("1YYN"): its third
// character is Y when the user opted out of sale. Malformed strings say
// nothing.
func usPrivacyOptOut(s string) bool {
	return len(s) == 4 && s[0] == '1' && (s[2] == 'Y' || s[2] == 'y')
}

// tcfConsent reports whether a TCF v2 consent string grants purposes 1, 3
// and 4, and the bidder's vendor when it has one.
func tcfConsent(s string, vendor uint16) bool {
	if s == "" {
		return false
	}
	c, err := vendorconsent.ParseString(s)
	if err != nil || c.Version() != 2 {
		return false
	}
	if !c.PurposeAllowed(tcf2.InfoStorageAccess) || !c.PurposeAllowed(tcf2.PersonalizationProfile) ||
		!c.PurposeAllowed(tcf2.PersonalizationSelection) {
		return false
	}
	return vendor == 0 || c.VendorConsent(vendor)
}

// gppSignals reads a GPP string: whether its applicable sections (those in
// sids, or all when sids is empty) opt the user out, and the TCF EU v2
// consent string it carries, if any. A string that cannot be read opts out.
func gppSignals(s string, sids []int8) (optOut bool, tcf string) {
	c, errs := gpp.Parse(s)
	if len(errs) > 0 || len(c.SectionTypes) != len(c.Sections) {
		return true, ""
	}
	applies := func(id gppconst.SectionID) bool {
		if len(sids) == 0 {
			return true
		}
		for _, sid := range sids {
			if gppconst.SectionID(sid) == id {
				return true
			}
		}
		return false
	}
	for i, sec := range c.Sections {
		id := c.SectionTypes[i]
		if !applies(id) {
			continue
		}
		switch v := sec.(type) {
		case uspnat.USPNAT:
			cs := &v.CoreSegment
			if cs.SaleOptOut == 1 || cs.SharingOptOut == 1 || cs.TargetedAdvertisingOptOut == 1 ||
				childWithoutConsent(cs.KnownChildSensitiveDataConsents) || v.GPCSegment.Gpc {
				return true, ""
			}
		case uspca.USPCA:
			cs := &v.CoreSegment
			if cs.SaleOptOut == 1 || cs.SharingOptOut == 1 || childWithoutConsent(cs.KnownChildSensitiveDataConsents) || v.GPCSegment.Gpc {
				return true, ""
			}
		case uspva.USPVA:
			if commonOptOut(&v.CoreSegment, sections.CommonUSGPCSegment{}) {
				return true, ""
			}
		case uspco.USPCO:
			if commonOptOut(&v.CoreSegment, v.GPCSegment) {
				return true, ""
			}
		case uspct.USPCT:
			if commonOptOut(&v.CoreSegment, v.GPCSegment) {
				return true, ""
			}
		case usput.USPUT:
			cs := &v.CoreSegment
			if cs.SaleOptOut == 1 || cs.TargetedAdvertisingOptOut == 1 || cs.KnownChildSensitiveDataConsents == 1 {
				return true, ""
			}
		default:
			switch id {
			case gppconst.SectionUSPV1:
				if usPrivacyOptOut(sec.GetValue()) {
					return true, ""
				}
			case gppconst.SectionTCFEU2:
				tcf = sec.GetValue()
			}
		}
	}
	return false, tcf
}

func commonOptOut(cs *sections.CommonUSCoreSegment, g sections.CommonUSGPCSegment) bool {
	return cs.SaleOptOut == 1 || cs.TargetedAdvertisingOptOut == 1 || childWithoutConsent(cs.KnownChildSensitiveDataConsents) || g.Gpc
}

// childWithoutConsent reads GPP's known-child consent fields: 1 means no
// consent.
func childWithoutConsent(fields []byte) bool {
	for _, f := range fields {
		if f == 1 {
			return true
		}
	}
	return false
}
