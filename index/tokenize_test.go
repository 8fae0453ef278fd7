package index

import (
	"slices"
	"testing"
)

func TestAppendTerms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Trail Running Shoes", []string{"trail", "running", "shoe"}},
		{"non-stick pans, 28cm", []string{"non", "stick", "pan", "28cm"}},
		{"dress glass bus", []string{"dress", "glass", "bus"}},
		{"跑步鞋", []string{"跑步", "步鞋"}},
		{"轻量 跑步鞋 Nike", []string{"轻量", "跑步", "步鞋", "nike"}},
		{"鞋", []string{"鞋"}},
		{"ランニングシューズ", []string{"ラン", "ンニ", "ニン", "ング", "グシ", "シュ", "ュー", "ーズ"}},
		{"ÉCOLE café", []string{"école", "café"}},
		{"", nil},
		{"  ,;! ", nil},
	}
	for _, tt := range tests {
		if got := AppendTerms(nil, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("AppendTerms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzAppendTerms(f *testing.F) {
	for _, s := range []string{"Trail Running Shoes", "跑步鞋", "a\xffb", "ÉCOLE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, term := range AppendTerms(nil, s) {
			if term == "" {
				t.Fatalf("AppendTerms(%q) produced an empty term", s)
			}
		}
	})
}
