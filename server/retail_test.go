package server

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/datasets"
)

// retailPath is the UCI Online Retail II file beside the project.
var retailPath = "../" + datasets.DefaultOnlineRetailPath

// TestOnlineRetailRFM loads every sale of the UCI Online Retail II data set
// through the API (customers with their country, then purchase events with
// the invoice as session) and checks the R, F and M cut points and segment
// sizes as of the last invoice against a computation straight from the file.
func TestOnlineRetailRFM(t *testing.T) {
	if _, err := os.Stat(retailPath); err != nil {
		t.Skipf("data set not found: %v", err)
	}
	if testing.Short() {
		t.Skip("loads 400,000 events")
	}
	ts := newTestServer(t)

	// Independent computation, and the records to post, in one pass.
	type cust struct {
		country  string
		invoices map[string]time.Time
		amounts  map[string]float64
		last     time.Time
	}
	custs := map[string]*cust{}
	var lastInvoice time.Time
	var events []string
	items := map[string]string{}
	post := func() {
		if len(events) > 0 {
			ts.mustPost("/v1/events", "["+strings.Join(events, ",")+"]")
			events = events[:0]
		}
	}
	type sale struct {
		line datasets.RetailLine
		n    int
	}
	var sales []sale
	n := 0
	err := datasets.ReadOnlineRetail(retailPath, func(l *datasets.RetailLine) error {
		n++
		if l.Time.After(lastInvoice) {
			lastInvoice = l.Time
		}
		if !l.IsSale() {
			return nil
		}
		c := custs[l.Customer]
		if c == nil {
			c = &cust{country: l.Country, invoices: map[string]time.Time{}, amounts: map[string]float64{}}
			custs[l.Customer] = c
		}
		if _, ok := c.invoices[l.Invoice]; !ok {
			c.invoices[l.Invoice] = l.Time
		}
		c.amounts[l.Invoice] += l.Amount()
		if l.Time.After(c.last) {
			c.last = l.Time
		}
		if _, ok := items[l.StockCode]; !ok {
			items[l.StockCode] = l.Description
		}
		sales = append(sales, sale{*l, n})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Load: the catalog, the customers' countries, then the sales.
	var batch []string
	for code, desc := range items {
		batch = append(batch, fmt.Sprintf(`{"id":%q,"title":%q}`, code, desc))
	}
	slices.Sort(batch)
	for i := 0; i < len(batch); i += 5000 {
		ts.mustPost("/v1/items", "["+strings.Join(batch[i:min(i+5000, len(batch))], ",")+"]")
	}
	batch = batch[:0]
	for id, c := range custs {
		batch = append(batch, fmt.Sprintf(`{"id":%q,"country":%q,"region":%q}`, id, datasets.CountryCode(c.country), c.country))
	}
	ts.mustPost("/v1/users", "["+strings.Join(batch, ",")+"]")
	for _, s := range sales {
		l := s.line
		events = append(events, fmt.Sprintf(`{"id":"line-%d","user":%q,"type":"purchase","item":%q,"amount":%g,"ts":%d,"session":%q}`,
			s.n, l.Customer, l.StockCode, l.Amount(), l.Time.UnixMilli(), l.Invoice))
		if len(events) == 10000 {
			post()
		}
	}
	post()

	asOf := lastInvoice
	var g segResponse
	if err := json.Unmarshal([]byte(ts.mustPost("/v1/segments/refresh?as_of="+asOf.Format(time.RFC3339), "")), &g); err != nil {
		t.Fatal(err)
	}
	from := asOf.Add(-365 * 24 * time.Hour)
	var rec, freq, mon []float64
	for _, c := range custs {
		f, m := 0.0, 0.0
		for inv, at := range c.invoices {
			if !at.Before(from) && !at.After(asOf) {
				f++
				m += c.amounts[inv]
			}
		}
		rec = append(rec, asOf.Sub(c.last).Hours()/24)
		freq = append(freq, f)
		mon = append(mon, m)
	}
	if g.Purchasers != len(custs) {
		t.Fatalf("purchasers = %d, want %d", g.Purchasers, len(custs))
	}
	wantR, wantF, wantM := nearestRank(rec), nearestRank(freq), nearestRank(mon)
	close := func(a, b [4]float64, tol float64) bool {
		for i := range a {
			if math.Abs(a[i]-b[i]) > tol*math.Max(1, math.Abs(b[i])) {
				return false
			}
		}
		return true
	}
	if !close(g.Recency, wantR, 1e-6) || !close(g.Frequency, wantF, 0) || !close(g.Monetary, wantM, 1e-6) {
		t.Errorf("cuts R %v F %v M %v\nwant   %v %v %v", g.Recency, g.Frequency, g.Monetary, wantR, wantF, wantM)
	}
	var rs, fs, ms [5]int
	for i := range rec {
		rs[4-aboveCuts(rec[i], wantR)]++
		fs[aboveCuts(freq[i], wantF)]++
		ms[aboveCuts(mon[i], wantM)]++
	}
	if g.RSizes != rs || g.FSizes != fs || g.MSizes != ms {
		t.Errorf("sizes R %v F %v M %v\nwant    %v %v %v", g.RSizes, g.FSizes, g.MSizes, rs, fs, ms)
	}
	t.Logf("%d lines, %d customers, as of %s: R cuts %v F cuts %v M cuts %.2f; R %v F %v M %v; tiers %+v",
		n, len(custs), asOf.Format(time.RFC3339), g.Recency, g.Frequency, g.Monetary, g.RSizes, g.FSizes, g.MSizes, g.Tiers)

	// A customer's profile carries the country attribute.
	var p struct {
		Attributes struct{ Country, Region string }
		RFM        struct{ Purchases int }
	}
	ts.getJSON("/v1/users/13085", &p)
	if p.Attributes.Country != "GB" || p.Attributes.Region != "United Kingdom" || p.RFM.Purchases == 0 {
		t.Errorf("customer 13085: %+v", p)
	}
}

func aboveCuts(v float64, cuts [4]float64) int {
	n := 0
	for _, c := range cuts {
		if v > c {
			n++
		}
	}
	return n
}
