package index

import (
	"unicode"
	"unicode/utf8"
)

// AppendTerms appends the search terms of s to dst: lowercase runs of letters
// and digits, with a light plural fold ("shoes" -> "shoe"), and overlapping
// character bigrams for runs of CJK characters ("跑步鞋" -> "跑步", "步鞋"), so
// that unsegmented Chinese and Japanese text matches without a dictionary.
func AppendTerms(dst []string, s string) []string {
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case isCJK(r):
			j := i
			var runes int
			for j < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[j:])
				if !isCJK(r2) {
					break
				}
				j += w2
				runes++
			}
			dst = appendBigrams(dst, s[i:j], runes)
			i = j
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			j := i
			lower := true
			for j < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[j:])
				if isCJK(r2) || !(unicode.IsLetter(r2) || unicode.IsDigit(r2)) {
					break
				}
				if unicode.ToLower(r2) != r2 {
					lower = false
				}
				j += w2
			}
			word := s[i:j]
			if !lower {
				word = toLower(word)
			}
			dst = append(dst, fold(word))
			i = j
		default:
			i += w
		}
	}
	return dst
}

func appendBigrams(dst []string, run string, runes int) []string {
	if runes == 1 {
		return append(dst, run)
	}
	for i := 0; i < len(run); {
		_, w1 := utf8.DecodeRuneInString(run[i:])
		if i+w1 >= len(run) {
			break
		}
		_, w2 := utf8.DecodeRuneInString(run[i+w1:])
		dst = append(dst, run[i:i+w1+w2])
		i += w1
	}
	return dst
}

func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	if r == 'ー' || r == '々' {
		return true
	}
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

func toLower(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return string(b)
}

// fold removes a plural "s" from words of four or more letters ("shoes",
// "pans"), leaving "ss" endings ("dress") alone.
func fold(w string) string {
	n := len(w)
	if n >= 4 && w[n-1] == 's' && w[n-2] != 's' && w[n-2] != 'u' && w[n-2] != 'i' {
		return w[:n-1]
	}
	return w
}
