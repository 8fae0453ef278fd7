package datasets

import (
	"errors"
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
