package server

import (
	"encoding/json"
	"strings"
	"testing"
)

const validCampaign = `{"id":"c1","advertiser":"Fellstride","adomain":["https://www.Fellstride.example/shoes"],
 "budget":{"daily":50,"total":500,"currency":"USD"},"bid":{"strategy":"cpc","cpc":0.8,"max_cpm":6},
 "frequency_cap":{"impressions":3,"per":"7d"},
 "targeting":{"countries":["US","DEU"],"regions":["us-ca"],"device_types":["mobile",2],"os":["iOS"],
   "sites":{"allow":["runnersworld.example"],"deny":["bad.example"]},"segments":["active"],
   "interests":[["Sports","Running"]],"keywords":["running shoes"],"hours":[0,1,167]},
 "creatives":[{"id":"cr1","format":"banner","w":300,"h":250,"adm":"<b>{{ITEM_TITLE}}</b>","cat":["IAB17"]}]}`

func TestCampaignAPI(t *testing.T) {
	ts := newBidServer(t, nil)
	if out := ts.mustPost("/v1/campaigns", "["+validCampaign+"]"); out != `{"upserted":1}`+"\n" {
		t.Fatalf("POST /v1/campaigns = %s", out)
	}
	code, out := ts.do("GET", "/v1/campaigns/c1", "", "")
	if code != 200 {
		t.Fatalf("GET /v1/campaigns/c1 = %d %s", code, out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	// Stored normalized: defaults filled in, codes and domains canonical.
	for _, want := range []string{`"status":"active"`, `"pacing":"even"`, `"countries":["USA","DEU"]`,
		`"regions":["US-CA"]`, `"device_types":["mobile",2]`, `"os":["ios"]`, `"allow":["runnersworld.example"]`} {
		if !strings.Contains(out, want) {
			t.Errorf("GET /v1/campaigns/c1 = %s, lacks %s", out, want)
		}
	}
	// NDJSON, and a replacement.
	two := strings.ReplaceAll(validCampaign, "\n", "") + "\n" + strings.ReplaceAll(strings.Replace(validCampaign, `"c1"`, `"c2"`, 1), "\n", "")
	if code, out := ts.do("POST", "/v1/campaigns", "application/x-ndjson", two); code != 200 || out != `{"upserted":2}`+"\n" {
		t.Errorf("NDJSON campaigns = %d %s", code, out)
	}
	code, out = ts.do("GET", "/v1/campaigns/c2/stats", "", "")
	for _, want := range []string{`"campaign":"c2"`, `"bids":0`, `"spend":0`, `"currency":"USD"`, `"budget":{"daily":50,"total":500}`, `"mode":"even"`} {
		if code != 200 || !strings.Contains(out, want) {
			t.Errorf("GET stats = %d %s, lacks %s", code, out, want)
		}
	}
	if code, _ := ts.do("DELETE", "/v1/campaigns/c2", "", ""); code != 200 {
		t.Errorf("DELETE = %d", code)
	}
	for _, path := range []string{"/v1/campaigns/c2", "/v1/campaigns/c2/stats"} {
		if code, _ := ts.do("GET", path, "", ""); code != 404 {
			t.Errorf("GET %s after DELETE = %d, want 404", path, code)
		}
	}
	if code, _ := ts.do("DELETE", "/v1/campaigns/c2", "", ""); code != 404 {
		t.Errorf("second DELETE = %d, want 404", code)
	}
	if code, _ := ts.do("PUT", "/v1/campaigns/c1", "", ""); code != 405 {
		t.Errorf("PUT = %d, want 405", code)
	}
}

func TestInvalidCampaigns(t *testing.T) {
	ts := newBidServer(t, nil)
	bad := func(from, to string) string { return strings.Replace(validCampaign, from, to, 1) }
	tests := []struct {
		campaign, field string
	}{
		{bad(`"id":"c1"`, `"id":""`), "id"},
		{bad(`"id":"c1"`, `"id":"a/b"`), "id"},
		{bad(`"advertiser":"Fellstride",`, ``), "advertiser"},
		{bad(`"adomain":["https://www.Fellstride.example/shoes"]`, `"adomain":[]`), "adomain"},
		{bad(`"adomain":["https://www.Fellstride.example/shoes"]`, `"adomain":["not a domain"]`), "adomain[0]"},
		{bad(`"currency":"USD"`, `"currency":"usd"`), "budget.currency"},
		{bad(`"currency":"USD"`, `"currency":"XYZ"`), "budget.currency"},
		{bad(`"daily":50`, `"daily":-1`), "budget.daily"},
		{bad(`"daily":50`, `"daily":"50"`), "budget.daily"},
		{bad(`"daily":50,"total":500`, `"daily":0,"total":500`), "budget.daily"},
		{bad(`"daily":50,"total":500`, `"daily":600,"total":500`), "budget.daily"},
		{bad(`"strategy":"cpc"`, `"strategy":"cpa"`), "bid.strategy"},
		{bad(`"cpc":0.8,`, ``), "bid.cpc"},
		{bad(`"max_cpm":6`, `"max_cpm":0`), "bid.max_cpm"},
		{bad(`"max_cpm":6`, `"max_cmp":6`), "max_cmp"},
		{bad(`"per":"7d"`, `"per":"forever"`), "frequency_cap.per"},
		{bad(`"impressions":3`, `"impressions":0`), "frequency_cap.impressions"},
		{bad(`"countries":["US","DEU"]`, `"countries":["US","XX"]`), "targeting.countries[1]"},
		{bad(`"regions":["us-ca"]`, `"regions":["California"]`), "targeting.regions[0]"},
		{bad(`"device_types":["mobile",2]`, `"device_types":["watch"]`), "targeting.device_types[0]"},
		{bad(`"device_types":["mobile",2]`, `"device_types":[9]`), "targeting.device_types[0]"},
		{bad(`"deny":["bad.example"]`, `"deny":[""]`), "targeting.sites.deny[0]"},
		{bad(`"interests":[["Sports","Running"]]`, `"interests":[[]]`), "targeting.interests[0]"},
		{bad(`"keywords":["running shoes"]`, `"keywords":["!!"]`), "targeting.keywords[0]"},
		{bad(`"hours":[0,1,167]`, `"hours":[168]`), "targeting.hours[0]"},
		{bad(`"budget":`, `"status":"on","budget":`), "status"},
		{bad(`"budget":`, `"pacing":"fast","budget":`), "pacing"},
		{bad(`"creatives":[`, `"creatives":[],"x":[`), "x"},
		{bad(`"format":"banner"`, `"format":"popup"`), "creatives[0].format"},
		{bad(`"w":300,`, ``), "creatives[0].w"},
		{bad(`"adm":"<b>{{ITEM_TITLE}}</b>",`, ``), "creatives[0].adm"},
		{bad(`"format":"banner","w":300,"h":250`, `"format":"video"`), "creatives[0].duration"},
		{bad(`"budget":`, `"timezone":"Mars/Olympus","budget":`), "timezone"},
		{bad(`"budget":`, `"start":"2026-05-01T00:00:00Z","end":"2026-04-01T00:00:00Z","budget":`), "end"},
	}
	for _, tt := range tests {
		good := strings.Replace(validCampaign, `"c1"`, `"good"`, 1)
		code, out := ts.post("/v1/campaigns", "["+good+","+tt.campaign+"]")
		var e struct {
			Error struct {
				Code, Field string
				Index       int
			}
		}
		if err := json.Unmarshal([]byte(out), &e); err != nil || code != 400 {
			t.Fatalf("campaign with %s wrong = %d %s, want 400", tt.field, code, out)
		}
		if e.Error.Field != tt.field || e.Error.Index != 1 || e.Error.Code != "invalid_campaign" {
			t.Errorf("campaign with %s wrong: error %s, want field %q at index 1", tt.field, out, tt.field)
		}
	}
	// All or nothing: the valid campaign of each batch was not stored.
	if code, _ := ts.do("GET", "/v1/campaigns/good", "", ""); code != 404 {
		t.Errorf("a rejected batch stored its valid campaign")
	}
	code, out := ts.post("/v1/campaigns", "["+validCampaign+","+validCampaign+"]")
	if code != 400 || !strings.Contains(out, `"index":1`) {
		t.Errorf("a batch repeating an id = %d %s, want 400 at index 1", code, out)
	}
	code, out = ts.post("/v1/campaigns", `{"id":"x"`)
	if code != 400 || !strings.Contains(out, "invalid_json") {
		t.Errorf("broken JSON = %d %s", code, out)
	}
	// A sponsored-product campaign needs no creatives.
	sp := `{"id":"sp","advertiser":"A","adomain":["a.example"],"budget":{"daily":5,"currency":"EUR"},
	 "bid":{"strategy":"cpm","max_cpm":1},"items":["x","y"]}`
	if code, out := ts.post("/v1/campaigns", sp); code != 200 {
		t.Errorf("sponsored-product campaign = %d %s", code, out)
	}
}
