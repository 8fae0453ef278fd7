package model

import "github.com/tailor-dev/tailor/internal/fnv"

// Feature is one input of the model: a hashed key and its value. Categorical
// features have value 1; numeric ones carry their value, best scaled to about
// [-1, 1].
type Feature struct {
	Key   uint32
	Value float32
}

// Hash builds a feature key. Start with NS, extend with Str, Int and Cross,
// finish with Key or Feature. It is a value type: building keys allocates
// nothing.
type Hash uint64

// NS starts a key in namespace ns ("item", "seg_x_cat", ...).
func NS(ns string) Hash { return Hash(fnv.Offset).Str(ns) }

// Str extends h with s. Str("ab").Str("c") and Str("a").Str("bc") differ.
func (h Hash) Str(s string) Hash {
	// A separator after it, so that concatenations do not collide.
	return Hash(fnv.Byte(fnv.String(uint64(h), s), 0xff))
}

// Bytes extends h with b, as Str does with a string.
func (h Hash) Bytes(b []byte) Hash { return Hash(fnv.Byte(fnv.Bytes(uint64(h), b), 0xff)) }

// Int extends h with v.
func (h Hash) Int(v int64) Hash {
	x := uint64(h)
	for i := 0; i < 8; i++ {
		x = fnv.Byte(x, byte(uint64(v)>>(8*i)))
	}
	return Hash(x)
}

// Cross combines two keys into the key of their conjunction. It is not
// symmetric: a.Cross(b) and b.Cross(a) differ.
func (h Hash) Cross(o Hash) Hash {
	return Hash(fnv.Mix(uint64(h)*31 ^ fnv.Mix(uint64(o))))
}

// Key folds h into a feature key.
func (h Hash) Key() uint32 {
	x := fnv.Mix(uint64(h))
	return uint32(x) ^ uint32(x>>32)
}

// Feature returns the feature with key h and value v.
func (h Hash) Feature(v float32) Feature { return Feature{Key: h.Key(), Value: v} }

// Bias is the key of the intercept, a feature every example should carry
// with value 1.
var Bias = NS("bias").Feature(1)

// Position returns the feature of the slot position an item was shown at (0
// for the first), positions past 20 sharing one key. Learning with it and
// scoring without it ranks by position-free click propensity.
func Position(pos int) Feature {
	if pos > 20 {
		pos = 20
	}
	return positionKeys[pos]
}

var positionKeys = func() (keys [21]Feature) {
	for i := range keys {
		keys[i] = NS("pos").Int(int64(i)).Feature(1)
	}
	return keys
}()
