package datasets

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// ChunkWriter writes NDJSON records into files of at most Lines lines each,
// named prefix-0001.ndjson, prefix-0002.ndjson, ..., sized for one API request.
type ChunkWriter struct {
	Dir, Prefix string
	Lines       int

	f     *os.File
	w     *bufio.Writer
	n     int
	Files []string
}

// Write appends one record.
func (c *ChunkWriter) Write(v any) error {
	if c.f == nil || c.n == c.Lines {
		if err := c.Close(); err != nil {
			return err
		}
		name := filepath.Join(c.Dir, fmt.Sprintf("%s-%04d.ndjson", c.Prefix, len(c.Files)+1))
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		c.f, c.w, c.n = f, bufio.NewWriter(f), 0
		c.Files = append(c.Files, name)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.n++
	c.w.Write(b)
	return c.w.WriteByte('\n')
}

// Close flushes and closes the current file.
func (c *ChunkWriter) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.w.Flush()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	return err
}

// ExportOnlineRetail converts the data set into request bodies for the API,
// in chunks of at most chunk lines: items-*.ndjson (stock codes with their
// description and latest unit price), users-*.ndjson (customers with their
// country) and events-*.ndjson (every sale as a purchase event, the invoice
// as its session and "line-N" as its id, so a reload is a no-op). It returns
// the files written, in the order to load them.
func ExportOnlineRetail(path, dir string, chunk int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	type item struct {
		ID    string  `json:"id"`
		Title string  `json:"title,omitempty"`
		Price float64 `json:"price"`
	}
	type user struct {
		ID      string `json:"id"`
		Country string `json:"country,omitempty"`
		Region  string `json:"region,omitempty"`
	}
	type event struct {
		ID      string  `json:"id"`
		User    string  `json:"user"`
		Type    string  `json:"type"`
		Item    string  `json:"item"`
		Amount  float64 `json:"amount"`
		TS      int64   `json:"ts"`
		Session string  `json:"session"`
	}
	items := map[string]item{}
	users := map[string]user{}
	events := &ChunkWriter{Dir: dir, Prefix: "events", Lines: chunk}
	n := 0
	err := ReadOnlineRetail(path, func(l *RetailLine) error {
		n++
		if !l.IsSale() {
			return nil
		}
		items[l.StockCode] = item{ID: l.StockCode, Title: l.Description, Price: l.Price}
		if _, ok := users[l.Customer]; !ok {
			users[l.Customer] = user{ID: l.Customer, Country: CountryCode(l.Country), Region: l.Country}
		}
		return events.Write(event{ID: fmt.Sprintf("line-%d", n), User: l.Customer, Type: "purchase", Item: l.StockCode,
			Amount: l.Amount(), TS: l.Time.UnixMilli(), Session: l.Invoice})
	})
	if cerr := events.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	itemsW := &ChunkWriter{Dir: dir, Prefix: "items", Lines: chunk}
	for _, id := range sortedKeys(items) {
		if err := itemsW.Write(items[id]); err != nil {
			return nil, err
		}
	}
	usersW := &ChunkWriter{Dir: dir, Prefix: "users", Lines: chunk}
	for _, id := range sortedKeys(users) {
		if err := usersW.Write(users[id]); err != nil {
			return nil, err
		}
	}
	if err := itemsW.Close(); err != nil {
		return nil, err
	}
	if err := usersW.Close(); err != nil {
		return nil, err
	}
	files := append(append(itemsW.Files, usersW.Files...), events.Files...)
	return files, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
