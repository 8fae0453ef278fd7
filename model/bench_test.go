package model

import (
	"math/rand/v2"
	"testing"
)

// benchVectors are examples shaped like the ranker's: a bias, eleven named
// features, an item, three user segment x category crosses and a dozen query
// term x item term crosses, plus a position.
func benchVectors(n int) ([][]Feature, []bool) {
	r := rand.New(rand.NewPCG(1, 1))
	xs := make([][]Feature, n)
	ys := make([]bool, n)
	for i := range xs {
		x := []Feature{Bias, Position(r.IntN(10)), NS("item").Int(int64(r.IntN(100000))).Feature(1)}
		for f := 0; f < 11; f++ {
			x = append(x, NS("f").Int(int64(f)).Feature(float32(r.Float64())))
		}
		for c := 0; c < 3; c++ {
			x = append(x, NS("seg").Int(int64(c*10+r.IntN(10))).Cross(NS("cat").Int(int64(r.IntN(500)))).Feature(1))
		}
		for c := 0; c < 12; c++ {
			x = append(x, NS("qt").Int(int64(r.IntN(5000))).Cross(NS("it").Int(int64(r.IntN(5000)))).Feature(1))
		}
		xs[i] = x
		ys[i] = r.IntN(30) == 0
	}
	return xs, ys
}

func BenchmarkUpdate(b *testing.B) {
	m, _ := Open(nil, Options{Logger: quiet}, nil)
	xs, ys := benchVectors(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Update(xs[i&4095], ys[i&4095])
	}
}

func BenchmarkLogit(b *testing.B) {
	m, _ := Open(nil, Options{Logger: quiet}, nil)
	xs, ys := benchVectors(4096)
	for i := range xs {
		m.Update(xs[i], ys[i])
	}
	s := m.Publish()
	b.ReportAllocs()
	b.ResetTimer()
	var sum float64
	for i := 0; i < b.N; i++ {
		sum += s.Logit(xs[i&4095])
	}
	_ = sum
}

func BenchmarkPublish(b *testing.B) {
	m, _ := Open(nil, Options{Logger: quiet}, nil)
	xs, ys := benchVectors(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range xs {
			m.Update(xs[j], ys[j])
		}
		m.Publish()
	}
}
