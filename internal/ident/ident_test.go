package ident

import (
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want string // "" for valid; otherwise a word of the problem
	}{
		{"u1", ""},
		{"runner-ana", ""},
		{"a..b", ""},
		{"...", ""},
		{"user@example.com", ""},
		{"跑步鞋", ""},
		{"with space", ""},
		{"\uFFFD", ""},
		{strings.Repeat("x", MaxBytes), ""},
		{"", "required"},
		{strings.Repeat("x", MaxBytes+1), "longer"},
		{".", `"."`},
		{"..", `"."`},
		{"a/b", "'/'"},
		{"../users/x", "'/'"},
		{"a\x00b", "printable"},
		{"a\nb", "printable"},
		{"a\x7fb", "printable"},
		{"\xff", "UTF-8"},
		{"ok\xc3", "UTF-8"},
	} {
		got := Problem(tc.id)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("Problem(%q) = %q, want %q", tc.id, got, tc.want)
		}
		if Valid(tc.id) != (tc.want == "") {
			t.Errorf("Valid(%q) = %v", tc.id, Valid(tc.id))
		}
	}
}

func FuzzProblem(f *testing.F) {
	for _, s := range []string{"u1", "..", "a/b", "\xff", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !Valid(id) {
			return
		}
		if strings.ContainsAny(id, "/\x00") || id == "." || id == ".." || len(id) > MaxBytes || id == "" {
			t.Fatalf("Valid(%q) = true", id)
		}
	})
}
