package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingFileSaysWhereToGetIt checks that every reader, given a path
// where its data set is not, says so and names where to download it.
func TestMissingFileSaysWhereToGetIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing-here")
	read := map[string]func() error{
		"movielens":     func() error { _, err := ReadMovieLens(dir); return err },
		"online-retail": func() error { return ReadOnlineRetail(filepath.Join(dir, "x.csv"), nil) },
		"otto":          func() error { _, err := ReadOTTO(filepath.Join(dir, "train.jsonl")); return err },
		"open-bandit":   func() error { _, err := ReadOpenBandit(filepath.Join(dir, "all")); return err },
	}
	for name, f := range read {
		err := f()
		if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "https://") || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s on a missing path: %v; want ErrMissing naming the path and a download address", name, err)
		}
	}
}

// TestRetailCatalogAsOfFirstSale checks that a product's catalog facts are
// those of its first sale, not of a later line that the replay would only
// reach afterwards.
func TestRetailCatalogAsOfFirstSale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "retail.csv")
	csv := "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n" +
		"1,10001,,1,2010-01-01 09:00:00,2.50,7,United Kingdom\n" +
		"2,10001,RED MUG,2,2010-01-02 09:00:00,2.50,8,United Kingdom\n" +
		"3,10001,RED MUG SALE,1,2010-06-01 09:00:00,1.25,7,United Kingdom\n"
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := ReadOnlineRetailLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Title != "RED MUG" || l.Items[0].Price != 2.50 {
		t.Errorf("items = %+v, want one RED MUG at 2.50 (the first description given, the first price)", l.Items)
	}
}
