package datasets

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The shared data sets are beside the project (the defaults are relative to
// its root, tests run in datasets/); tests that need them skip when they are
// absent.
func need(t *testing.T, path string) string {
	t.Helper()
	path = "../" + path
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not available: %v", path, err)
	}
	return path
}

func TestReadMovieLens(t *testing.T) {
	l, err := ReadMovieLens(need(t, DefaultMovieLensDir))
	if err != nil {
		t.Fatal(err)
	}
	users, items, events := l.Stats()
	if users != 610 || items != 9724 || events != 100836 || len(l.Items) != 9742 {
		t.Errorf("%d users, %d rated movies, %d ratings, %d movies; want 610, 9724, 100836, 9742", users, items, events, len(l.Items))
	}
	for i := 1; i < len(l.Events); i++ {
		if l.Events[i].TS < l.Events[i-1].TS {
			t.Fatalf("event %d is older than the one before", i)
		}
	}
	for _, it := range l.Items {
		if it.ID == "1" {
			if it.Title != "Toy Story (1995)" || len(it.Category) != 1 || it.Category[0] != "Animation" || len(it.Tags) != 5 {
				t.Errorf("Toy Story = %+v, want category Animation (its most specific genre) and 5 genre tags", it)
			}
		}
	}
}

func TestReadOnlineRetailLog(t *testing.T) {
	l, err := ReadOnlineRetailLog(need(t, DefaultOnlineRetailPath))
	if err != nil {
		t.Fatal(err)
	}
	users, _, events := l.Stats()
	// 4,314 customers have a non-cancelled invoice (the data set's README);
	// 29 of them bought nothing whose code starts with five digits.
	if users != 4285 || events != 406295 {
		t.Errorf("%d customers and %d purchase lines, want 4285 and 406295", users, events)
	}
	for _, e := range l.Events {
		if !IsProductCode(e.Item) || e.Type != "purchase" || e.Session == "" || e.Amount <= 0 {
			t.Fatalf("event %+v", e)
		}
	}
}

func TestReadOTTO(t *testing.T) {
	l, err := ReadOTTO(need(t, DefaultOTTOPath))
	if err != nil {
		t.Fatal(err)
	}
	users, items, events := l.Stats()
	n := map[string]int{}
	for _, e := range l.Events {
		n[e.Type]++
	}
	if users != 20 || items != 510 || events != 862 || n["view"] != 800 || n["cart"] != 52 || n["purchase"] != 10 {
		t.Errorf("%d sessions, %d aids, %d events %v; want 20, 510, 862 (800 clicks, 52 carts, 10 orders)", users, items, events, n)
	}
}

func TestReadOpenBandit(t *testing.T) {
	dir := need(t, DefaultOpenBanditDir)
	for _, c := range []struct {
		dir    string
		clicks int
	}{{"random/men", 46}, {"random/women", 46}, {"bts/men", 69}, {"bts/women", 46}} {
		rows, err := ReadOpenBandit(dir + "/" + c.dir)
		if err != nil {
			t.Fatal(err)
		}
		clicks := 0
		for _, r := range rows {
			if r.Click {
				clicks++
			}
			if r.Position < 1 || r.Position > 3 || r.UserFeatures[0] == "" || r.ItemFeatures[0] == "" || r.Propensity <= 0 {
				t.Fatalf("%s: row %+v", c.dir, r)
			}
		}
		if len(rows) != 10000 || clicks != c.clicks {
			t.Errorf("%s: %d rows, %d clicks; want 10000, %d", c.dir, len(rows), clicks, c.clicks)
		}
	}
}

func TestParseCSV(t *testing.T) {
	in := "who,what,when,kind,basket,value,cat,name\n" +
		"u1,a,2024-01-02 10:00:00,view,,,Home/Kitchen,Pan\n" +
		"u1,b,1704189600,addtocart,s1,,,\n" +
		"u2,a,1704189600000,order,s2,12.5,Home / Kitchen / Pans,Better pan\n"
	l, err := ParseCSV(strings.NewReader(in), Columns{User: "who", Item: "what", Time: "when", Type: "kind",
		Session: "basket", Amount: "value", Category: "cat", Title: "name"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 3 || l.Events[0].Type != "view" || l.Events[0].TS != 1704189600000 || l.Events[1].Type != "cart" ||
		l.Events[2].Type != "purchase" || l.Events[2].Amount != 12.5 || l.Events[2].Session != "s2" {
		t.Errorf("events %+v", l.Events)
	}
	if len(l.Items) != 2 || l.Items[0].Title != "Better pan" || strings.Join(l.Items[0].Category, ">") != "Home>Kitchen>Pans" {
		t.Errorf("items %+v", l.Items)
	}
	for _, bad := range []string{
		"who,what,when\nu,a,yesterday\n",
		"who,what\nu,a\n",
		"who,what,when,kind\nu,a,1,teleport\n",
		"who,what,when\n,a,1\n",
	} {
		if _, err := ParseCSV(strings.NewReader(bad), Columns{User: "who", Item: "what", Time: "when", Type: typeIf(bad)}); err == nil {
			t.Errorf("ParseCSV(%q) accepted it", bad)
		}
	}
}

func typeIf(s string) string {
	if strings.Contains(s, "kind") {
		return "kind"
	}
	return ""
}

func FuzzParseCSV(f *testing.F) {
	f.Add("u,i,t,y\nu1,a,1700000000,view\nu2,b,2023-01-02 03:04:05,purchase\n")
	f.Add("u,i,t,y\n\"x,y\",a,1,click\n")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseCSV(strings.NewReader(s), Columns{User: "u", Item: "i", Time: "t", Type: "y"})
		if err != nil {
			return
		}
		for i, e := range l.Events {
			if e.User == "" || e.Item == "" || (i > 0 && e.TS < l.Events[i-1].TS) {
				t.Fatalf("event %d: %+v", i, e)
			}
		}
	})
}

func FuzzParseOTTO(f *testing.F) {
	f.Add(`{"session": 0, "events": [{"aid": 1517085, "ts": 1659304800025, "type": "clicks"}, {"aid": 1, "ts": 1659304800026, "type": "orders"}]}`)
	f.Add(`{"session": 1, "events": []}` + "\n\n" + `{"session":2,"events":[{"aid":3,"ts":0,"type":"carts"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseOTTO(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range l.Events {
			if e.User == "" || e.Item == "" || e.Type == "" {
				t.Fatalf("event %+v", e)
			}
		}
	})
}

func FuzzParseMovieLens(f *testing.F) {
	f.Add("movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,X,(no genres listed)\n",
		"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,2.5,964982224\n")
	f.Fuzz(func(t *testing.T, movies, ratings string) {
		l, err := ParseMovieLens(strings.NewReader(movies), strings.NewReader(ratings))
		if err != nil {
			return
		}
		for _, e := range l.Events {
			if e.Type != "view" && e.Type != "click" {
				t.Fatalf("event %+v", e)
			}
		}
	})
}

func FuzzParseOpenBandit(f *testing.F) {
	log := ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,user_feature_3,user-item_affinity_0\n" +
		"0,2019-11-24 00:01:03.979311+00:00,0,1,0,0.03,a,b,c,d,0.5\n"
	items := ",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3\n0,0,-0.6,x,y,z\n"
	f.Add([]byte(log), []byte(items))
	f.Fuzz(func(t *testing.T, log, items []byte) {
		rows, err := ParseOpenBandit(bytes.NewReader(log), bytes.NewReader(items))
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Item < 0 {
				t.Fatalf("row %+v", r)
			}
		}
	})
}
