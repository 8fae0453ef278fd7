package cluster

import "testing"

func TestTokenRoundTrip(t *testing.T) {
	for _, s := range []string{"", "0:1", "0:12,3:40", "2:7,4095:1"} {
		tok, err := ParseToken(s)
		if err != nil {
			t.Fatalf("ParseToken(%q): %v", s, err)
		}
		if got := tok.String(); got != s {
			t.Errorf("ParseToken(%q).String() = %q", s, got)
		}
	}
	tok, err := ParseToken("3:40,0:12,3:9")
	if err != nil || tok.String() != "0:12,3:40" {
		t.Errorf("ParseToken(unordered, repeated) = %q, %v; want 0:12,3:40", tok, err)
	}
}

func TestParseTokenRejects(t *testing.T) {
	for _, s := range []string{"x", "0", "0:", ":4", "-1:3", "0:0", "0:-2", "4096:1", "0:1,", "a:b"} {
		if _, err := ParseToken(s); err == nil {
			t.Errorf("ParseToken(%q) = nil error, want one", s)
		}
	}
}

func TestTokenCoveredBy(t *testing.T) {
	tok, _ := ParseToken("0:5,2:3")
	for _, c := range []struct {
		applied []int64
		want    bool
	}{
		{nil, false},
		{[]int64{5, 0, 3}, true},
		{[]int64{9, 9, 9, 9}, true},
		{[]int64{4, 0, 3}, false},
		{[]int64{5, 0, 2}, false},
		{[]int64{5, 0}, false},
	} {
		if got := tok.coveredBy(c.applied); got != c.want {
			t.Errorf("%q.coveredBy(%v) = %v, want %v", tok, c.applied, got, c.want)
		}
	}
	if !(Token{}).coveredBy(nil) {
		t.Error("the zero token must be covered by anything")
	}
	m := tok.Merge(Token{next: []int64{7}})
	if m.String() != "0:7,2:3" {
		t.Errorf("Merge = %q, want 0:7,2:3", m)
	}
}
