package datasets

import (
	"fmt"
)

// ReadOnlineRetailLog reads the Online Retail II sheet as a log for replay:
// every sale (IsSale) of a product is a purchase of its customer, with the
// invoice as session and the line's value as amount. Lines whose stock code
// does not start with five digits (postage, manual adjustments, bank
// charges, samples, gift vouchers, ...) are not products and are left out.
// Items are the products with the description and unit price of their
// first sale: the replay loads the catalog before it starts, so that later
// descriptions and prices, which would leak what happens next, are left
// out. The data set has no categories.
func ReadOnlineRetailLog(path string) (*Log, error) {
	l := &Log{Name: "online-retail-ii"}
	index := map[string]int{}
	err := ReadOnlineRetail(path, func(r *RetailLine) error {
		if !r.IsSale() || !IsProductCode(r.StockCode) {
			return nil
		}
		i, ok := index[r.StockCode]
		if !ok {
			i = len(l.Items)
			index[r.StockCode] = i
			l.Items = append(l.Items, CatalogItem{ID: r.StockCode})
		}
		if it := &l.Items[i]; !ok || it.Title == "" {
			it.Title = r.Description
			if !ok {
				it.Price = r.Price
			}
		}
		l.Events = append(l.Events, Interaction{User: r.Customer, Item: r.StockCode, TS: r.Time.UnixMilli(),
			Type: "purchase", Amount: r.Amount(), Session: r.Invoice})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(l.Events) == 0 {
		return nil, fmt.Errorf("datasets: %s: %w", path, errEmpty)
	}
	l.sortByTime()
	return l, nil
}

// IsProductCode reports whether an Online Retail stock code names a product:
// five digits, then perhaps letters ("85123A").
func IsProductCode(code string) bool {
	if len(code) < 5 {
		return false
	}
	for i := 0; i < 5; i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
