package auction

import (
	"io"
	"log"
	"testing"

	"github.com/tailor-dev/tailor/model"
)

func TestLearnedCTR(t *testing.T) {
	m, _ := model.Open(nil, model.Options{Bits: 12, MinLabels: 100, MinClicks: 10, Logger: log.New(io.Discard, "", 0)}, nil)
	ctr := &LearnedCTR{Model: m}
	f := CTRFeatures{FeatInterest: 1, FeatSearch: 1}
	if got, want := ctr.PCTR(&f), DefaultCTRModel.PCTR(&f); got != want {
		t.Fatalf("cold: PCTR = %v, want the hand-set %v", got, want)
	}
	// Ads with a search match are clicked one time in ten, others one in
	// a thousand.
	plain := CTRFeatures{FeatInterest: 1}
	for i := 0; i < 20000; i++ {
		m.Update(CTRVector(nil, &f), i%10 == 0)
		m.Update(CTRVector(nil, &plain), i%1000 == 0)
	}
	m.Publish()
	hi, lo := ctr.PCTR(&f), ctr.PCTR(&plain)
	if !(hi > 0.07 && hi < 0.13 && lo < 0.02 && hi > 5*lo) {
		t.Errorf("warm: PCTR = %.4f with a search match, %.4f without; want about 0.1 and far less", hi, lo)
	}
	if n := testing.AllocsPerRun(100, func() { ctr.PCTR(&f) }); n != 0 {
		t.Errorf("PCTR allocates %v times", n)
	}
}
