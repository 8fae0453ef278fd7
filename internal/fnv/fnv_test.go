package fnv

import (
	"hash/fnv"
	"testing"
)

// TestMatchesHashFNV: the state functions give the standard library's
// FNV-1a.
func TestMatchesHashFNV(t *testing.T) {
	for _, s := range []string{"", "a", "tailor", "跑步鞋", "a\x00b\xff"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := String(Offset, s), h.Sum64(); got != want {
			t.Errorf("String(Offset, %q) = %x, want %x", s, got, want)
		}
		if got, want := Bytes(Offset, []byte(s)), h.Sum64(); got != want {
			t.Errorf("Bytes(Offset, %q) = %x, want %x", s, got, want)
		}
		h.Write([]byte{0xff})
		if got, want := Byte(String(Offset, s), 0xff), h.Sum64(); got != want {
			t.Errorf("Byte(String(Offset, %q), 0xff) = %x, want %x", s, got, want)
		}
	}
	if Mix(1) == 1 || Mix(1) == Mix(2) {
		t.Error("Mix does not mix")
	}
}
