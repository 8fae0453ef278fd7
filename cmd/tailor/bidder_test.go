package main

import (
	"testing"
	"time"
)

func TestBidderOptions(t *testing.T) {
	o, b, err := bidderOptions("", "127.0.0.1:9000", " EUR=0.9, GBP=0.8 ", 20*time.Millisecond, "seat-1", 42)
	if err != nil {
		t.Fatalf("bidderOptions = %v", err)
	}
	if o.PublicURL != "http://127.0.0.1:9000" || o.NetworkMargin != 20*time.Millisecond || o.GDPRVendorID != 42 || b.Auction.Seat != "seat-1" {
		t.Errorf("options %+v, %+v", o, b)
	}
	if f, ok := b.Auction.Rates.Factor("EUR", "GBP"); !ok || f < 0.888 || f > 0.889 {
		t.Errorf("EUR to GBP = %v, %v, want 0.8/0.9", f, ok)
	}
	for _, bad := range []string{"EUR", "EUR=x", "eur=1", "EUR=-1"} {
		if _, _, err := bidderOptions("", "a:1", bad, 0, "s", 0); err == nil {
			t.Errorf("--currency-rates %q accepted", bad)
		}
	}
	if _, _, err := bidderOptions("", "a:1", "", 0, "s", 70000); err == nil {
		t.Errorf("--gdpr-vendor-id 70000 accepted")
	}
}
