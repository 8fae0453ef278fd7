package ledger

import (
	"strings"
	"testing"
)

// Every order of one auction's win, billing and loss notices resolves to one
// outcome: won and billed when a billing notice came, won when a win came
// without one, lost otherwise. Each notice is sent twice in a row; the
// repeat changes nothing.
func TestNoticeOrder(t *testing.T) {
	const price = 40
	type counts struct {
		wins, losses, imps uint64
		spent, reserved    int64
	}
	won := counts{wins: 1, reserved: price}
	billed := counts{wins: 1, imps: 1, spent: price}
	lost := counts{losses: 1}
	tests := []struct {
		order string // w = win, b = billing, l = loss
		outs  []Outcome
		want  counts
	}{
		{"w", []Outcome{Applied}, won},
		{"b", []Outcome{Applied}, billed},
		{"l", []Outcome{Applied}, lost},

		{"wb", []Outcome{Applied, Applied}, billed},
		{"bw", []Outcome{Applied, Duplicate}, billed},
		{"wl", []Outcome{Applied, Conflict}, won},
		{"lw", []Outcome{Applied, Applied}, won},
		{"bl", []Outcome{Applied, Conflict}, billed},
		{"lb", []Outcome{Applied, Applied}, billed},

		{"wbl", []Outcome{Applied, Applied, Conflict}, billed},
		{"wlb", []Outcome{Applied, Conflict, Applied}, billed},
		{"bwl", []Outcome{Applied, Duplicate, Conflict}, billed},
		{"blw", []Outcome{Applied, Conflict, Duplicate}, billed},
		{"lwb", []Outcome{Applied, Applied, Applied}, billed},
		{"lbw", []Outcome{Applied, Applied, Duplicate}, billed},
	}
	kinds := map[byte]Kind{'w': Win, 'b': Billing, 'l': Loss}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			c := newClock(noon)
			l := open(t, db, c)
			lim := Limits{Daily: 1000}
			// Another auction's loss, so that a miscounted conversion shows.
			l.Reserve(l.Account("c"), &lim, 1, 50, l.ReserveUntil(0))
			if out, err := l.Apply(&Notice{Kind: Loss, Campaign: "c", Bid: 1, Auction: 1, BidAt: c.Now().UnixMilli(), Limits: lim}); err != nil || out != Applied {
				t.Fatalf("Apply(loss, other auction) = %v, %v", out, err)
			}
			if !l.Reserve(l.Account("c"), &lim, 7, 50, l.ReserveUntil(0)) {
				t.Fatal("Reserve failed")
			}
			bidAt := c.Now().UnixMilli()
			for i := range len(tt.order) {
				k := kinds[tt.order[i]]
				n := Notice{Kind: k, Campaign: "c", Bid: 7, Auction: 99, BidAt: bidAt, Price: price, Limits: lim}
				if k == Loss {
					n.Price = 0
				}
				want := tt.outs[i]
				for try := range 2 {
					out, err := l.Apply(&n)
					if err != nil || out != want {
						t.Fatalf("notice %d (%v, try %d) = %v, %v, want %v", i+1, k, try+1, out, err, want)
					}
					if want == Applied {
						want = Duplicate
					}
				}
			}
			st := l.Stats("c", &lim)
			got := counts{st.Wins, st.Losses - 1, st.Impressions, st.Spent, st.Reserved}
			if got != tt.want {
				t.Errorf("after %s: %+v, want %+v", strings.ToUpper(tt.order), got, tt.want)
			}
		})
	}
}

func TestOutcomeStrings(t *testing.T) {
	for o, want := range map[Outcome]string{Applied: "applied", Duplicate: "duplicate", Expired: "expired", Conflict: "conflict", 0: "unknown"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want)
		}
	}
	if Applied != 1 || Duplicate != 2 || Expired != 3 || Conflict != 4 {
		t.Errorf("outcome values moved: %d %d %d %d", Applied, Duplicate, Expired, Conflict)
	}
}
