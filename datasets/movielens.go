package datasets

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultMovieLensDir is where ml-latest-small sits beside the project.
const DefaultMovieLensDir = "../shared/datasets/movielens-latest-small"

// ReadMovieLens reads ml-latest-small (movies.csv and ratings.csv in dir).
//
// Each movie becomes an item titled with its title and year, tagged with
// all its genres, in one category: the most specific of its genres, that is
// the one fewest movies have (Toy Story is Animation rather than Comedy),
// so that category interests separate tastes. Every rating is an
// interaction: a click for 4 stars or more, a view below, so that liked
// movies weigh more in a profile. Ratings carry no session.
func ReadMovieLens(dir string) (*Log, error) {
	movies, err := open(filepath.Join(dir, "movies.csv"), sourceMovieLens)
	if err != nil {
		return nil, err
	}
	defer movies.Close()
	ratings, err := open(filepath.Join(dir, "ratings.csv"), sourceMovieLens)
	if err != nil {
		return nil, err
	}
	defer ratings.Close()
	l, err := ParseMovieLens(movies, ratings)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", dir, err)
	}
	return l, nil
}

// ParseMovieLens reads the two CSV files of ml-latest-small.
func ParseMovieLens(movies, ratings io.Reader) (*Log, error) {
	l := &Log{Name: "movielens-latest-small"}
	mr := csv.NewReader(movies)
	mcol, err := header(mr, "movieId", "title", "genres")
	if err != nil {
		return nil, fmt.Errorf("movies.csv: %w", err)
	}
	var genres [][]string
	count := map[string]int{}
	for line := 2; ; line++ {
		rec, err := mr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("movies.csv: %w", err)
		}
		id := strings.TrimSpace(rec[mcol[0]])
		if id == "" {
			return nil, fmt.Errorf("movies.csv line %d: no movieId", line)
		}
		var gs []string
		if g := rec[mcol[2]]; g != "" && g != "(no genres listed)" {
			gs = strings.Split(g, "|")
		}
		for _, g := range gs {
			count[g]++
		}
		genres = append(genres, gs)
		l.Items = append(l.Items, CatalogItem{ID: id, Title: rec[mcol[1]], Tags: gs})
	}
	for i, gs := range genres {
		best := ""
		for _, g := range gs {
			if g == "" {
				continue
			}
			if best == "" || count[g] < count[best] || count[g] == count[best] && g < best {
				best = g
			}
		}
		if best != "" {
			l.Items[i].Category = []string{best}
		}
	}

	rr := csv.NewReader(ratings)
	rr.ReuseRecord = true
	rcol, err := header(rr, "userId", "movieId", "rating", "timestamp")
	if err != nil {
		return nil, fmt.Errorf("ratings.csv: %w", err)
	}
	for line := 2; ; line++ {
		rec, err := rr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ratings.csv: %w", err)
		}
		user, item := strings.TrimSpace(rec[rcol[0]]), strings.TrimSpace(rec[rcol[1]])
		rating, err := strconv.ParseFloat(rec[rcol[2]], 64)
		if err != nil || user == "" || item == "" {
			return nil, fmt.Errorf("ratings.csv line %d: bad user, movie or rating", line)
		}
		secs, err := strconv.ParseInt(rec[rcol[3]], 10, 64)
		if err != nil || secs < 0 || secs > 1<<40 {
			return nil, fmt.Errorf("ratings.csv line %d: bad timestamp", line)
		}
		typ := "view"
		if rating >= 4 {
			typ = "click"
		}
		l.Events = append(l.Events, Interaction{User: user, Item: item, TS: secs * 1000, Type: typ})
	}
	if len(l.Events) == 0 {
		return nil, errEmpty
	}
	l.sortByTime()
	l.addMissingItems()
	return l, nil
}

// header reads a CSV header and returns the positions of the named columns.
func header(r *csv.Reader, names ...string) ([]int, error) {
	h, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("no header: %w", err)
	}
	pos := make([]int, len(names))
	for i, n := range names {
		pos[i] = -1
		for j, c := range h {
			if strings.TrimSpace(strings.TrimPrefix(c, "\ufeff")) == n {
				pos[i] = j
				break
			}
		}
		if pos[i] < 0 {
			return nil, fmt.Errorf("no column %q", n)
		}
	}
	r.FieldsPerRecord = len(h)
	return pos, nil
}
