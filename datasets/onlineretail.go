package datasets

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RetailLine is one invoice line of the UCI Online Retail II data set.
type RetailLine struct {
	Invoice     string
	StockCode   string
	Description string
	Quantity    int
	Time        time.Time // InvoiceDate, read as UTC (the file has UK local time without a zone)
	Price       float64   // unit price, GBP
	Customer    string    // "" when missing
	Country     string    // as written in the file ("United Kingdom", "EIRE", ...)
}

// IsSale reports whether the line is a sale to a known customer: not a
// cancellation ("C" invoice) or adjustment ("A"), with a positive quantity
// and price. RFM analyses of the data set count only these.
func (l *RetailLine) IsSale() bool {
	return l.Customer != "" && !strings.HasPrefix(l.Invoice, "C") && !strings.HasPrefix(l.Invoice, "A") &&
		l.Quantity > 0 && l.Price > 0
}

// Amount is the line's value: quantity times unit price.
func (l *RetailLine) Amount() float64 { return float64(l.Quantity) * l.Price }

// ReadOnlineRetail calls fn with every line of the data set's CSV (gzipped or
// not), in file order, which is invoice time order.
func ReadOnlineRetail(path string, fn func(*RetailLine) error) error {
	f, err := open(path, sourceOnlineRetail)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("datasets: %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("datasets: %s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("datasets: %s: no column %q", path, need)
		}
	}
	var line RetailLine
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("datasets: %s: %w", path, err)
		}
		line = RetailLine{Invoice: rec[col["Invoice"]], StockCode: rec[col["StockCode"]],
			Description: strings.TrimSpace(rec[col["Description"]]), Customer: rec[col["Customer ID"]], Country: rec[col["Country"]]}
		if line.Quantity, err = strconv.Atoi(rec[col["Quantity"]]); err != nil {
			return fmt.Errorf("datasets: %s line %d: Quantity: %w", path, n, err)
		}
		if line.Price, err = strconv.ParseFloat(rec[col["Price"]], 64); err != nil {
			return fmt.Errorf("datasets: %s line %d: Price: %w", path, n, err)
		}
		if line.Time, err = time.Parse("2006-01-02 15:04:05", rec[col["InvoiceDate"]]); err != nil {
			return fmt.Errorf("datasets: %s line %d: InvoiceDate: %w", path, n, err)
		}
		if err := fn(&line); err != nil {
			return err
		}
	}
}

// CountryCode returns the ISO 3166-1 alpha-2 code of a country as the Online
// Retail data set names it, "" for names it cannot place ("Unspecified",
// "West Indies", "Channel Islands").
func CountryCode(name string) string { return retailCountries[name] }

var retailCountries = map[string]string{
	"Australia": "AU", "Austria": "AT", "Bahrain": "BH", "Belgium": "BE", "Bermuda": "BM", "Brazil": "BR",
	"Canada": "CA", "Cyprus": "CY", "Denmark": "DK", "EIRE": "IE", "Finland": "FI", "France": "FR",
	"Germany": "DE", "Greece": "GR", "Hong Kong": "HK", "Iceland": "IS", "Israel": "IL", "Italy": "IT",
	"Japan": "JP", "Korea": "KR", "Lebanon": "LB", "Lithuania": "LT", "Malta": "MT", "Netherlands": "NL",
	"Nigeria": "NG", "Norway": "NO", "Poland": "PL", "Portugal": "PT", "RSA": "ZA", "Singapore": "SG",
	"Spain": "ES", "Sweden": "SE", "Switzerland": "CH", "Thailand": "TH", "USA": "US",
	"United Arab Emirates": "AE", "United Kingdom": "GB",
}

// DefaultOnlineRetailPath is where the data set sits beside the project.
const DefaultOnlineRetailPath = "../shared/datasets/online-retail-ii/online_retail_II_2009-2010.csv.gz"
