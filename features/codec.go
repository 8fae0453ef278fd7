package features

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/tailor-dev/tailor/internal/wire"
)

// codecVersion is the first byte of every encoded profile. A decoder refuses
// versions it does not know rather than guess.
const codecVersion = 1

// sameSession flags a recent event whose session is the previous event's.
const sameSession = 0x80

// ErrCorrupt is returned when an encoded profile cannot be decoded.
var ErrCorrupt = errors.New("features: corrupt profile encoding")

// AppendEncoded appends the compact binary encoding of p to dst.
func AppendEncoded(dst []byte, p *Profile) []byte {
	dst = slices.Grow(dst, encodedSizeHint(p))
	dst = append(dst, codecVersion)
	dst = appendString(dst, p.User)
	dst = binary.AppendUvarint(dst, p.Version)
	dst = binary.AppendVarint(dst, p.FirstSeen)
	dst = binary.AppendVarint(dst, p.LastSeen)
	dst = binary.AppendUvarint(dst, p.Events)
	for _, c := range p.Counts {
		dst = binary.AppendUvarint(dst, uint64(c))
	}
	dst = binary.AppendVarint(dst, p.DecayedAt)
	for _, list := range [...][]Weighted{p.Categories, p.Brands, p.Terms} {
		dst = binary.AppendUvarint(dst, uint64(len(list)))
		for _, w := range list {
			dst = appendString(dst, w.Key)
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(w.Weight))
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Recent)))
	prev, session := p.LastSeen, ""
	for i, a := range p.Recent {
		// Consecutive events mostly share a session: the high bit of the type
		// byte says "same session as the previous event" and saves repeating it.
		if i > 0 && a.Session == session {
			dst = append(dst, byte(a.Type)|sameSession)
		} else {
			dst = append(dst, byte(a.Type))
		}
		dst = appendString(dst, a.Target)
		dst = binary.AppendVarint(dst, a.TS-prev)
		prev = a.TS
		if i == 0 || a.Session != session {
			dst = appendString(dst, a.Session)
			session = a.Session
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Purchased)))
	for _, id := range p.Purchased {
		dst = appendString(dst, id)
	}
	dst = binary.AppendUvarint(dst, uint64(p.Purchases))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(p.Monetary))
	dst = binary.AppendVarint(dst, p.FirstPurchase)
	dst = binary.AppendVarint(dst, p.LastPurchase)

	a := &p.Attrs
	dst = appendString(dst, a.Region)
	dst = appendString(dst, a.Country)
	dst = appendString(dst, a.AgeBand)
	dst = appendString(dst, a.Gender)
	dst = binary.AppendUvarint(dst, uint64(a.Tier))
	dst = binary.AppendUvarint(dst, uint64(len(a.Channels)))
	for _, c := range a.Channels {
		dst = appendString(dst, c)
	}
	dst = binary.AppendUvarint(dst, uint64(len(a.Labels)))
	for _, l := range a.Labels {
		dst = appendString(dst, l.Key)
		dst = appendString(dst, l.Value)
	}

	dst = binary.AppendUvarint(dst, uint64(len(p.Orders)))
	var prevTS int64
	for _, o := range p.Orders {
		dst = binary.AppendVarint(dst, o.TS-prevTS)
		prevTS = o.TS
		dst = binary.AppendUvarint(dst, toMicros(o.Amount))
		dst = binary.LittleEndian.AppendUint32(dst, o.Session)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Repurchases)))
	for _, r := range p.Repurchases {
		dst = appendString(dst, r.Key)
		dst = appendString(dst, r.Item)
		dst = binary.AppendVarint(dst, r.First)
		dst = binary.AppendVarint(dst, r.Last-r.First)
		dst = binary.AppendUvarint(dst, uint64(r.Count))
	}
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(p.PriceLog))
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(p.PriceWeight))
	for _, h := range p.Hours {
		dst = binary.AppendUvarint(dst, uint64(h))
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Channels)))
	for _, w := range p.Channels {
		dst = appendString(dst, w.Key)
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(w.Weight))
	}
	return dst
}

// Amounts are stored as integer millionths, exact for any amount in cents.
func toMicros(x float64) uint64 {
	if x <= 0 || math.IsNaN(x) {
		return 0
	}
	if x >= 1e13 {
		return 1e19
	}
	return uint64(math.Round(x * 1e6))
}

func fromMicros(m uint64) float64 { return float64(m) / 1e6 }

// encodedSizeHint estimates the encoded size of p, to allocate once.
func encodedSizeHint(p *Profile) int {
	n := 128 + len(p.User) + 8*len(p.Purchased) + 12*len(p.Recent) + 12*len(p.Orders) + 24*len(p.Repurchases)
	for _, list := range [...][]Weighted{p.Categories, p.Brands, p.Terms} {
		for _, w := range list {
			n += len(w.Key) + 6
		}
	}
	for i := range p.Recent {
		n += len(p.Recent[i].Target)
	}
	for _, id := range p.Purchased {
		n += len(id)
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decode decodes a profile encoded by AppendEncoded. The profile's strings share
// one copy of buf, so buf may be reused once Decode returns.
func Decode(buf []byte) (*Profile, error) { return decodeString(string(buf)) }

// decodeString is Decode for an encoding held in a string, which the profile's
// strings then share: it copies nothing but the slices.
func decodeString(enc string) (*Profile, error) {
	p := &Profile{}
	if err := decodeInto(p, enc); err != nil {
		return nil, err
	}
	return p, nil
}

// sized returns s with length n, in s's own array when it has room; nil for
// n = 0 when s has none.
func sized[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// decodeInto is decodeString into p, whose slices' arrays it reuses: the
// write path decodes a profile for every user of a batch and drops it once
// encoded again.
func decodeInto(p *Profile, enc string) error {
	if len(enc) == 0 || enc[0] != codecVersion {
		return ErrCorrupt
	}
	d := wire.Reader{S: enc[1:]}
	p.reset("")
	p.User = d.Str()
	p.Version = d.Uvarint()
	p.FirstSeen = d.Varint()
	p.LastSeen = d.Varint()
	p.Events = d.Uvarint()
	for i := range p.Counts {
		p.Counts[i] = uint32(d.Uvarint())
	}
	p.DecayedAt = d.Varint()
	for _, list := range [...]*[]Weighted{&p.Categories, &p.Brands, &p.Terms} {
		*list = sized(*list, d.Count(5))
		for i := range *list {
			(*list)[i] = Weighted{Key: d.Str(), Weight: math.Float32frombits(d.Uint32())}
		}
	}
	if n := d.Count(3); n > 0 {
		p.Recent = sized(p.Recent, n)
		prev, session := p.LastSeen, ""
		for i := range p.Recent {
			a := &p.Recent[i]
			t := d.Byte()
			a.Type = EventType(t &^ sameSession)
			a.Target = d.Str()
			a.TS = prev + d.Varint()
			prev = a.TS
			if t&sameSession == 0 {
				session = d.Str()
			} else if i == 0 {
				d.Err = true
			}
			a.Session = session
			if a.Type == 0 || int(a.Type) >= numEventTypes {
				d.Err = true
			}
		}
	}
	if n := d.Count(1); n > 0 {
		p.Purchased = sized(p.Purchased, n)
		for i := range p.Purchased {
			p.Purchased[i] = d.Str()
		}
	}
	p.Purchases = uint32(d.Uvarint())
	p.Monetary = math.Float64frombits(d.Uint64())
	p.FirstPurchase = d.Varint()
	p.LastPurchase = d.Varint()

	a := &p.Attrs
	a.Region, a.Country, a.AgeBand, a.Gender = d.Str(), d.Str(), d.Str(), d.Str()
	a.Tier = int(d.Uvarint())
	if n := d.Count(1); n > 0 {
		a.Channels = sized(a.Channels, n)
		for i := range a.Channels {
			a.Channels[i] = d.Str()
		}
	}
	if n := d.Count(2); n > 0 {
		a.Labels = sized(a.Labels, n)
		for i := range a.Labels {
			a.Labels[i] = Label{Key: d.Str(), Value: d.Str()}
		}
	}
	if n := d.Count(6); n > 0 {
		p.Orders = sized(p.Orders, n)
		var prevTS int64
		for i := range p.Orders {
			o := &p.Orders[i]
			o.TS = prevTS + d.Varint()
			prevTS = o.TS
			o.Amount = fromMicros(d.Uvarint())
			o.Session = d.Uint32()
		}
	}
	if n := d.Count(5); n > 0 {
		p.Repurchases = sized(p.Repurchases, n)
		for i := range p.Repurchases {
			r := &p.Repurchases[i]
			r.Key, r.Item = d.Str(), d.Str()
			r.First = d.Varint()
			r.Last = r.First + d.Varint()
			r.Count = uint32(d.Uvarint())
		}
	}
	p.PriceLog = math.Float32frombits(d.Uint32())
	p.PriceWeight = math.Float32frombits(d.Uint32())
	for i := range p.Hours {
		p.Hours[i] = uint32(d.Uvarint())
	}
	if n := d.Count(5); n > 0 {
		p.Channels = sized(p.Channels, n)
		for i := range p.Channels {
			p.Channels[i] = Weighted{Key: d.Str(), Weight: math.Float32frombits(d.Uint32())}
		}
	}
	if d.Err || len(d.S) != 0 {
		return ErrCorrupt
	}
	return nil
}
