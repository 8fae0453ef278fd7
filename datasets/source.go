package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Where each public data set comes from, and what its reader expects.
const (
	sourceMovieLens = "MovieLens ml-latest-small: download ml-latest-small.zip from " +
		"https://grouplens.org/datasets/movielens/latest/, unzip it, and pass the folder holding movies.csv and ratings.csv"
	sourceOnlineRetail = "Online Retail II: download it from https://archive.ics.uci.edu/dataset/502/online+retail+ii, " +
		"save the sheet \"Year 2009-2010\" as CSV (gzipped or not) with the header " +
		"Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country, and pass that file"
	sourceOTTO = "OTTO: get train.jsonl (or a sample of it) from https://github.com/otto-de/recsys-dataset " +
		"and pass that file"
	sourceOpenBandit = "Open Bandit: download the Open Bandit Dataset from https://research.zozo.com/data.html " +
		"(a small sample ships with https://github.com/st-tech/zr-obp under obd/) and pass one campaign folder, " +
		"such as random/all, holding all.csv beside item_context.csv"
)

// ErrMissing is returned, wrapped with where to get it, when a data set's
// file is not where it was looked for.
var ErrMissing = errors.New("datasets: file not found")

// open opens a data set's file, turning "no such file" into ErrMissing with
// the path and how to get the data set.
func open(path, source string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s\n%s", ErrMissing, path, source)
	}
	return f, err
}
