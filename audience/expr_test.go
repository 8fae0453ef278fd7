package audience

import (
	"strings"
	"testing"

	"github.com/tailor-dev/tailor/features"
)

func subject() *Subject {
	p := &features.Profile{
		User:       "u",
		Events:     12,
		Purchases:  3,
		Categories: []features.Weighted{{Key: "Baby", Weight: 10}, {Key: "Baby/Formula", Weight: 6}, {Key: "Home", Weight: 2}},
		Brands:     []features.Weighted{{Key: "Acme", Weight: 4}},
		Attrs: features.Attributes{Tier: 2, Country: "GB", Region: "North", Channels: []string{"email"},
			Labels: []features.Label{{Key: "vip", Value: "yes"}}},
	}
	ind := &features.Indicators{Lifecycle: features.StageAtRisk, RecencyDays: 70, Frequency: 3, Monetary: 120.5,
		PriceBand: features.BandBudget, Replenish: []features.Replenishment{{Key: "Baby/Formula"}}}
	return &Subject{Profile: p, Indicators: ind, Scores: features.Scores{R: 2, F: 3, M: 4, Tier: "potential"}}
}

func TestMatch(t *testing.T) {
	s := subject()
	tests := []struct {
		expr string
		want bool
	}{
		{`lifecycle = at_risk`, true},
		{`lifecycle = "at_risk"`, true},
		{`lifecycle = AT_RISK`, true},
		{`lifecycle != active`, true},
		{`lifecycle = at_risk AND interest("Baby/Formula") > 0.3 AND tier >= 2`, true},
		{`lifecycle = at_risk AND interest("Baby/Formula") > 0.7`, false},
		{`interest("Baby") = 1`, true},
		{`interest("Garden") > 0`, false},
		{`tier > 2 OR country = GB`, true},
		{`NOT (tier > 2 OR country = GB)`, false},
		{`not tier >= 3`, true},
		{`country IN ("FR", "GB")`, true},
		{`country IN ("FR", "DE")`, false},
		{`r IN (1, 2)`, true},
		{`value_tier = potential and m >= 4 and f = 3 and r < 3`, true},
		{`monetary >= 120.5 AND frequency = 3 AND recency_days > 60`, true},
		{`accepts("email") AND NOT accepts("sms")`, true},
		{`label("vip") = yes`, true},
		{`label("other") = ""`, true},
		{`replenish_due AND replenish("Baby")`, true},
		{`replenish("Home")`, false},
		{`due_wakeup`, false},
		{`due_wakeup = false`, true},
		{`brand("Acme") = 1 AND price_band = budget`, true},
		{`events > 10 AND purchases = 3`, true},
		{`true`, true},
		{`(((lifecycle = at_risk)))`, true},
		{`tier >= 2 and (region = North or region = South) and gender = ""`, true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q) = %v", tt.expr, err)
			continue
		}
		if got := e.Match(s); got != tt.want {
			t.Errorf("Parse(%q).Match = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr string
		pos  int
		msg  string
	}{
		{``, 0, "expected a field"},
		{`lifecycle`, 0, "must be compared"},
		{`lifecycle > 3`, 10, "cannot compare"},
		{`lifecycle < active`, 10, "compares numbers"},
		{`tier >= "gold"`, 5, "cannot compare"},
		{`nosuch = 1`, 0, "unknown field"},
		{`nosuch("x") > 1`, 0, "unknown function"},
		{`interest(`, 9, "takes one string argument"},
		{`interest("a"`, 12, "expected ')'"},
		{`tier > 1 AND`, 12, "expected a field"},
		{`tier > 1 tier`, 9, "unexpected"},
		{`(tier > 1`, 9, "expected ')'"},
		{`tier > 1 AND 3`, 13, "must be compared"},
		{`"unterminated`, 0, "unterminated string"},
		{`tier ! 1`, 5, "'!' must be followed"},
		{`tier > 1 # comment`, 9, "unexpected character"},
		{`country IN (GB, 3)`, 16, "IN list holds"},
		{`country IN GB`, 11, "expected '('"},
		{strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), 64, "nests too deeply"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tt.expr, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %v, want at %d %q", tt.expr, se, tt.pos, tt.msg)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`lifecycle = at_risk AND interest("Baby/Formula") > 0.3 AND tier >= 2`,
		`NOT (a = b)`, `country IN ("GB", x)`, `"`, `((((`, `tier >= -1.5e3`, `label('k') != v`} {
		f.Add(s)
	}
	s := subject()
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			return
		}
		e.Match(s) // must not panic
		if e.String() != src {
			t.Errorf("String() = %q, want %q", e.String(), src)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	e, err := Parse(`lifecycle = at_risk AND interest("Baby/Formula") > 0.3 AND tier >= 2 AND country IN ("GB", "FR")`)
	if err != nil {
		b.Fatal(err)
	}
	s := subject()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !e.Match(s) {
			b.Fatal("no match")
		}
	}
}
