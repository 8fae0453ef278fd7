package datasets

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultOpenBanditDir is the Open Bandit Dataset sample beside the project.
const DefaultOpenBanditDir = "../shared/datasets/open-bandit-sample"

// BanditRow is one logged recommendation of the Open Bandit Dataset: an item
// shown at a position to a user, with its click label.
type BanditRow struct {
	TS         int64 // Unix milliseconds
	Item       int
	Position   int // 1, 2 or 3
	Click      bool
	Propensity float64 // the logging policy's probability of this choice
	// UserFeatures are the four hashed categorical user features.
	UserFeatures [4]string
	// Affinity is the user's affinity for the shown item.
	Affinity float64
	// ItemNumeric is the item's numeric feature, ItemFeatures its three
	// hashed categorical ones.
	ItemNumeric  float64
	ItemFeatures [3]string
}

// ReadOpenBandit reads one campaign folder of the data set (random/men,
// bts/women, ...): its log CSV (named after the folder) joined with the
// item_context.csv beside it. Rows keep the file's order, which is time
// order.
func ReadOpenBandit(dir string) ([]BanditRow, error) {
	log, err := open(filepath.Join(dir, filepath.Base(dir)+".csv"), sourceOpenBandit)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	items, err := open(filepath.Join(dir, "item_context.csv"), sourceOpenBandit)
	if err != nil {
		return nil, err
	}
	defer items.Close()
	rows, err := ParseOpenBandit(log, items)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", dir, err)
	}
	return rows, nil
}

// ParseOpenBandit reads a log CSV and its item context CSV.
func ParseOpenBandit(log, items io.Reader) ([]BanditRow, error) {
	type itemCtx struct {
		num  float64
		cats [3]string
	}
	ir := csv.NewReader(items)
	icol, err := header(ir, "item_id", "item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3")
	if err != nil {
		return nil, fmt.Errorf("item_context.csv: %w", err)
	}
	ctx := map[int]itemCtx{}
	for {
		rec, err := ir.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("item_context.csv: %w", err)
		}
		id, err1 := strconv.Atoi(rec[icol[0]])
		num, err2 := strconv.ParseFloat(rec[icol[1]], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("item_context.csv: bad item_id or item_feature_0 in %q", rec)
		}
		ctx[id] = itemCtx{num: num, cats: [3]string{rec[icol[2]], rec[icol[3]], rec[icol[4]]}}
	}

	lr := csv.NewReader(log)
	lr.ReuseRecord = true
	h, err := lr.Read()
	if err != nil {
		return nil, fmt.Errorf("log: no header: %w", err)
	}
	lr.FieldsPerRecord = len(h)
	col := map[string]int{}
	for i, c := range h {
		col[c] = i
	}
	for _, need := range []string{"timestamp", "item_id", "position", "click", "propensity_score",
		"user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("log: no column %q", need)
		}
	}
	var rows []BanditRow
	for line := 2; ; line++ {
		rec, err := lr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		var r BanditRow
		bad := func(what string) error { return fmt.Errorf("log line %d: bad %s", line, what) }
		if r.TS, err = parseTime(rec[col["timestamp"]]); err != nil {
			return nil, bad("timestamp")
		}
		if r.Item, err = strconv.Atoi(rec[col["item_id"]]); err != nil || r.Item < 0 {
			return nil, bad("item_id")
		}
		if r.Position, err = strconv.Atoi(rec[col["position"]]); err != nil {
			return nil, bad("position")
		}
		switch rec[col["click"]] {
		case "0":
		case "1":
			r.Click = true
		default:
			return nil, bad("click")
		}
		if r.Propensity, err = strconv.ParseFloat(rec[col["propensity_score"]], 64); err != nil {
			return nil, bad("propensity_score")
		}
		for k := range r.UserFeatures {
			r.UserFeatures[k] = strings.TrimSpace(rec[col["user_feature_"+strconv.Itoa(k)]])
		}
		if c, ok := col["user-item_affinity_"+strconv.Itoa(r.Item)]; ok {
			if r.Affinity, err = strconv.ParseFloat(rec[c], 64); err != nil {
				return nil, bad("user-item affinity")
			}
		}
		ic, ok := ctx[r.Item]
		if !ok {
			return nil, fmt.Errorf("log line %d: item %d is not in item_context.csv", line, r.Item)
		}
		r.ItemNumeric, r.ItemFeatures = ic.num, ic.cats
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, errEmpty
	}
	return rows, nil
}
