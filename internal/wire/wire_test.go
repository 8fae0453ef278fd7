package wire

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestReadsWhatBinaryWrites: every reader agrees with encoding/binary, and
// a short or corrupt input sets Err and reads zeros after it.
func TestReadsWhatBinaryWrites(t *testing.T) {
	var b []byte
	b = binary.AppendUvarint(b, math.MaxUint64)
	b = binary.AppendVarint(b, math.MinInt64)
	b = binary.AppendVarint(b, -3)
	b = binary.LittleEndian.AppendUint32(b, 0xdeadbeef)
	b = binary.LittleEndian.AppendUint64(b, 0x0123456789abcdef)
	b = binary.AppendUvarint(b, 5)
	b = append(b, "hello"...)
	b = append(b, 7)
	b = binary.AppendUvarint(b, 2)
	b = append(b, 1, 2)
	r := Reader{S: string(b)}
	if v := r.Uvarint(); v != math.MaxUint64 {
		t.Errorf("Uvarint = %d", v)
	}
	if v := r.Varint(); v != math.MinInt64 {
		t.Errorf("Varint = %d", v)
	}
	if v := r.Varint(); v != -3 {
		t.Errorf("Varint = %d", v)
	}
	if v := r.Uint32(); v != 0xdeadbeef {
		t.Errorf("Uint32 = %x", v)
	}
	if v := r.Uint64(); v != 0x0123456789abcdef {
		t.Errorf("Uint64 = %x", v)
	}
	if v := r.Str(); v != "hello" {
		t.Errorf("Str = %q", v)
	}
	if v := r.Byte(); v != 7 {
		t.Errorf("Byte = %d", v)
	}
	if n := r.Count(1); n != 2 || r.Err {
		t.Errorf("Count = %d, %v", n, r.Err)
	}
	r.Byte()
	r.Byte()
	if r.Err || r.S != "" {
		t.Fatalf("at the end: %q, %v", r.S, r.Err)
	}
	for _, bad := range []struct {
		name string
		in   string
		read func(*Reader)
	}{
		{"a cut varint", "\x80", func(r *Reader) { r.Uvarint() }},
		{"a varint past 64 bits", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", func(r *Reader) { r.Uvarint() }},
		{"a string longer than the rest", "\x05abc", func(r *Reader) { r.Str() }},
		{"a count that cannot fit", "\x09ab", func(r *Reader) { r.Count(1) }},
		{"a cut uint32", "abc", func(r *Reader) { r.Uint32() }},
		{"nothing", "", func(r *Reader) { r.Byte() }},
	} {
		r := Reader{S: bad.in}
		bad.read(&r)
		if !r.Err || r.Byte() != 0 {
			t.Errorf("%s: Err = %v", bad.name, r.Err)
		}
	}
}
