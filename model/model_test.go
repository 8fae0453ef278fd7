package model

import (
	"io"
	"log"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
)

var quiet = log.New(io.Discard, "", 0)

// Keys of a small generated problem.
var (
	keyStrong = NS("f").Str("strong").Key()
	keyWeak   = NS("f").Str("weak").Key()
	keyNeg    = NS("f").Str("negative").Key()
	keyNoise  = NS("f").Str("noise").Key()
)

// separable draws examples labelled by the sign of 3·strong + 1·weak −
// 2·negative − 0.5, a problem a logistic model separates exactly; noise
// carries no signal.
func separable(r *rand.Rand, x []Feature) ([]Feature, bool) {
	s, w, n, z := r.Float64()*2-1, r.Float64()*2-1, r.Float64()*2-1, r.Float64()*2-1
	x = append(x[:0], Bias,
		Feature{Key: keyStrong, Value: float32(s)}, Feature{Key: keyWeak, Value: float32(w)},
		Feature{Key: keyNeg, Value: float32(n)}, Feature{Key: keyNoise, Value: float32(z)})
	return x, 3*s+w-2*n-0.5 > 0
}

func TestFTRLSeparable(t *testing.T) {
	m, err := Open(nil, Options{Bits: 16, Alpha: 0.5, L1: 1, L2: 0.1, Logger: quiet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var x []Feature
	for i := 0; i < 50000; i++ {
		var y bool
		x, y = separable(r, x)
		m.Update(x, y)
	}
	s := m.Publish()
	strong, weak, neg, noise := s.Weight(keyStrong), s.Weight(keyWeak), s.Weight(keyNeg), s.Weight(keyNoise)
	t.Logf("strong %.3f weak %.3f negative %.3f noise %.3f bias %.3f", strong, weak, neg, noise, s.Weight(Bias.Key))
	if !(strong > 0 && weak > 0 && neg < 0) {
		t.Errorf("signs: strong %.3f weak %.3f negative %.3f, want +, +, -", strong, weak, neg)
	}
	if !(strong > -neg && -neg > weak) {
		t.Errorf("order: strong %.3f, |negative| %.3f, weak %.3f, want strong > |negative| > weak", strong, -neg, weak)
	}
	if math.Abs(noise) > 0.1*weak {
		t.Errorf("noise weight %.3f, want about 0 (weak is %.3f)", noise, weak)
	}
	// The ratios approach those of the separating plane.
	if ratio := strong / weak; ratio < 2 || ratio > 4.5 {
		t.Errorf("strong/weak = %.2f, want about 3", ratio)
	}
	// And it classifies fresh examples.
	wrong := 0
	for i := 0; i < 2000; i++ {
		var y bool
		x, y = separable(r, x)
		if (s.Predict(x) > 0.5) != y {
			wrong++
		}
	}
	if wrong > 60 {
		t.Errorf("%d of 2000 fresh examples misclassified, want under 3%%", wrong)
	}
}

func TestL1KeepsRareFeaturesAtZero(t *testing.T) {
	m, _ := Open(nil, Options{Bits: 12, L1: 5, Logger: quiet}, nil)
	rare := NS("rare").Feature(1)
	m.Update([]Feature{Bias, rare}, true)
	if w := m.Publish().Weight(rare.Key); w != 0 {
		t.Errorf("weight after one example = %v, want exactly 0 under L1", w)
	}
}

func TestWarm(t *testing.T) {
	clock := time.Unix(1700000000, 0)
	m, _ := Open(nil, Options{Bits: 10, MinLabels: 100, MinClicks: 10, PublishEvery: 1 << 30, PublishInterval: time.Hour,
		Now: func() time.Time { return clock }, Logger: quiet}, nil)
	if m.Snapshot().Warm() {
		t.Fatal("a new model is warm")
	}
	labels := make([]Label, 99)
	for i := range labels {
		labels[i] = Label{Click: i%5 == 0, Features: []Feature{Bias}}
	}
	if err := m.Learn(labels); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot().Warm() {
		t.Fatal("warm after 99 labels, want cold until 100")
	}
	v := m.Snapshot().Version
	if err := m.Learn(labels[:1]); err != nil {
		t.Fatal(err)
	}
	s := m.Snapshot()
	if !s.Warm() || s.Version != v+1 {
		t.Fatalf("after 100 labels: warm %v version %d, want a warm snapshot published at once (version %d)", s.Warm(), s.Version, v+1)
	}
}

func openDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := kv.Open(dir, kv.Options{CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// generated returns n labels over a few hundred crossed features.
func generated(n int, seed uint64) []Label {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]Label, n)
	for i := range out {
		seg, cat, pos := r.IntN(5), r.IntN(20), r.IntN(10)
		x := []Feature{Bias, NS("seg").Int(int64(seg)).Cross(NS("cat").Int(int64(cat))).Feature(1), Position(pos),
			NS("num").Feature(float32(r.Float64()))}
		p := Sigmoid(-2 + 0.15*float64((seg*7+cat)%5) - 0.2*float64(pos))
		out[i] = Label{TS: int64(i), Click: r.Float64() < p, Features: x, Item: "i", Arm: "a"}
	}
	return out
}

func probes() [][]Feature {
	var out [][]Feature
	for seg := 0; seg < 5; seg++ {
		for cat := 0; cat < 20; cat += 3 {
			out = append(out, []Feature{Bias, NS("seg").Int(int64(seg)).Cross(NS("cat").Int(int64(cat))).Feature(1), Position(0)})
		}
	}
	return out
}

func TestSnapshotSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	labels := generated(5000, 1)
	opts := Options{Bits: 14, MinLabels: 100, MinClicks: 5, Logger: quiet}

	db := openDB(t, dir)
	m, err := Open(db, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(labels); i += 500 {
		if err := m.Learn(labels[i : i+500]); err != nil {
			t.Fatal(err)
		}
	}
	before := m.Publish()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	m2, err := Open(db, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := m2.Snapshot()
	if after.Version <= before.Version {
		t.Errorf("version after restart %d, want above %d", after.Version, before.Version)
	}
	if after.Labels != before.Labels || after.Clicks != before.Clicks || after.Warm() != before.Warm() {
		t.Errorf("after restart: %d labels %d clicks warm %v, want %d %d %v",
			after.Labels, after.Clicks, after.Warm(), before.Labels, before.Clicks, before.Warm())
	}
	for _, x := range probes() {
		if a, b := after.Logit(x), before.Logit(x); a != b {
			t.Fatalf("Logit(%v) = %v after restart, %v before", x, a, b)
		}
	}
}

// TestCrashReplaysLabels stops without a checkpoint (as a crash would) and
// expects the labels stored since the last checkpoint to be learned again,
// giving exactly the model of an uninterrupted run.
func TestCrashReplaysLabels(t *testing.T) {
	labels := generated(3000, 2)
	opts := Options{Bits: 14, MinLabels: 100, MinClicks: 5, CheckpointInterval: time.Hour, Logger: quiet}

	ref, _ := Open(nil, opts, nil)
	if err := ref.Learn(labels); err != nil {
		t.Fatal(err)
	}
	want := ref.Publish()

	dir := t.TempDir()
	db := openDB(t, dir)
	m, _ := Open(db, opts, nil)
	if err := m.Learn(labels[:1000]); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := m.Learn(labels[1000:]); err != nil {
		t.Fatal(err)
	}
	db.Close() // no m.Close: the last 2,000 labels are only in the label log

	db = openDB(t, dir)
	defer db.Close()
	m2, err := Open(db, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := m2.Snapshot()
	if got.Labels != want.Labels {
		t.Fatalf("labels after replay %d, want %d", got.Labels, want.Labels)
	}
	for _, x := range probes() {
		if a, b := got.Logit(x), want.Logit(x); a != b {
			t.Fatalf("Logit(%v) = %v after replay, want %v", x, a, b)
		}
	}
	// Labels are kept and readable.
	n := 0
	err = EachLabel(db, "", func(seq uint64, l *Label) error {
		n++
		if l.Arm != "a" || len(l.Features) != 4 {
			t.Fatalf("label %d = %+v", seq, l)
		}
		return nil
	})
	if err != nil || n != 3000 {
		t.Fatalf("EachLabel: %d labels, %v; want 3000", n, err)
	}
}

func TestOtherWidthRetrains(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	labels := generated(2000, 3)
	m, _ := Open(db, Options{Bits: 12, Logger: quiet}, nil)
	if err := m.Learn(labels); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m2, err := Open(db, Options{Bits: 13, Logger: quiet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := m2.Snapshot(); s.Labels != 2000 {
		t.Errorf("a model of another width learned from %d stored labels, want 2000", s.Labels)
	}
	db.Close()
}

func TestNamedModelsKeepApart(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	defer db.Close()
	a, _ := Open(db, Options{Bits: 10, Logger: quiet}, nil)
	b, _ := Open(db, Options{Name: "ads", Bits: 10, Logger: quiet}, nil)
	if err := a.Learn(generated(300, 6)); err != nil {
		t.Fatal(err)
	}
	if err := b.Learn(generated(100, 7)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	a2, _ := Open(db, Options{Bits: 10, Logger: quiet}, nil)
	b2, _ := Open(db, Options{Name: "ads", Bits: 10, Logger: quiet}, nil)
	if a2.Stats().Labels != 300 || b2.Stats().Labels != 100 {
		t.Errorf("after reopening: %d and %d labels, want 300 and 100", a2.Stats().Labels, b2.Stats().Labels)
	}
	n := 0
	EachLabel(db, "ads", func(uint64, *Label) error { n++; return nil })
	if n != 100 {
		t.Errorf("%d labels of the ads model, want 100", n)
	}
}

func TestKeepLabels(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	defer db.Close()
	m, _ := Open(db, Options{Bits: 10, KeepLabels: 100, Logger: quiet}, nil)
	if err := m.Learn(generated(1000, 4)); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	EachLabel(db, "", func(seq uint64, _ *Label) error { seqs = append(seqs, seq); return nil })
	if len(seqs) != 100 || seqs[0] != 901 || !slices.IsSorted(seqs) {
		t.Errorf("kept %d labels from %v, want the latest 100 (901..1000)", len(seqs), seqs[:min(3, len(seqs))])
	}
}

func TestHashStable(t *testing.T) {
	// Snapshots store coordinates by key: changing the hash invalidates
	// every stored model. This pins it.
	for _, c := range []struct {
		got  uint32
		want uint32
	}{
		{NS("item").Str("shoe-1").Key(), 0x0eb964d0},
		{NS("seg").Str("loyal").Cross(NS("cat").Str("Books")).Key(), 0xd3415f1e},
		{Position(3).Key, 0xfa3f95ef},
	} {
		if c.got != c.want {
			t.Errorf("key = %#08x, want %#08x", c.got, c.want)
		}
	}
	if NS("a").Str("bc") == NS("a").Str("b").Str("c") || NS("ab") == NS("a").Str("b") {
		t.Error("concatenations collide")
	}
	if NS("a").Cross(NS("b")) == NS("b").Cross(NS("a")) {
		t.Error("Cross is symmetric")
	}
}

func TestLabelRoundTrip(t *testing.T) {
	l := Label{TS: -5, Click: true, RecID: 1 << 50, Item: "i-1", Experiment: "exp", Arm: "b",
		Features: []Feature{Bias, {Key: 7, Value: -0.25}}}
	got, err := DecodeLabel(AppendLabel(nil, &l))
	if err != nil {
		t.Fatal(err)
	}
	if got.TS != l.TS || got.Click != l.Click || got.RecID != l.RecID || got.Item != l.Item ||
		got.Experiment != l.Experiment || got.Arm != l.Arm || !slices.Equal(got.Features, l.Features) {
		t.Errorf("DecodeLabel(AppendLabel(%+v)) = %+v", l, got)
	}
}

func FuzzDecodeLabel(f *testing.F) {
	f.Add(AppendLabel(nil, &Label{TS: 1, Click: true, Item: "x", Features: []Feature{Bias}}))
	f.Add(AppendLabel(nil, &Label{}))
	f.Add([]byte{1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLabel(b)
		if err != nil {
			return
		}
		again, err := DecodeLabel(AppendLabel(nil, &l))
		if err != nil {
			t.Fatalf("re-encoded label does not decode: %v", err)
		}
		if again.TS != l.TS || again.Click != l.Click || again.Item != l.Item || !slices.Equal(again.Features, l.Features) {
			t.Fatalf("round trip %+v -> %+v", l, again)
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	m, _ := Open(nil, Options{Bits: 8, Logger: quiet}, nil)
	for _, l := range generated(50, 5) {
		m.Update(l.Features, l.Click)
	}
	m.mu.Lock()
	f.Add(m.appendCheckpointLocked(nil))
	m.mu.Unlock()
	f.Add([]byte{checkpointFormat, 8, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		for i, co := range c.coords {
			if co.key >= 1<<c.bits || (i > 0 && co.key <= c.coords[i-1].key) {
				t.Fatalf("coordinate %d key %d out of order or range", i, co.key)
			}
		}
	})
}

// TestKeysAreStable pins feature keys: a learned model is stored by key, so
// a key that changed would silently unlearn what it names.
func TestKeysAreStable(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uint32
		want uint32
	}{
		{`NS("f").Str("co_visit")`, NS("f").Str("co_visit").Key(), 364254580},
		{"Bias", Bias.Key, 602799309},
		{"Position(3)", Position(3).Key, 4198471151},
		{`NS("item").Bytes("shoe-1")`, NS("item").Bytes([]byte("shoe-1")).Key(), 247030992},
		{`NS("x").Str("a").Cross(NS("y").Int(-7))`, NS("x").Str("a").Cross(NS("y").Int(-7)).Key(), 2625947221},
	} {
		if tc.got != tc.want {
			t.Errorf("%s.Key() = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestLearnFromLearnsEachPositionOnce: labels read again from a shared log
// after a crash (no checkpoint since) are passed over, so the model equals
// one that read each batch once.
func TestLearnFromLearnsEachPositionOnce(t *testing.T) {
	labels := generated(2000, 3)
	opts := Options{Bits: 14, MinLabels: 100, MinClicks: 5, CheckpointInterval: time.Hour, Logger: quiet}
	ref, _ := Open(nil, opts, nil)
	if err := ref.Learn(labels); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	db := openDB(t, dir)
	m, err := Open(db, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	learn := func(m *Model, from, to int, source uint64) bool {
		t.Helper()
		ok, err := m.LearnFrom(labels[from:to], source)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !learn(m, 0, 1000, 10) || learn(m, 0, 1000, 10) || learn(m, 0, 1000, 9) {
		t.Fatal("LearnFrom learned a position twice, or not the first time")
	}
	db.Close() // a crash: no checkpoint, no Close

	db = openDB(t, dir)
	defer db.Close()
	m, err = Open(db, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source() != 10 {
		t.Errorf("Source after a crash = %d, want 10", m.Source())
	}
	if learn(m, 0, 1000, 10) {
		t.Error("after a crash, the position learned before was learned again")
	}
	if !learn(m, 1000, 2000, 11) {
		t.Error("the next position was passed over")
	}
	got, want := m.Publish(), ref.Publish()
	if got.Labels != want.Labels || got.Clicks != want.Clicks {
		t.Errorf("%d labels, %d clicks; want %d, %d", got.Labels, got.Clicks, want.Labels, want.Clicks)
	}
	for _, x := range probes() {
		if a, b := got.Logit(x), want.Logit(x); a != b {
			t.Fatalf("Logit(%v) = %v, want %v as learned once", x, a, b)
		}
	}
}
