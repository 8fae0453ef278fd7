// Package ident holds the one rule every id of tailor's API follows: users,
// items, campaigns, event ids and sessions alike.
//
// An id is 1 to MaxBytes bytes of printable UTF-8 with no '/' (ids appear as
// one segment of a URL path) and is neither "." nor ".." (which a path
// resolves away). Because ids are checked where they come in, every id that
// was stored can be read and erased through its URL.
package ident

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is the longest id, in bytes.
const MaxBytes = 256

// Problem says what is wrong with id, or "" when it is a valid id. The text
// reads after the field's name: "user " + Problem(u).
func Problem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > MaxBytes:
		return "is longer than " + strconv.Itoa(MaxBytes) + " bytes"
	case id == "." || id == "..":
		return `must not be "." or ".."`
	}
	for i, r := range id {
		switch {
		case r == utf8.RuneError && !validAt(id, i):
			return "is not valid UTF-8"
		case r == '/':
			return "must not contain '/'"
		case !unicode.IsPrint(r):
			return "must be printable: no control characters"
		}
	}
	return ""
}

// Valid reports whether id is a valid id.
func Valid(id string) bool { return Problem(id) == "" }

// validAt reports whether the rune at byte i of s is a real U+FFFD rather
// than the marker of an invalid byte.
func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 3
}
