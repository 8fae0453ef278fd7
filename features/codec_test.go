package features

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fullProfile returns a profile with every list at its default cap, unicode
// keys and negative, zero and extreme times.
func fullProfile() *Profile {
	var lim Limits
	lim.setDefaults()
	p := &Profile{
		User:          "用户-ü-🙂",
		Version:       math.MaxUint64,
		FirstSeen:     -86_400_000,
		LastSeen:      0,
		Events:        1 << 40,
		Counts:        [numEventTypes]uint32{0, 1, math.MaxUint32, 3, 4, 5},
		DecayedAt:     -1,
		Purchases:     math.MaxUint32,
		Monetary:      -0.5,
		FirstPurchase: math.MinInt64,
		LastPurchase:  math.MaxInt64,
	}
	for i := range lim.Categories {
		p.Categories = append(p.Categories, Weighted{Key: fmt.Sprintf("运动/跑步/%d", i), Weight: float32(i) / 3})
	}
	for i := range lim.Brands {
		p.Brands = append(p.Brands, Weighted{Key: fmt.Sprintf("Brändé %d", i), Weight: -float32(i)})
	}
	for i := range lim.Terms {
		p.Terms = append(p.Terms, Weighted{Key: fmt.Sprintf("ラン%d", i), Weight: math.MaxFloat32})
	}
	times := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	for i := range lim.Recent {
		p.Recent = append(p.Recent, Action{
			Type:    EventType(1 + i%5),
			Target:  fmt.Sprintf("商品%d", i),
			TS:      times[i%len(times)],
			Session: fmt.Sprintf("s%d", i%3),
		})
	}
	for i := range lim.Purchased {
		p.Purchased = append(p.Purchased, fmt.Sprintf("item-%d", i))
	}
	return p
}

// randomProfile returns a profile with random contents (no NaN weights, so that
// reflect.DeepEqual can compare it).
func randomProfile(r *rand.Rand) *Profile {
	str := func() string {
		const alphabet = "ab/ é跑🙂\x00\xff"
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	ts := func() int64 {
		switch r.IntN(4) {
		case 0:
			return int64(r.Uint64()) // anywhere, extremes included
		case 1:
			return 0
		}
		return 1_760_000_000_000 + r.Int64N(1<<36) - 1<<35
	}
	weights := func(n int) []Weighted {
		if n == 0 {
			return nil
		}
		ws := make([]Weighted, n)
		for i := range ws {
			ws[i] = Weighted{Key: str(), Weight: float32(r.NormFloat64() * 100)}
		}
		return ws
	}
	p := &Profile{
		User:          str(),
		Version:       r.Uint64(),
		FirstSeen:     ts(),
		LastSeen:      ts(),
		Events:        r.Uint64() >> r.IntN(64),
		DecayedAt:     ts(),
		Categories:    weights(r.IntN(65)),
		Brands:        weights(r.IntN(33)),
		Terms:         weights(r.IntN(65)),
		Purchases:     r.Uint32(),
		Monetary:      r.NormFloat64() * 1e4,
		FirstPurchase: ts(),
		LastPurchase:  ts(),
	}
	for i := range p.Counts {
		p.Counts[i] = r.Uint32() >> r.IntN(32)
	}
	if n := r.IntN(51); n > 0 {
		p.Recent = make([]Action, n)
		for i := range p.Recent {
			p.Recent[i] = Action{Type: EventType(1 + r.IntN(5)), Target: str(), TS: ts(), Session: str()}
		}
	}
	if n := r.IntN(201); n > 0 {
		p.Purchased = make([]string, n)
		for i := range p.Purchased {
			p.Purchased[i] = str()
		}
	}
	p.Attrs = Attributes{Region: str(), Country: str(), AgeBand: str(), Gender: str(), Tier: r.IntN(1001)}
	for i := r.IntN(4); i > 0; i-- {
		p.Attrs.Channels = append(p.Attrs.Channels, str())
	}
	for i := r.IntN(4); i > 0; i-- {
		p.Attrs.Labels = append(p.Attrs.Labels, Label{Key: str(), Value: str()})
	}
	for i := r.IntN(20); i > 0; i-- {
		// Amounts in cents: stored as exact integer millionths.
		p.Orders = append(p.Orders, Order{TS: ts(), Amount: float64(r.IntN(1e9)) / 100, Session: r.Uint32()})
	}
	for i := r.IntN(5); i > 0; i-- {
		p.Repurchases = append(p.Repurchases, Repurchase{Key: str(), Item: str(), First: ts(), Last: ts(), Count: r.Uint32()})
	}
	p.PriceLog, p.PriceWeight = float32(r.NormFloat64()), float32(r.Float64()*100)
	for i := range p.Hours {
		p.Hours[i] = r.Uint32() >> r.IntN(32)
	}
	p.Channels = weights(r.IntN(9))
	return p
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    *Profile
	}{
		{"empty", &Profile{}},
		{"user only", &Profile{User: "u1"}},
		{"full", fullProfile()},
	}
	for _, tt := range tests {
		enc := AppendEncoded(nil, tt.p)
		got, err := Decode(enc)
		if err != nil {
			t.Errorf("Decode(AppendEncoded(%s)) error = %v, want nil", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.p) {
			t.Errorf("Decode(AppendEncoded(%s)) = %+v, want %+v", tt.name, got, tt.p)
		}
		// Appending to a non-empty buffer must not change the encoding.
		prefixed := AppendEncoded([]byte("xyz"), tt.p)
		if !bytes.Equal(prefixed[3:], enc) {
			t.Errorf("AppendEncoded(%q, %s) = %q, want %q after the prefix", "xyz", tt.name, prefixed[3:], enc)
		}
	}
}

func TestCodecProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		p := randomProfile(r)
		enc := AppendEncoded(nil, p)
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(AppendEncoded(profile %d)) error = %v, want nil", i, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("Decode(AppendEncoded(profile %d)) = %+v, want %+v", i, got, p)
		}
	}
}

// TestDecodeIntoReusedProfile decodes random profiles one after another into
// one profile, as writers do: each comes out whole, with nothing left of the
// one before, whichever is larger.
func TestDecodeIntoReusedProfile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	into := new(Profile)
	for i := 0; i < 300; i++ {
		want := randomProfile(r)
		if i%3 == 0 {
			want = &Profile{User: "blank"}
		}
		enc := AppendEncoded(nil, want)
		if err := decodeInto(into, string(enc)); err != nil {
			t.Fatalf("decodeInto(profile %d) error = %v, want nil", i, err)
		}
		if got := AppendEncoded(nil, into); !bytes.Equal(got, enc) {
			t.Fatalf("profile %d decoded into a reused profile = %+v, want %+v", i, into, want)
		}
	}
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	p := &Profile{User: "alice", Purchased: []string{"i1"}, Recent: []Action{{Type: View, Target: "i1", TS: 5}}}
	buf := AppendEncoded(nil, p)
	got, err := Decode(buf)
	if err != nil {
		t.Fatalf("Decode(%q) error = %v, want nil", buf, err)
	}
	for i := range buf {
		buf[i] = 0
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("Decode result after reusing its buffer = %+v, want %+v", got, p)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	valid := AppendEncoded(nil, fullProfile())
	small := AppendEncoded(nil, &Profile{User: "u", Recent: []Action{{Type: Cart, Target: "i", TS: 1}}})
	badType := bytes.Clone(small)
	// The recent action's type byte follows version, user, six varints and
	// counts; find it rather than hard-code the offset.
	i := bytes.Index(badType, []byte{byte(Cart), 1, 'i'})
	if i < 0 {
		t.Fatalf("encoding %q lacks the recent action", small)
	}
	badType[i] = byte(numEventTypes)
	zeroType := bytes.Clone(small)
	zeroType[i] = 0

	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"version only", []byte{codecVersion}},
		{"unknown version", append([]byte{codecVersion + 1}, valid[1:]...)},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"huge list count", append([]byte{codecVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"varint overflow", []byte{codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"action type out of range", badType},
		{"action type zero", zeroType},
	}
	for _, tt := range tests {
		if p, err := Decode(tt.in); err != ErrCorrupt {
			t.Errorf("Decode(%s %q) = %v, %v, want nil, ErrCorrupt", tt.name, tt.in, p, err)
		}
	}
	for n := 0; n < len(valid); n++ {
		if p, err := Decode(valid[:n]); err != ErrCorrupt {
			t.Fatalf("Decode(first %d of %d bytes) = %v, %v, want nil, ErrCorrupt", n, len(valid), p, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	seeds := [][]byte{
		AppendEncoded(nil, &Profile{}),
		AppendEncoded(nil, &Profile{User: "u", Recent: []Action{{Type: View, Target: "i", TS: -3, Session: "s"}}}),
		AppendEncoded(nil, fullProfile()),
		AppendEncoded(nil, randomProfile(r)),
	}
	full := seeds[2]
	for _, n := range []int{0, 1, 2, 10, len(full) / 3, len(full) / 2, len(full) - 9, len(full) - 1} {
		seeds = append(seeds, full[:n])
	}
	seeds = append(seeds, append(bytes.Clone(seeds[1]), 0))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			if p != nil {
				t.Fatalf("Decode(%q) = %v, %v, want nil profile with the error", data, p, err)
			}
			return
		}
		// The encoding is injective (floats are written as their bits), so
		// equal re-encodings mean equal profiles, NaN weights included.
		enc := AppendEncoded(nil, p)
		p2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(AppendEncoded(Decode(%q))) error = %v, want nil", data, err)
		}
		if enc2 := AppendEncoded(nil, p2); !bytes.Equal(enc2, enc) {
			t.Fatalf("AppendEncoded(Decode(%q)) = %q, want %q", enc, enc2, enc)
		}
	})
}
