package datasets

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Columns names the columns of a generic interaction CSV. User, Item and
// Time are required; the others are optional.
type Columns struct {
	User, Item, Time string
	// Type holds the event type: view, click, cart or purchase, or a common
	// synonym (clicks, addtocart, order, transaction, ...). Without it every
	// row is a view.
	Type string
	// Session groups events into sessions (or baskets).
	Session string
	// Amount is a purchase's value.
	Amount string
	// Category is the item's category path, its levels separated by
	// CategorySep (default "/"); Title its title.
	Category, Title string
	CategorySep     string
}

// ReadCSV reads a CSV file (gzipped when its name ends in .gz) with a header
// row into a log. Times may be epoch seconds or milliseconds, RFC 3339, or
// "2006-01-02 15:04:05" (UTC). An item's title and category are taken from
// the last row that names them.
func ReadCSV(path string, cols Columns) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	l, err := ParseCSV(r, cols)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	l.Name = path
	return l, nil
}

// ParseCSV reads a generic interaction CSV from r.
func ParseCSV(r io.Reader, cols Columns) (*Log, error) {
	if cols.User == "" || cols.Item == "" || cols.Time == "" {
		return nil, errors.New("the user, item and time columns must be named")
	}
	if cols.CategorySep == "" {
		cols.CategorySep = "/"
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	names := []string{cols.User, cols.Item, cols.Time}
	optional := []string{cols.Type, cols.Session, cols.Amount, cols.Category, cols.Title}
	for _, o := range optional {
		if o != "" {
			names = append(names, o)
		}
	}
	pos, err := header(cr, names...)
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	for i, n := range names {
		at[n] = pos[i]
	}
	get := func(rec []string, name string) string {
		if name == "" {
			return ""
		}
		return strings.TrimSpace(rec[at[name]])
	}
	l := &Log{Name: "csv"}
	items := map[string]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		e := Interaction{User: get(rec, cols.User), Item: get(rec, cols.Item), Type: "view", Session: get(rec, cols.Session)}
		if e.User == "" || e.Item == "" {
			return nil, fmt.Errorf("line %d: empty user or item", line)
		}
		if e.TS, err = parseTime(get(rec, cols.Time)); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if t := get(rec, cols.Type); cols.Type != "" {
			typ, ok := eventType(t)
			if !ok {
				return nil, fmt.Errorf("line %d: event type %q is not view, click, cart or purchase", line, t)
			}
			e.Type = typ
		}
		if a := get(rec, cols.Amount); a != "" {
			if e.Amount, err = strconv.ParseFloat(a, 64); err != nil || e.Amount < 0 {
				return nil, fmt.Errorf("line %d: amount %q is not a non-negative number", line, a)
			}
		}
		i, ok := items[e.Item]
		if !ok {
			i = len(l.Items)
			items[e.Item] = i
			l.Items = append(l.Items, CatalogItem{ID: e.Item})
		}
		if t := get(rec, cols.Title); t != "" {
			l.Items[i].Title = t
		}
		if c := get(rec, cols.Category); c != "" {
			var path []string
			for _, p := range strings.Split(c, cols.CategorySep) {
				if p = strings.TrimSpace(p); p != "" {
					path = append(path, p)
				}
			}
			l.Items[i].Category = path
		}
		l.Events = append(l.Events, e)
	}
	if len(l.Events) == 0 {
		return nil, errEmpty
	}
	l.sortByTime()
	return l, nil
}
